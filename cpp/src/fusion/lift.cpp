#include "faceflt/fusion/lift.hpp"

#include "faceflt/fitting/projection.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace faceflt::fusion {

std::vector<LiftedFrame> lift_landmarks(const model::FaceModel& model, const Eigen::VectorXf& shape,
                                        const std::vector<fitting::FrameFit>& frames, const std::vector<core::Points2>& landmarks) {
    if (landmarks.size() != frames.size()) {
        throw std::invalid_argument("lift_landmarks: got " + std::to_string(landmarks.size()) + " landmark sets for " +
                                    std::to_string(frames.size()) + " frames");
    }
    if (!shape.allFinite()) throw std::invalid_argument("lift_landmarks: the shape coefficients hold NaN");
    const auto k = static_cast<Eigen::Index>(model.mapping.num_landmarks);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const Eigen::VectorXf no_expression = Eigen::VectorXf::Zero(model.expression.num_coefficients());
    const core::Vertices neutral = model::build_mesh(model, shape, no_expression);
    std::vector<LiftedFrame> out(frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) {
        out[i].points = core::Vertices::Constant(k, 3, nan);
        out[i].expression = core::Vertices::Constant(k, 3, nan);
        const auto& f = frames[i];
        if (!f.ok || landmarks[i].rows() != k) continue;
        const core::Vertices mesh = model::build_mesh(model, shape, f.expression_coeffs);
        std::vector<int> ids;
        fitting::project_landmarks(model, mesh, f.camera, landmarks[i], &ids);
        const fitting::Camera& c = f.camera;
        for (Eigen::Index j = 0; j < k; ++j) {
            const int v = ids[static_cast<std::size_t>(j)];
            const Eigen::Vector2f p = landmarks[i].row(j);
            if (v < 0 || !p.allFinite()) continue;
            const Eigen::Vector3f anchor = mesh.row(v);
            // camera coordinates of the point on the ray at the anchor's depth, rotated back
            const Eigen::Vector3f camera_point(p.x() / c.scale - c.tx, (c.image_height - p.y()) / c.scale - c.ty, c.depth(anchor));
            out[i].points.row(j) = (c.rotation.transpose() * camera_point).transpose();
            out[i].expression.row(j) = anchor.transpose() - neutral.row(v);
        }
    }
    return out;
}

core::Points2 project_offsets(const core::Vertices& offsets, const fitting::Camera& camera) {
    Eigen::Matrix<float, 2, 3> j;
    j.row(0) = camera.scale * camera.rotation.row(0);
    j.row(1) = -camera.scale * camera.rotation.row(1);
    core::Points2 out(offsets.rows(), 2);
    for (Eigen::Index i = 0; i < offsets.rows(); ++i) out.row(i) = (j * offsets.row(i).transpose()).transpose();
    return out;
}

}  // namespace faceflt::fusion
