#include "faceflt/model/face_model.hpp"

#include "faceflt/core/errors.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace faceflt::model {

namespace {

void check_vertex(const std::string& file, const std::string& what, int v, int n) {
    if (v < 0 || v >= n) {
        throw core::ModelFormatError(file + ": " + what + " refers to vertex " + std::to_string(v) + ", but the shape model has " +
                                     std::to_string(n) + " vertices (0.." + std::to_string(n - 1) + "); do the files belong to the same model?");
    }
}

// Every number of a model array finite and of a plausible size (a face is about 200 model units across; a
// component or a blendshape that moves a vertex by more than `limit` is a damaged file, not a face).
template <typename Derived>
void check_values(const std::string& file, const char* what, const Eigen::DenseBase<Derived>& a, float low, float high) {
    for (Eigen::Index i = 0; i < a.size(); ++i) {
        const float v = a.derived().data()[i];
        if (!(v >= low && v <= high)) {
            throw core::ModelFormatError(file + ": " + what + " holds " + std::to_string(v) + " (value " + std::to_string(i) +
                                         "), outside " + std::to_string(low) + ".." + std::to_string(high) + "; is the file damaged?");
        }
    }
}

// The vertex nearest (in the mean shape) to a point, used to place landmarks the mapping leaves out.
int nearest_vertex(const PcaModel& shape, const Eigen::Vector3f& p) {
    const auto pts = Eigen::Map<const Eigen::Matrix<float, 3, Eigen::Dynamic>>(shape.mean.data(), 3, shape.num_vertices());
    Eigen::Index best = 0;
    (pts.colwise() - p).colwise().squaredNorm().minCoeff(&best);
    return static_cast<int>(best);
}

}  // namespace

FaceModel load_face_model(const FaceModelFiles& files, LandmarkMapping mapping, ModelContour contour, EdgeTopology topology) {
    MorphableModel mm = load_morphable_model(files.shape_model);
    FaceModel f;
    f.shape = std::move(mm.shape);
    f.triangles = f.shape.triangles;
    f.texcoords = std::move(mm.texcoords);
    f.expression = files.expression.empty() ? std::move(mm.expression) : load_blendshapes(files.expression);
    const int n = f.num_vertices();
    const std::string& expr_file = files.expression.empty() ? files.shape_model : files.expression;
    constexpr float big = 1e4f;
    check_values(files.shape_model, "the shape mean", f.shape.mean, -big, big);
    check_values(files.shape_model, "the shape basis", f.shape.rescaled_basis, -big, big);
    check_values(files.shape_model, "the shape eigenvalues", f.shape.eigenvalues, 0.0f, big * big);
    check_values(files.shape_model, "the texture coordinates", f.texcoords, -1.0f, 2.0f);
    check_values(expr_file, "the expression mean", f.expression.mean, -big, big);
    check_values(expr_file, "the expression components", f.expression.basis, -big, big);
    if (f.expression.kind == ExpressionKind::None) {
        throw core::ModelFormatError(files.shape_model + ": the model holds no expression model and no blendshapes file was given");
    }
    if (f.expression.mean.size() != f.shape.mean.size()) {
        throw core::ModelFormatError(expr_file + ": expression components have " + std::to_string(f.expression.mean.size() / 3) +
                                     " vertices, the shape model " + std::to_string(n) + "; do the files belong to the same model?");
    }
    f.mapping = std::move(mapping);
    if (static_cast<int>(f.mapping.vertex.size()) != f.mapping.num_landmarks) {
        throw core::ModelFormatError(files.landmark_mapping + ": " + std::to_string(f.mapping.vertex.size()) + " landmarks, expected " +
                                     std::to_string(f.mapping.num_landmarks));
    }
    for (const auto* side : {&f.mapping.right_contour_landmarks, &f.mapping.left_contour_landmarks}) {
        for (int lm : *side) {
            if (lm < 0 || lm >= f.mapping.num_landmarks) throw core::ModelFormatError(files.landmark_mapping + ": contour landmark out of range");
        }
    }
    for (int lm = 0; lm < f.mapping.num_landmarks; ++lm) {
        if (f.mapping.vertex[lm] >= 0) check_vertex(files.landmark_mapping, "landmark " + std::to_string(lm + 1), f.mapping.vertex[lm], n);
    }
    f.contour = std::move(contour);
    if (f.contour.right.empty() || f.contour.left.empty()) throw core::ModelFormatError(files.model_contour + ": a contour is empty");
    for (int v : f.contour.right) check_vertex(files.model_contour, "right_contour", v, n);
    for (int v : f.contour.left) check_vertex(files.model_contour, "left_contour", v, n);
    f.topology = std::move(topology);
    if (f.topology.adjacent_faces.size() != f.topology.adjacent_vertices.size()) {
        throw core::ModelFormatError(files.edge_topology + ": adjacent_faces and adjacent_vertices differ in length");
    }
    const int num_tris = static_cast<int>(f.triangles.size());
    for (std::size_t e = 0; e < f.topology.adjacent_faces.size(); ++e) {
        for (int k = 0; k < 2; ++k) {
            if (f.topology.adjacent_faces[e][k] < -1 || f.topology.adjacent_faces[e][k] >= num_tris) {
                throw core::ModelFormatError(files.edge_topology + ": edge " + std::to_string(e) + " refers to triangle " +
                                             std::to_string(f.topology.adjacent_faces[e][k] + 1) + " (1-based), the model has " +
                                             std::to_string(num_tris));
            }
            check_vertex(files.edge_topology, "edge " + std::to_string(e), f.topology.adjacent_vertices[e][k], n);
        }
    }

    // Landmark vertices: the mapping's, and for the iBUG inner mouth corners (61, 65), which eos
    // leaves out, the mean-shape vertex nearest to a point a third of the way from the outer corner
    // (49 / 55) towards the middle of the inner-lip points next to it (62+68 / 64+66).
    f.landmark_vertices = f.mapping.vertex;
    std::vector<bool> is_contour(f.mapping.vertex.size(), false);
    for (int lm : f.mapping.right_contour_landmarks) is_contour[lm] = true;
    for (int lm : f.mapping.left_contour_landmarks) is_contour[lm] = true;
    auto mean_vertex = [&](int lm) { return Eigen::Vector3f(f.shape.mean.segment<3>(3 * f.mapping.vertex[lm])); };
    if (f.mapping.num_landmarks == 68) {
        const int inner[2][4] = {{60, 48, 61, 67}, {64, 54, 63, 65}};  // 0-based: target, outer corner, upper, lower
        for (const auto& c : inner) {
            if (f.landmark_vertices[c[0]] >= 0 || f.mapping.vertex[c[1]] < 0 || f.mapping.vertex[c[2]] < 0 || f.mapping.vertex[c[3]] < 0) continue;
            const Eigen::Vector3f outer = mean_vertex(c[1]);
            const Eigen::Vector3f mid = 0.5f * (mean_vertex(c[2]) + mean_vertex(c[3]));
            f.landmark_vertices[c[0]] = nearest_vertex(f.shape, outer + (mid - outer) / 3.0f);
        }
    }
    for (std::size_t lm = 0; lm < is_contour.size(); ++lm) {
        if (is_contour[lm]) f.landmark_vertices[lm] = -1;
    }
    f.shape_rows = core::padded_rows(f.shape.rescaled_basis.data(), f.shape.rescaled_basis.rows(), f.shape.rescaled_basis.cols());
    f.expression_rows = core::padded_rows(f.expression.basis.data(), f.expression.basis.rows(), f.expression.basis.cols());
    f.patches = core::make_patches(Eigen::Map<const core::Vertices>(f.shape.mean.data(), n, 3), f.triangles, f.topology.adjacent_faces);
    return f;
}

Eigen::VectorXf build_shape(const FaceModel& model, const Eigen::VectorXf& shape_coeffs, const Eigen::VectorXf& expression_coeffs) {
    if (shape_coeffs.size() > model.shape.num_components() || expression_coeffs.size() > model.expression.num_coefficients()) {
        throw std::invalid_argument("build_mesh: got " + std::to_string(shape_coeffs.size()) + " shape and " +
                                    std::to_string(expression_coeffs.size()) + " expression coefficients; the model has " +
                                    std::to_string(model.shape.num_components()) + " and " + std::to_string(model.expression.num_coefficients()));
    }
    Eigen::VectorXf x = model.shape.mean + model.expression.mean;
    if (shape_coeffs.size()) x.noalias() += model.shape.rescaled_basis.leftCols(shape_coeffs.size()) * shape_coeffs;
    if (expression_coeffs.size()) x.noalias() += model.expression.basis.leftCols(expression_coeffs.size()) * expression_coeffs;
    return x;
}

core::Vertices build_mesh(const FaceModel& model, const Eigen::VectorXf& shape_coeffs, const Eigen::VectorXf& expression_coeffs) {
    const Eigen::VectorXf x = build_shape(model, shape_coeffs, expression_coeffs);
    return Eigen::Map<const core::Vertices>(x.data(), model.num_vertices(), 3);
}

}  // namespace faceflt::model
