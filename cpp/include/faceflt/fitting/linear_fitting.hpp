// Linear fits of model coefficients to 2D landmarks under a fixed camera.
//
// For each correspondence (image point p_i, vertex v_i) and coefficients c of a linear basis B:
//   camera(base_v + B_v c) ~ p_i
// which is linear in c. Following Aldrian & Smith, "Inverse Rendering of Faces with a 3D Morphable
// Model", PAMI 2013 (as eos's fit_shape_to_landmarks_linear), with the detector's standard deviation
// sigma = sqrt(3) pixels, the regularised solution is (A^T A / sigma^2 + lambda I) c = A^T b / sigma^2.
// Normal equations are accumulated per image so the joint identity fit over several pictures sums them.
#pragma once

#include "faceflt/core/kernels.hpp"
#include "faceflt/core/types.hpp"
#include "faceflt/fitting/camera.hpp"

#include <Eigen/Core>
#include <vector>

namespace faceflt::fitting {

struct Correspondences {
    core::Points2 image_points;  // (N, 2), pixels
    std::vector<int> vertices;   // (N,), vertex ids
};

// Accumulated normal equations A^T A / sigma^2 and A^T b / sigma^2 of one linear fit.
struct NormalEquations {
    Eigen::MatrixXf ata;  // only the lower triangle is kept up to date
    Eigen::VectorXf atb;
    int num_rows = 0;
};

// Adds one image's equations for the first num_coefficients columns of basis. base: (3V,) the face
// the basis deforms; basis: (3V, K) stored by rows (model::FaceModel's shape_rows, expression_rows).
void accumulate_normal_equations(NormalEquations& eq, const Correspondences& corr, const Camera& camera,
                                 const Eigen::VectorXf& base, const core::PaddedRows& basis, int num_coefficients);

// (A^T A + lambda I) c = A^T b; the coefficients are ~N(0, 1) for a rescaled PCA basis.
Eigen::VectorXf solve_regularised(const NormalEquations& eq, float lambda);

// min ||A c - b||^2 subject to c >= 0 (Lawson & Hanson's active-set NNLS on the normal equations).
// Used for blendshapes, whose weights have no meaning below zero.
Eigen::VectorXf solve_nonnegative(const NormalEquations& eq, int max_iterations = 100);

}  // namespace faceflt::fitting
