// The 3D morphable face model as eos stores it: a PCA shape model, an expression model
// (blendshapes or PCA), per-vertex texture coordinates and the triangle list.
//
// Files are read directly in eos's cereal binary layout (see ../shared/notes/eos-and-formats.md):
// little-endian scalars, uint64 container sizes, Eigen matrices as int32 rows, int32 cols and
// column-major data. Every length is checked against the bytes left in the file before anything is
// allocated, so a truncated or corrupted file raises core::ModelFormatError naming the file and field.
#pragma once

#include "faceflt/core/types.hpp"

#include <Eigen/Core>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace faceflt::model {

// A PCA model, x = mean + rescaled_basis * c, with c ~ N(0, I).
struct PcaModel {
    Eigen::VectorXf mean;               // (3N,), xyz interleaved, model units (mm)
    Eigen::MatrixXf orthonormal_basis;  // (3N, m), orthonormal columns
    Eigen::VectorXf eigenvalues;        // (m,), variances, mm^2
    Eigen::MatrixXf rescaled_basis;     // (3N, m), column j = orthonormal column j * sqrt(eigenvalue j)
    core::Triangles triangles;          // 0-based vertex ids

    int num_vertices() const { return static_cast<int>(mean.size() / 3); }
    int num_components() const { return static_cast<int>(orthonormal_basis.cols()); }
    bool empty() const { return mean.size() == 0; }
};

// How the expression part of a face is parameterised.
enum class ExpressionKind { None, Blendshapes, Pca };

// An expression model as a linear basis: offset = mean + basis * coeffs.
// Blendshapes: mean is zero, each column a blendshape's per-vertex deformation, coefficients >= 0.
// PCA: mean and rescaled basis of the PCA expression model, coefficients ~ N(0, I).
struct ExpressionModel {
    ExpressionKind kind = ExpressionKind::None;
    std::vector<std::string> names;  // blendshape names; "pc0", "pc1"... for PCA
    Eigen::VectorXf mean;            // (3N,)
    Eigen::MatrixXf basis;           // (3N, K)

    int num_coefficients() const { return static_cast<int>(basis.cols()); }
};

struct MorphableModel {
    unsigned version = 0;  // cereal class version, 1..4
    PcaModel shape;
    PcaModel color;  // may be empty (the SFM has no colour model)
    ExpressionModel expression;
    Eigen::Matrix<float, Eigen::Dynamic, 2, Eigen::RowMajor> texcoords;  // (N, 2) or (0, 2), in [0, 1]
    core::Triangles texture_triangles;                                    // v4 only; usually empty
    std::map<std::string, int> landmark_definitions;                      // v3+; usually empty
};

// Reads a MorphableModel file (cereal binary, class versions 1 to 4), e.g. sfm_shape_3448.bin.
MorphableModel load_morphable_model(const std::string& path);

// Reads a file holding std::vector<Blendshape>, e.g. expression_blendshapes_3448.bin.
ExpressionModel load_blendshapes(const std::string& path);

// Reads a file holding one PcaModel (e.g. a PCA expression model) and returns it as an expression model.
ExpressionModel load_pca_expression_model(const std::string& path);

}  // namespace faceflt::model
