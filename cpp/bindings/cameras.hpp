// Poses and expressions of B frames, as faceflt.fitting.Cameras holds them, crossing the boundary as one bound
// object: checked and converted once when built, then read by fuse, lift_landmarks, project_offsets,
// Renderer.render_batch and texture_coordinates.
#pragma once

#include "arrays.hpp"
#include "faceflt/fitting/fit.hpp"
#include "faceflt/model/face_model.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace faceflt::bindings {

struct CameraBatch {
    std::vector<fitting::FrameFit> frames;  // expression_coeffs, camera (image_height from its image size) and ok of each frame
    py::ssize_t num_expression = 0;

    // expression_coeffs (B, K), rotation (B, 3, 3), scale (B,), translation (B, 2), image_sizes (B, 2) (width,
    // height). A frame with a non-finite or degenerate camera or expression is not ok.
    CameraBatch(const FloatArray& expression_coeffs, const FloatArray& rotation, const FloatArray& scale,
                const FloatArray& translation, const IntArray& image_sizes) {
        const char* fn = "CameraBatch";
        const auto b = expression_coeffs.ndim() == 2 ? expression_coeffs.shape(0) : -1;
        check_shape(expression_coeffs, {b, -1}, fn, "expression_coeffs");
        check_shape(rotation, {b, 3, 3}, fn, "rotation");
        check_shape(scale, {b}, fn, "scale");
        check_shape(translation, {b, 2}, fn, "translation");
        check_shape(image_sizes, {b, 2}, fn, "image_sizes", "; one (width, height) per frame");
        num_expression = expression_coeffs.shape(1);
        frames.resize(static_cast<std::size_t>(b));
        for (py::ssize_t i = 0; i < b; ++i) {
            auto& f = frames[static_cast<std::size_t>(i)];
            f.expression_coeffs = Eigen::Map<const Eigen::VectorXf>(expression_coeffs.data(i), num_expression);
            f.camera = camera_at(rotation, scale, i, &translation, static_cast<float>(image_sizes.at(i, 1)));
            f.ok = f.expression_coeffs.allFinite() && f.camera.rotation.allFinite() && std::isfinite(f.camera.scale) &&
                   f.camera.scale > 0.0f && std::isfinite(f.camera.tx) && std::isfinite(f.camera.ty);
        }
    }

    py::ssize_t size() const { return static_cast<py::ssize_t>(frames.size()); }

    // The frames, after checking that their expressions are this model's.
    const std::vector<fitting::FrameFit>& for_model(const model::FaceModel& model, const char* function) const {
        if (num_expression != model.expression.num_coefficients()) {
            throw py::value_error(std::string(function) + "(): the cameras' expression_coeffs have " + std::to_string(num_expression) +
                                  " coefficients, the model's expressions " + std::to_string(model.expression.num_coefficients()));
        }
        return frames;
    }
};

}  // namespace faceflt::bindings
