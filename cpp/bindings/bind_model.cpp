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
           const std::string& model_contour, const std::string& edge_topology) {
            py::gil_scoped_release release;
            return model::load_face_model({shape_model, expression, landmark_mapping, model_contour, edge_topology});
        },
        py::arg("shape_model"), py::arg("expression"), py::arg("landmark_mapping"), py::arg("model_contour"), py::arg("edge_topology"));

    py::class_<model::MorphableModel>(m, "MorphableModel", "The contents of an eos MorphableModel file.")
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

    m.def("load_morphable_model", &model::load_morphable_model, py::arg("path"), py::call_guard<py::gil_scoped_release>());
    m.def(
        "load_blendshapes",
        [](const std::string& path) {
            auto e = model::load_blendshapes(path);
            return py::make_tuple(e.names, components_array(e.basis));
        },
        py::arg("path"), "(names, float32 (K, N, 3) per-vertex deformations, mm) of a blendshapes file.");
    m.def(
        "load_landmark_mapping",
        [](const std::string& path) {
            auto lm = model::load_landmark_mapping(path);
            return py::make_tuple(int_array(lm.vertex), int_array(lm.right_contour_landmarks), int_array(lm.left_contour_landmarks));
        },
        py::arg("path"), "(vertex id per landmark or -1, right contour landmark ids, left contour landmark ids), all 0-based.");
    m.def(
        "load_edge_topology",
        [](const std::string& path) {
            auto t = model::load_edge_topology(path);
            auto faces = new_array<int>({static_cast<py::ssize_t>(t.adjacent_faces.size()), 2});
            auto verts = new_array<int>({static_cast<py::ssize_t>(t.adjacent_vertices.size()), 2});
            if (!t.adjacent_faces.empty()) {
                std::copy(t.adjacent_faces.front().data(), t.adjacent_faces.front().data() + 2 * t.adjacent_faces.size(), faces.mutable_data());
                std::copy(t.adjacent_vertices.front().data(), t.adjacent_vertices.front().data() + 2 * t.adjacent_vertices.size(), verts.mutable_data());
            }
            return py::make_tuple(faces, verts);
        },
        py::arg("path"), "(adjacent faces, adjacent vertices), int32 (E, 2), 0-based, -1 for none.");
}

}  // namespace faceflt::bindings
