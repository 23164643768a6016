#include "faceflt/model/morphable_model.hpp"

#include "binary_reader.hpp"

#include <cmath>

namespace faceflt::model {

namespace {

using detail::BinaryReader;

void validate_triangles(BinaryReader& in, const core::Triangles& tris, int num_vertices, const std::string& field) {
    for (std::size_t t = 0; t < tris.size(); ++t) {
        for (int k = 0; k < 3; ++k) {
            if (tris[t][k] < 0 || tris[t][k] >= num_vertices) {
                in.fail(field, "triangle " + std::to_string(t) + " refers to vertex " + std::to_string(tris[t][k]) +
                                   ", expected 0.." + std::to_string(num_vertices - 1));
            }
        }
    }
}

PcaModel read_pca_model(BinaryReader& in, const std::string& field) {
    PcaModel m;
    m.mean = in.vector(field + ".mean");
    m.orthonormal_basis = in.matrix(field + ".orthonormal_pca_basis");
    m.eigenvalues = in.vector(field + ".eigenvalues");
    m.triangles = in.array_list<int, 3>(field + ".triangle_list");
    if (m.mean.size() % 3 != 0) {
        in.fail(field + ".mean", "length " + std::to_string(m.mean.size()) + " is not a multiple of 3 (xyz per vertex)");
    }
    if (m.orthonormal_basis.size() != 0 && m.orthonormal_basis.rows() != m.mean.size()) {
        in.fail(field + ".orthonormal_pca_basis", "expected " + std::to_string(m.mean.size()) + " rows (one per mean entry), got " +
                                                      std::to_string(m.orthonormal_basis.rows()));
    }
    if (m.eigenvalues.size() != m.orthonormal_basis.cols()) {
        in.fail(field + ".eigenvalues", "expected " + std::to_string(m.orthonormal_basis.cols()) +
                                            " eigenvalues (one per basis column), got " + std::to_string(m.eigenvalues.size()));
    }
    if (!m.eigenvalues.allFinite() || (m.eigenvalues.array() < 0).any()) {
        in.fail(field + ".eigenvalues", "expected finite, non-negative variances");
    }
    if (!m.mean.allFinite() || !m.orthonormal_basis.allFinite()) {
        in.fail(field, "the mean or basis holds NaN or infinite values");
    }
    validate_triangles(in, m.triangles, m.num_vertices(), field + ".triangle_list");
    m.rescaled_basis = m.orthonormal_basis * m.eigenvalues.cwiseSqrt().asDiagonal();
    return m;
}

ExpressionModel pca_as_expression(PcaModel pca) {
    ExpressionModel e;
    e.kind = ExpressionKind::Pca;
    for (int j = 0; j < pca.num_components(); ++j) e.names.push_back("pc" + std::to_string(j));
    e.mean = std::move(pca.mean);
    e.basis = std::move(pca.rescaled_basis);
    return e;
}

ExpressionModel read_blendshapes(BinaryReader& in, const std::string& field) {
    // Each blendshape takes at least a uint64 name length and two int32 matrix sizes.
    const std::size_t n = in.count(field, 16);
    ExpressionModel e;
    e.kind = ExpressionKind::Blendshapes;
    std::vector<Eigen::VectorXf> deltas;
    for (std::size_t k = 0; k < n; ++k) {
        const std::string f = field + "[" + std::to_string(k) + "]";
        e.names.push_back(in.string(f + ".name"));
        deltas.push_back(in.vector(f + ".deformation"));
        if (deltas.back().size() != deltas.front().size()) {
            in.fail(f + ".deformation", "expected " + std::to_string(deltas.front().size()) + " values like blendshape 0, got " +
                                            std::to_string(deltas.back().size()));
        }
        if (!deltas.back().allFinite()) in.fail(f + ".deformation", "holds NaN or infinite values");
    }
    if (n == 0) return e;
    e.mean = Eigen::VectorXf::Zero(deltas.front().size());
    e.basis.resize(deltas.front().size(), static_cast<Eigen::Index>(n));
    for (std::size_t k = 0; k < n; ++k) e.basis.col(static_cast<Eigen::Index>(k)) = deltas[k];
    return e;
}

}  // namespace

MorphableModel load_morphable_model(const std::string& path) {
    BinaryReader in(path);
    MorphableModel m;
    m.version = in.scalar<std::uint32_t>("MorphableModel.version");
    if (m.version < 1 || m.version > 4) {
        in.fail("MorphableModel.version", "unsupported class version " + std::to_string(m.version) +
                                              "; faceflt reads eos MorphableModel versions 1 to 4. Is this an eos model file "
                                              "(e.g. sfm_shape_3448.bin)?");
    }
    m.shape = read_pca_model(in, "shape_model");
    if (m.shape.empty()) in.fail("shape_model.mean", "the shape model is empty");
    m.color = read_pca_model(in, "color_model");
    if (!m.color.empty() && m.color.num_vertices() != m.shape.num_vertices()) {
        in.fail("color_model.mean", "expected " + std::to_string(m.shape.num_vertices()) + " vertices like the shape model, got " +
                                        std::to_string(m.color.num_vertices()));
    }
    if (m.version >= 2) {
        const bool is_empty = in.boolean("expression_model.nullopt");
        if (!is_empty) {
            const auto index = in.scalar<std::int32_t>("expression_model.index");
            if (index == 0) {
                m.expression = pca_as_expression(read_pca_model(in, "expression_model"));
            } else if (index == 1) {
                m.expression = read_blendshapes(in, "expression_model");
            } else {
                in.fail("expression_model.index", "expected 0 (PcaModel) or 1 (blendshapes), got " + std::to_string(index));
            }
            if (m.expression.mean.size() != m.shape.mean.size()) {
                in.fail("expression_model", "expected " + std::to_string(m.shape.mean.size()) + " values per component like the shape model, got " +
                                                std::to_string(m.expression.mean.size()));
            }
        }
    }
    if (m.version >= 3) {
        const bool is_empty = in.boolean("landmark_definitions.nullopt");
        if (!is_empty) {
            const std::size_t n = in.count("landmark_definitions", 12);
            for (std::size_t k = 0; k < n; ++k) {
                const std::string name = in.string("landmark_definitions.key");
                const auto vertex = in.scalar<std::int32_t>("landmark_definitions.value");
                if (vertex < 0 || vertex >= m.shape.num_vertices()) {
                    in.fail("landmark_definitions", "landmark '" + name + "' refers to vertex " + std::to_string(vertex) +
                                                        ", outside 0.." + std::to_string(m.shape.num_vertices() - 1));
                }
                m.landmark_definitions[name] = vertex;
            }
        }
    }
    // texture_coordinates follow the expression model (v2) or the landmark definitions (v3+).
    const auto uv = in.array_list<double, 2>("texture_coordinates");
    if (!uv.empty() && static_cast<int>(uv.size()) != m.shape.num_vertices()) {
        in.fail("texture_coordinates", "expected one (u, v) per vertex (" + std::to_string(m.shape.num_vertices()) + "), got " +
                                           std::to_string(uv.size()));
    }
    m.texcoords.resize(static_cast<Eigen::Index>(uv.size()), 2);
    for (std::size_t i = 0; i < uv.size(); ++i) {
        m.texcoords(static_cast<Eigen::Index>(i), 0) = static_cast<float>(uv[i][0]);
        m.texcoords(static_cast<Eigen::Index>(i), 1) = static_cast<float>(uv[i][1]);
    }
    if (m.version >= 4) {
        m.texture_triangles = in.array_list<int, 3>("texture_triangle_indices");
        validate_triangles(in, m.texture_triangles, static_cast<int>(m.texcoords.rows()), "texture_triangle_indices");
    }
    in.expect_end();
    return m;
}

ExpressionModel load_blendshapes(const std::string& path) {
    BinaryReader in(path);
    ExpressionModel e = read_blendshapes(in, "blendshapes");
    if (e.num_coefficients() == 0) in.fail("blendshapes", "the file holds no blendshapes");
    in.expect_end();
    return e;
}

ExpressionModel load_pca_expression_model(const std::string& path) {
    BinaryReader in(path);
    ExpressionModel e = pca_as_expression(read_pca_model(in, "pca_model"));
    in.expect_end();
    return e;
}

}  // namespace faceflt::model
