// Fitting and fusion over batches of frames. Arguments are converted first; the work runs with the
// GIL released and touches no Python object; results come back as a dict of numpy arrays that
// faceflt.fitting wraps in typed dataclasses.
#include "arrays.hpp"
#include "cameras.hpp"
#include "faceflt/fitting/fit.hpp"
#include "faceflt/fusion/fusion.hpp"
#include "faceflt/fusion/lift.hpp"

#include <pybind11/stl.h>

namespace faceflt::bindings {

namespace {

using fitting::FitOptions;
using fitting::FrameFit;

std::vector<std::array<int, 2>> sizes_from(const IntArray& a, py::ssize_t batch, const char* function) {
    check_shape(a, {batch, 2}, function, "image_sizes", "; one (width, height) per frame");
    std::vector<std::array<int, 2>> out(static_cast<std::size_t>(batch));
    for (py::ssize_t b = 0; b < batch; ++b) out[static_cast<std::size_t>(b)] = {a.at(b, 0), a.at(b, 1)};
    return out;
}

Eigen::VectorXf optional_vector(const std::optional<FloatArray>& a, const char* function, const char* argument) {
    if (!a) return {};
    check_shape(*a, {-1}, function, argument);
    return Eigen::Map<const Eigen::VectorXf>(a->data(), a->shape(0));
}

// Fits of B frames as arrays (faceflt.fitting.FitResult wraps them).
struct FitArrays {
    py::array_t<bool> ok;
    std::vector<std::string> errors;
    py::array_t<float> shape_coeffs, expression_coeffs, rotation, scale, translation, yaw_pitch_roll, projected;
    py::array_t<int> num_landmarks_used, image_size;
};

// The FLT landmarks of B frames (faceflt.fitting.FusedResult wraps them); meshes is None unless asked for.
struct FusedArrays {
    py::array_t<float> landmarks;
    py::array_t<int> vertex_ids;
    py::object meshes = py::none();
};

// Lifted landmarks of B frames (faceflt.fitting.LiftedLandmarks wraps them).
struct LiftedArrays {
    py::array_t<float> points, expression;
};

FitArrays frames_to_arrays(const std::vector<FrameFit>& frames, const std::vector<std::array<int, 2>>& sizes, int num_shape,
                           int num_expression, int num_landmarks) {
    const auto b = static_cast<py::ssize_t>(frames.size());
    auto ok = new_array<bool>({b});
    auto shape = new_array<float>({b, num_shape});
    auto expr = new_array<float>({b, num_expression});
    auto rot = new_array<float>({b, 3, 3});
    auto scale = new_array<float>({b});
    auto trans = new_array<float>({b, 2});
    auto ypr = new_array<float>({b, 3});
    auto proj = new_array<float>({b, num_landmarks, 2});
    auto used = new_array<int>({b});
    auto size = new_array<int>({b, 2});
    std::vector<std::string> errors;
    for (py::ssize_t i = 0; i < b; ++i) {
        const FrameFit& f = frames[static_cast<std::size_t>(i)];
        ok.mutable_at(i) = f.ok;
        Eigen::Map<Eigen::VectorXf>(shape.mutable_data(i), num_shape) = f.shape_coeffs;
        Eigen::Map<Eigen::VectorXf>(expr.mutable_data(i), num_expression) = f.expression_coeffs;
        Eigen::Map<Eigen::Matrix<float, 3, 3, Eigen::RowMajor>>(rot.mutable_data(i)) = f.camera.rotation;
        scale.mutable_at(i) = f.camera.scale;
        trans.mutable_at(i, 0) = f.camera.tx;
        trans.mutable_at(i, 1) = f.camera.ty;
        Eigen::Map<Eigen::Vector3f>(ypr.mutable_data(i)) = f.yaw_pitch_roll;
        Eigen::Map<core::Points2>(proj.mutable_data(i), num_landmarks, 2) = f.projected;
        used.mutable_at(i) = f.num_landmarks_used;
        size.mutable_at(i, 0) = sizes[static_cast<std::size_t>(i)][0];
        size.mutable_at(i, 1) = sizes[static_cast<std::size_t>(i)][1];
        errors.push_back(f.error);
    }
    return FitArrays{ok, errors, shape, expr, rot, scale, trans, ypr, proj, used, size};
}

std::vector<core::Points2> landmarks_from(const model::FaceModel& model, const FloatArray& a, const char* function) {
    check_shape(a, {-1, model.mapping.num_landmarks, 2}, function, "landmarks",
                a.ndim() == 2 ? "; add a batch axis: landmarks[None]" : "");
    return points_batch(a);
}

}  // namespace

void bind_fitting(py::module_& m) {
    py::class_<FitArrays>(m, "FitArrays", "Fits of B frames as arrays (faceflt.fitting.FitResult wraps them).")
        .def_readonly("ok", &FitArrays::ok)
        .def_readonly("errors", &FitArrays::errors)
        .def_readonly("shape_coeffs", &FitArrays::shape_coeffs)
        .def_readonly("expression_coeffs", &FitArrays::expression_coeffs)
        .def_readonly("rotation", &FitArrays::rotation)
        .def_readonly("scale", &FitArrays::scale)
        .def_readonly("translation", &FitArrays::translation)
        .def_readonly("yaw_pitch_roll", &FitArrays::yaw_pitch_roll)
        .def_readonly("projected", &FitArrays::projected)
        .def_readonly("num_landmarks_used", &FitArrays::num_landmarks_used)
        .def_readonly("image_size", &FitArrays::image_size)
        .def("__repr__", [](const FitArrays& a) { return "<faceflt core FitArrays: " + std::to_string(a.ok.size()) + " frames>"; });
    py::class_<FusedArrays>(m, "FusedArrays", "FLT landmarks of B frames (faceflt.fitting.FusedResult wraps them).")
        .def_readonly("landmarks", &FusedArrays::landmarks)
        .def_readonly("vertex_ids", &FusedArrays::vertex_ids)
        .def_readonly("meshes", &FusedArrays::meshes)
        .def("__repr__", [](const FusedArrays& a) {
            return "<faceflt core FusedArrays: " + std::to_string(a.vertex_ids.shape(0)) + " frames>";
        });
    py::class_<LiftedArrays>(m, "LiftedArrays", "Lifted landmarks of B frames (faceflt.fitting.LiftedLandmarks wraps them).")
        .def_readonly("points", &LiftedArrays::points)
        .def_readonly("expression", &LiftedArrays::expression)
        .def("__repr__", [](const LiftedArrays& a) {
            return "<faceflt core LiftedArrays: " + std::to_string(a.points.shape(0)) + " frames>";
        });

    py::class_<CameraBatch>(m, "CameraBatch",
                            "Poses and expressions of B frames (faceflt.fitting.Cameras makes one): checked and converted "
                            "once, then read by fuse, lift_landmarks, project_offsets, Renderer.render_batch and "
                            "texture_coordinates.")
        .def(py::init<const FloatArray&, const FloatArray&, const FloatArray&, const FloatArray&, const IntArray&>(),
             py::arg("expression_coeffs"), py::arg("rotation"), py::arg("scale"), py::arg("translation"), py::arg("image_sizes"),
             "expression_coeffs (B, K), rotation (B, 3, 3), scale (B,), translation (B, 2), image_sizes (B, 2) (width, "
             "height); a frame with a non-finite or degenerate camera is not ok.")
        .def("__len__", &CameraBatch::size)
        .def_property_readonly("ok", [](const CameraBatch& c) {
            auto ok = new_array<bool>({c.size()});
            for (py::ssize_t i = 0; i < c.size(); ++i) ok.mutable_at(i) = c.frames[static_cast<std::size_t>(i)].ok;
            return ok;
        }, "bool (B,): frames with a usable camera.")
        .def("__repr__", [](const CameraBatch& c) {
            py::ssize_t ok = 0;
            for (const auto& f : c.frames) ok += f.ok ? 1 : 0;
            return "<faceflt core CameraBatch: " + std::to_string(c.size()) + " frames, " + std::to_string(ok) + " with a camera, " +
                   std::to_string(c.num_expression) + " expression coefficients>";
        });
    py::class_<FitOptions>(m, "FitOptions", "How to fit (faceflt.fitting.FitOptions makes one of these).")
        .def(py::init<>())
        .def("__repr__", [](const FitOptions& o) {
            return "<faceflt core FitOptions: " + std::to_string(o.num_iterations) + " iterations, lambda_identity " +
                   std::to_string(o.lambda_identity) + (o.fit_shape ? ", shape fitted>" : ", shape held>");
        })
        .def_readwrite("num_iterations", &FitOptions::num_iterations)
        .def_readwrite("lambda_identity", &FitOptions::lambda_identity)
        .def_readwrite("lambda_expression", &FitOptions::lambda_expression)
        .def_readwrite("num_shape_coefficients", &FitOptions::num_shape_coefficients)
        .def_readwrite("fit_shape", &FitOptions::fit_shape)
        .def_readwrite("fit_expression", &FitOptions::fit_expression)
        .def_readwrite("use_contour", &FitOptions::use_contour)
        .def_readwrite("use_occluding_edge", &FitOptions::use_occluding_edge)
        .def_readwrite("contour_yaw_threshold", &FitOptions::contour_yaw_threshold)
        .def_readwrite("edge_distance_threshold", &FitOptions::edge_distance_threshold)
        .def_readwrite("min_landmarks", &FitOptions::min_landmarks);

    m.def(
        "fit_batch",
        [](const model::FaceModel& model, const FloatArray& landmarks, const IntArray& image_sizes, const FitOptions& options,
           const std::optional<FloatArray>& shape_start, const std::optional<FloatArray>& expression_start, bool sequential,
           int num_threads) {
            const auto lms = landmarks_from(model, landmarks, "fit_batch");
            const auto sizes = sizes_from(image_sizes, landmarks.shape(0), "fit_batch");
            const fitting::FitStart start{optional_vector(shape_start, "fit_batch", "shape_start"),
                                          optional_vector(expression_start, "fit_batch", "expression_start")};
            std::vector<FrameFit> frames;
            {
                py::gil_scoped_release release;
                frames = fitting::fit_batch(model, lms, sizes, options, start, sequential, num_threads);
            }
            return frames_to_arrays(frames, sizes, model.shape.num_components(), model.expression.num_coefficients(),
                                  model.mapping.num_landmarks);
        },
        py::arg("model"), py::arg("landmarks"), py::arg("image_sizes"), py::arg("options"), py::arg("shape_start") = py::none(),
        py::arg("expression_start") = py::none(), py::arg("sequential") = false, py::arg("num_threads") = 0,
        "Fits camera, expression and (unless options.fit_shape is off) shape to (B, K, 2) landmarks, pixels; a dict of "
        "FitArrays, which faceflt.fitting.FitResult wraps. With sequential, each frame starts from the previous good one.");

    m.def(
        "project_offsets",
        [](const FloatArray& offsets, const CameraBatch& cameras) {
            check_shape(offsets, {-1, 3}, "project_offsets", "offsets");
            const core::Vertices o = Eigen::Map<const core::Vertices>(offsets.data(), offsets.shape(0), 3);
            const auto b = cameras.size();
            auto out = new_array<float>({b, offsets.shape(0), 2});
            for (py::ssize_t i = 0; i < b; ++i) {
                const auto& f = cameras.frames[static_cast<std::size_t>(i)];
                auto row = Eigen::Map<core::Points2>(out.mutable_data(i), offsets.shape(0), 2);
                if (f.ok) row = fusion::project_offsets(o, f.camera);
                else row.setConstant(std::numeric_limits<float>::quiet_NaN());
            }
            return out;
        },
        py::arg("offsets"), py::arg("cameras"),
        "The (B, K, 2) pixel displacements of (K, 3) offsets under B cameras (a CameraBatch); NaN rows for frames "
        "without a camera.");

    m.def(
        "rotations_from_yaw_pitch_roll",
        [](const FloatArray& ypr) {
            const auto b = ypr.ndim() == 2 ? ypr.shape(0) : -1;
            check_shape(ypr, {b, 3}, "rotations_from_yaw_pitch_roll", "yaw_pitch_roll");
            auto out = new_array<float>({b, 3, 3});
            for (py::ssize_t i = 0; i < b; ++i) {
                Eigen::Map<Eigen::Matrix<float, 3, 3, Eigen::RowMajor>>(out.mutable_data(i)) =
                    fitting::rotation_from_yaw_pitch_roll(Eigen::Map<const Eigen::Vector3f>(ypr.data(i)));
            }
            return out;
        },
        py::arg("yaw_pitch_roll"), "Rotations (B, 3, 3) from (B, 3) yaw, pitch, roll in degrees (eos's convention).");

    m.def(
        "fit_identity",
        [](const model::FaceModel& model, const FloatArray& landmarks, const IntArray& image_sizes, const FitOptions& options) {
            const auto lms = landmarks_from(model, landmarks, "fit_identity");
            const auto sizes = sizes_from(image_sizes, landmarks.shape(0), "fit_identity");
            fitting::JointFit joint;
            {
                py::gil_scoped_release release;
                joint = fitting::fit_identity(model, lms, sizes, options);
            }
            return frames_to_arrays(joint.frames, sizes, model.shape.num_components(), model.expression.num_coefficients(),
                                  model.mapping.num_landmarks);
        },
        py::arg("model"), py::arg("landmarks"), py::arg("image_sizes"), py::arg("options"),
        "One identity fitted jointly over (N, K, 2) landmarks of N pictures of a person; per-picture camera and expression.");

    m.def(
        "lift_landmarks",
        [](const model::FaceModel& model, const FloatArray& shape, const CameraBatch& cameras, const FloatArray& landmarks) {
            const char* fn = "lift_landmarks";
            check_shape(shape, {model.shape.num_components()}, fn, "shape");
            const auto& frames = cameras.for_model(model, fn);
            const auto b = static_cast<py::ssize_t>(frames.size());
            check_shape(landmarks, {b, model.mapping.num_landmarks, 2}, fn, "landmarks");
            const Eigen::VectorXf s = Eigen::Map<const Eigen::VectorXf>(shape.data(), shape.shape(0));
            const auto points = points_batch(landmarks);
            std::vector<fusion::LiftedFrame> lifted;
            {
                py::gil_scoped_release release;
                lifted = fusion::lift_landmarks(model, s, frames, points);
            }
            const auto k = static_cast<py::ssize_t>(model.mapping.num_landmarks);
            auto out = new_array<float>({b, k, 3});
            auto expression = new_array<float>({b, k, 3});
            for (py::ssize_t i = 0; i < b; ++i) {
                Eigen::Map<core::Vertices>(out.mutable_data(i), k, 3) = lifted[static_cast<std::size_t>(i)].points;
                Eigen::Map<core::Vertices>(expression.mutable_data(i), k, 3) = lifted[static_cast<std::size_t>(i)].expression;
            }
            return LiftedArrays{out, expression};
        },
        py::arg("model"), py::arg("shape"), py::arg("cameras"), py::arg("landmarks"),
        "LiftedArrays (points, expression), each (B, K, 3) model units: each frame's (B, K, 2) landmarks lifted through its camera "
        "at the fitted face's depth (NaN where missing), and the fitted expression's displacement of each landmark's "
        "vertex; faceflt.fitting.lift wraps them in a LiftedLandmarks.");

    m.def(
        "fuse",
        [](const model::FaceModel& model, const FloatArray& reference_shape, const CameraBatch& cameras,
           const std::optional<FloatArray>& guides, bool keep_mesh, const std::optional<IntArray>& vertex_ids) {
            const char* fn = "fuse";
            check_shape(reference_shape, {model.shape.num_components()}, fn, "reference_shape");
            const auto& frames = cameras.for_model(model, fn);
            const auto b = static_cast<py::ssize_t>(frames.size());
            std::vector<core::Points2> guide_points;
            if (guides) {
                check_shape(*guides, {b, model.mapping.num_landmarks, 2}, fn, "guides");
                guide_points = points_batch(*guides);
            }
            std::vector<std::vector<int>> ids;
            if (vertex_ids) {
                check_shape(*vertex_ids, {b, model.mapping.num_landmarks}, fn, "vertex_ids");
                for (py::ssize_t i = 0; i < b; ++i) ids.emplace_back(vertex_ids->data(i), vertex_ids->data(i) + model.mapping.num_landmarks);
            }
            const Eigen::VectorXf ref = Eigen::Map<const Eigen::VectorXf>(reference_shape.data(), reference_shape.shape(0));
            std::vector<fusion::FusedFrame> fused;
            {
                py::gil_scoped_release release;
                fused = fusion::fuse(model, ref, frames, guide_points, keep_mesh, ids);
            }
            const auto k = static_cast<py::ssize_t>(model.mapping.num_landmarks);
            auto lms = new_array<float>({b, k, 2});
            for (py::ssize_t i = 0; i < b; ++i) Eigen::Map<core::Points2>(lms.mutable_data(i), k, 2) = fused[static_cast<std::size_t>(i)].landmarks;
            auto chosen = new_array<int>({b, k});
            for (py::ssize_t i = 0; i < b; ++i) std::copy(fused[static_cast<std::size_t>(i)].vertex_ids.begin(), fused[static_cast<std::size_t>(i)].vertex_ids.end(), chosen.mutable_data(i));
            FusedArrays d{lms, chosen};
            if (keep_mesh) {
                const auto n = static_cast<py::ssize_t>(model.num_vertices());
                auto meshes = new_array<float>({b, n, 3});
                std::fill(meshes.mutable_data(), meshes.mutable_data() + meshes.size(), std::numeric_limits<float>::quiet_NaN());
                for (py::ssize_t i = 0; i < b; ++i) {
                    const auto& mesh = fused[static_cast<std::size_t>(i)].mesh;
                    if (mesh.rows() == n) Eigen::Map<core::Vertices>(meshes.mutable_data(i), n, 3) = mesh;
                }
                d.meshes = meshes;
            }
            return d;
        },
        py::arg("model"), py::arg("reference_shape"), py::arg("cameras"), py::arg("guides") = py::none(),
        py::arg("keep_mesh") = false, py::arg("vertex_ids") = py::none(),
        "The reference shape with each frame's expression and camera: landmarks (B, K, 2) pixels, the vertex of each "
        "(B, K), and with keep_mesh the meshes (B, N, 3); the jaw follows the silhouette nearest to the guides.");
}

}  // namespace faceflt::bindings
