// Model files: the full face model the fitter uses, and the individual eos formats.
#include "arrays.hpp"
#include "faceflt/model/face_model.hpp"
#include "faceflt/model/morphable_model.hpp"

#include <pybind11/stl.h>

namespace faceflt::bindings {

namespace {

py::array_t<float> vertices_array(const Eigen::VectorXf& flat) {
    auto out = new_array<float>({flat.size() / 3, 3});
    std::copy(flat.data(), flat.data() + flat.size(), out.mutable_data());
    return out;
}

py::array_t<int> triangles_array(const core::Triangles& t) {
    auto out = new_array<int>({static_cast<py::ssize_t>(t.size()), 3});
    if (!t.empty()) std::copy(t.front().data(), t.front().data() + 3 * t.size(), out.mutable_data());
    return out;
}

// Column-major (3N, K) -> (K, N, 3): one mesh-shaped offset per component.
py::array_t<float> components_array(const Eigen::MatrixXf& basis) {
    const auto n = basis.rows() / 3, k = basis.cols();
    auto out = new_array<float>({k, n, 3});
    std::copy(basis.data(), basis.data() + basis.size(), out.mutable_data());
    return out;
}

template <typename Matrix>
py::array_t<float> matrix_array(const Matrix& m) {
    auto out = new_array<float>({m.rows(), m.cols()});
    Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(out.mutable_data(), m.rows(), m.cols()) = m;
    return out;
}

py::array_t<int> int_array(const std::vector<int>& v) {
    auto out = new_array<int>({static_cast<py::ssize_t>(v.size())});
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

const char* kind_name(model::ExpressionKind k) {
    switch (k) {
        case model::ExpressionKind::Blendshapes: return "blendshapes";
        case model::ExpressionKind::Pca: return "pca";
        default: return "none";
    }
}

}  // namespace

void bind_model(py::module_& m) {
    py::class_<model::FaceModel>(m, "FaceModel", "A loaded face model: shape, expressions, landmark mapping, contours, edges.")
        .def("__repr__", [](const model::FaceModel& f) {
            return "<faceflt FaceModel: " + std::to_string(f.num_vertices()) + " vertices, " + std::to_string(f.triangles.size()) +
                   " triangles, " + std::to_string(f.shape.num_components()) + " shape coefficients, " +
                   std::to_string(f.expression.num_coefficients()) + " expression coefficients (" + kind_name(f.expression.kind) +
                   "), " + std::to_string(f.mapping.num_landmarks) + " landmarks>";
        })
        .def_property_readonly("num_vertices", &model::FaceModel::num_vertices)
        .def_property_readonly("num_shape_coefficients", [](const model::FaceModel& f) { return f.shape.num_components(); })
        .def_property_readonly("num_expression_coefficients", [](const model::FaceModel& f) { return f.expression.num_coefficients(); })
        .def_property_readonly("num_landmarks", [](const model::FaceModel& f) { return f.mapping.num_landmarks; })
        .def_property_readonly("expression_names", [](const model::FaceModel& f) { return f.expression.names; })
        .def_property_readonly("expression_kind", [](const model::FaceModel& f) { return kind_name(f.expression.kind); })
        .def_property_readonly("mean", [](const model::FaceModel& f) { return vertices_array(f.shape.mean); })
        .def_property_readonly("shape_components", [](const model::FaceModel& f) { return components_array(f.shape.rescaled_basis); })
        .def_property_readonly("expression_components", [](const model::FaceModel& f) { return components_array(f.expression.basis); })
        .def_property_readonly("triangles", [](const model::FaceModel& f) { return triangles_array(f.triangles); })
        .def_property_readonly("texcoords", [](const model::FaceModel& f) { return matrix_array(f.texcoords); })
        .def_property_readonly("landmark_vertices", [](const model::FaceModel& f) { return int_array(f.landmark_vertices); })
        .def_property_readonly("right_contour", [](const model::FaceModel& f) { return int_array(f.contour.right); })
        .def_property_readonly("left_contour", [](const model::FaceModel& f) { return int_array(f.contour.left); });

    m.def(
        "build_meshes",
        [](const model::FaceModel& f, const FloatArray& shape, const FloatArray& expression) {
            const auto b = shape.ndim() == 2 ? shape.shape(0) : -1;
            check_shape(shape, {b, f.shape.num_components()}, "build_meshes", "shape_coeffs");
            check_shape(expression, {b, f.expression.num_coefficients()}, "build_meshes", "expression_coeffs");
            const auto n = static_cast<py::ssize_t>(f.num_vertices());
            auto out = new_array<float>({b, n, 3});
            {
                py::gil_scoped_release release;
                for (py::ssize_t i = 0; i < b; ++i) {
                    const Eigen::Map<const Eigen::VectorXf> s(shape.data(i), f.shape.num_components());
                    const Eigen::Map<const Eigen::VectorXf> e(expression.data(i), f.expression.num_coefficients());
                    Eigen::Map<Eigen::VectorXf>(out.mutable_data(i), 3 * n) = model::build_shape(f, s, e);
                }
            }
            return out;
        },
        py::arg("model"), py::arg("shape_coeffs"), py::arg("expression_coeffs"),
        "Meshes float32 (B, N, 3), model units, for (B, m) shape and (B, K) expression coefficients.");

    m.def(
        "load_face_model",
        [](const std::string& shape_model, const std::string& expression, const std::string& landmark_mapping,
           const std::string& model_contour, const std::string& edge_topology, const IntArray& mapping_vertex,
           const IntArray& right_contour_landmarks, const IntArray& left_contour_landmarks, const IntArray& contour_right,
           const IntArray& contour_left, const IntArray& adjacent_faces, const IntArray& adjacent_vertices) {
            const char* fn = "load_face_model";
            check_shape(mapping_vertex, {-1}, fn, "mapping_vertex");
            check_shape(adjacent_faces, {-1, 2}, fn, "adjacent_faces");
            check_shape(adjacent_vertices, {adjacent_faces.shape(0), 2}, fn, "adjacent_vertices");
            auto ints = [&](const IntArray& a, const char* name) {
                check_shape(a, {-1}, fn, name);
                return std::vector<int>(a.data(), a.data() + a.shape(0));
            };
            auto pairs = [](const IntArray& a) {
                std::vector<std::array<int, 2>> out(static_cast<std::size_t>(a.shape(0)));
                for (py::ssize_t i = 0; i < a.shape(0); ++i) out[static_cast<std::size_t>(i)] = {a.at(i, 0), a.at(i, 1)};
                return out;
            };
            model::LandmarkMapping mapping;
            mapping.num_landmarks = static_cast<int>(mapping_vertex.shape(0));
            mapping.vertex = ints(mapping_vertex, "mapping_vertex");
            mapping.right_contour_landmarks = ints(right_contour_landmarks, "right_contour_landmarks");
            mapping.left_contour_landmarks = ints(left_contour_landmarks, "left_contour_landmarks");
            model::ModelContour contour{ints(contour_right, "contour_right"), ints(contour_left, "contour_left")};
            model::EdgeTopology topology{pairs(adjacent_faces), pairs(adjacent_vertices)};
            py::gil_scoped_release release;
            return model::load_face_model({shape_model, expression, landmark_mapping, model_contour, edge_topology}, std::move(mapping),
                                          std::move(contour), std::move(topology));
        },
        py::arg("shape_model"), py::arg("expression"), py::arg("landmark_mapping"), py::arg("model_contour"), py::arg("edge_topology"),
        py::arg("mapping_vertex"), py::arg("right_contour_landmarks"), py::arg("left_contour_landmarks"), py::arg("contour_right"),
        py::arg("contour_left"), py::arg("adjacent_faces"), py::arg("adjacent_vertices"),
        "The face model from its two binary files and the text files' contents (parsed by faceflt.model_files); the "
        "file names name them in errors.");

    py::class_<model::MorphableModel>(m, "MorphableModel", "The contents of an eos MorphableModel file.")
        .def("__repr__", [](const model::MorphableModel& mm) {
            return "<faceflt MorphableModel version " + std::to_string(mm.version) + ": " + std::to_string(mm.shape.num_vertices()) +
                   " vertices, " + std::to_string(mm.shape.num_components()) + " shape components>";
        })
        .def_readonly("version", &model::MorphableModel::version)
        .def_property_readonly("shape_mean", [](const model::MorphableModel& mm) { return vertices_array(mm.shape.mean); })
        .def_property_readonly("shape_basis", [](const model::MorphableModel& mm) { return matrix_array(mm.shape.orthonormal_basis); })
        .def_property_readonly("shape_eigenvalues", [](const model::MorphableModel& mm) { return py::array_t<float>(mm.shape.eigenvalues.size(), mm.shape.eigenvalues.data()); })
        .def_property_readonly("triangles", [](const model::MorphableModel& mm) { return triangles_array(mm.shape.triangles); })
        .def_property_readonly("has_color_model", [](const model::MorphableModel& mm) { return !mm.color.empty(); })
        .def_property_readonly("color_mean", [](const model::MorphableModel& mm) { return vertices_array(mm.color.mean); })
        .def_property_readonly("texcoords", [](const model::MorphableModel& mm) { return matrix_array(mm.texcoords); })
        .def_property_readonly("texture_triangles", [](const model::MorphableModel& mm) { return triangles_array(mm.texture_triangles); })
        .def_property_readonly("landmark_definitions", [](const model::MorphableModel& mm) { return mm.landmark_definitions; })
        .def_property_readonly("expression_kind", [](const model::MorphableModel& mm) { return kind_name(mm.expression.kind); })
        .def_property_readonly("expression_names", [](const model::MorphableModel& mm) { return mm.expression.names; })
        .def_property_readonly("expression_components", [](const model::MorphableModel& mm) { return components_array(mm.expression.basis); });

    m.def("load_morphable_model", &model::load_morphable_model, py::arg("path"), py::call_guard<py::gil_scoped_release>(),
          "An eos MorphableModel file (cereal binary, versions 1-4).");
    m.def(
        "load_blendshapes",
        [](const std::string& path) {
            auto e = model::load_blendshapes(path);
            return py::make_tuple(e.names, components_array(e.basis));
        },
        py::arg("path"), "(names, float32 (K, N, 3) per-vertex deformations, mm) of a blendshapes file.");
}

}  // namespace faceflt::bindings
