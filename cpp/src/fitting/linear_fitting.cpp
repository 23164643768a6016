#include "faceflt/fitting/linear_fitting.hpp"

#include "faceflt/core/kernels.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace faceflt::fitting {

namespace {
constexpr float kDetectorVariance = 3.0f;  // sigma^2 of the landmark detector, pixels^2 (eos's sqrt(3) px)
}

void accumulate_normal_equations(NormalEquations& eq, const Correspondences& corr, const Camera& camera,
                                 const Eigen::VectorXf& base, const core::PaddedRows& basis, int num_coefficients) {
    const int k = num_coefficients;
    if (k > basis.cols) throw std::invalid_argument("accumulate_normal_equations: more coefficients than the basis has");
    if (eq.ata.size() == 0) {
        eq.ata = Eigen::MatrixXf::Zero(k, k);
        eq.atb = Eigen::VectorXf::Zero(k);
    }
    const auto n = static_cast<std::ptrdiff_t>(corr.vertices.size());
    const std::ptrdiff_t width = core::padded_length(k);  // <= basis.stride
    // Two rows per correspondence, row-major: s * r_j . (B_v c) = p_j - s * (r_j . base_v + t_j), j in {x, y}.
    std::vector<float> A(static_cast<std::size_t>(2 * n * width));
    Eigen::VectorXf b(2 * n);
    const Eigen::Matrix<float, 2, 3> P = camera.scale * camera.rotation.topRows<2>();
    const float p00 = P(0, 0), p01 = P(0, 1), p02 = P(0, 2), p10 = P(1, 0), p11 = P(1, 1), p12 = P(1, 2);
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        const int v = corr.vertices[static_cast<std::size_t>(i)];
        const float *bx = basis.row(3 * v), *by = basis.row(3 * v + 1), *bz = basis.row(3 * v + 2);
        float* ax = A.data() + 2 * i * width;
        float* ay = ax + width;
        for (std::ptrdiff_t j = 0; j < width; ++j) {
            ax[j] = p00 * bx[j] + p01 * by[j] + p02 * bz[j];
            ay[j] = p10 * bx[j] + p11 * by[j] + p12 * bz[j];
        }
        const Eigen::Vector2f base_proj = P * base.segment<3>(3 * v);
        b(2 * i) = corr.image_points(i, 0) - base_proj(0) - camera.scale * camera.tx;
        b(2 * i + 1) = (camera.image_height - corr.image_points(i, 1)) - base_proj(1) - camera.scale * camera.ty;
    }
    std::vector<float> gram(static_cast<std::size_t>(width * width), 0.0f);
    core::add_gram(gram.data(), A.data(), 2 * n, width, 1.0f / kDetectorVariance);
    for (int j = 0; j < k; ++j)
        for (int i = j; i < k; ++i) eq.ata(i, j) += gram[static_cast<std::size_t>(i * width + j)];
    std::vector<float> atb(static_cast<std::size_t>(width), 0.0f);
    for (std::ptrdiff_t r = 0; r < 2 * n; ++r) {
        const float* row = A.data() + r * width;
        const float w = b(r) / kDetectorVariance;
        for (std::ptrdiff_t j = 0; j < width; ++j) atb[static_cast<std::size_t>(j)] += w * row[j];
    }
    for (int j = 0; j < k; ++j) eq.atb(j) += atb[static_cast<std::size_t>(j)];
    eq.num_rows += static_cast<int>(2 * n);
}

Eigen::VectorXf solve_regularised(const NormalEquations& eq, float lambda) {
    Eigen::MatrixXf m = eq.ata;
    m.diagonal().array() += lambda;
    // Positive definite for lambda > 0: Cholesky (blocked) reads only the lower triangle. LDLT
    // takes the rare matrix it rejects (lambda = 0 with too few equations).
    Eigen::LLT<Eigen::MatrixXf, Eigen::Lower> llt(m);
    if (llt.info() == Eigen::Success) return llt.solve(eq.atb);
    return Eigen::MatrixXf(m.selfadjointView<Eigen::Lower>()).ldlt().solve(eq.atb);
}

Eigen::VectorXf solve_nonnegative(const NormalEquations& eq, int max_iterations) {
    // Lawson-Hanson on the Gram form: minimise 1/2 c^T G c - h^T c, c >= 0, with G = A^T A, h = A^T b.
    const Eigen::Index k = eq.atb.size();
    const Eigen::MatrixXd G = Eigen::MatrixXf(eq.ata.selfadjointView<Eigen::Lower>()).cast<double>();
    const Eigen::VectorXd h = eq.atb.cast<double>();
    const double tol = 1e-10 * (1.0 + G.diagonal().cwiseAbs().maxCoeff());
    Eigen::VectorXd c = Eigen::VectorXd::Zero(k);
    std::vector<bool> passive(static_cast<std::size_t>(k), false);

    auto solve_passive = [&](Eigen::VectorXd& z) {
        std::vector<Eigen::Index> idx;
        for (Eigen::Index j = 0; j < k; ++j)
            if (passive[static_cast<std::size_t>(j)]) idx.push_back(j);
        z = Eigen::VectorXd::Zero(k);
        if (idx.empty()) return;
        const auto m = static_cast<Eigen::Index>(idx.size());
        Eigen::MatrixXd Gp(m, m);
        Eigen::VectorXd hp(m);
        for (Eigen::Index a = 0; a < m; ++a) {
            hp(a) = h(idx[a]);
            for (Eigen::Index b = 0; b < m; ++b) Gp(a, b) = G(idx[a], idx[b]);
        }
        const Eigen::VectorXd zp = Gp.ldlt().solve(hp);
        for (Eigen::Index a = 0; a < m; ++a) z(idx[a]) = zp(a);
    };

    for (int outer = 0; outer < max_iterations; ++outer) {
        const Eigen::VectorXd w = h - G * c;  // negative gradient
        Eigen::Index best = -1;
        double best_w = tol;
        for (Eigen::Index j = 0; j < k; ++j) {
            if (!passive[static_cast<std::size_t>(j)] && w(j) > best_w) {
                best_w = w(j);
                best = j;
            }
        }
        if (best < 0) break;
        passive[static_cast<std::size_t>(best)] = true;
        Eigen::VectorXd z;
        for (int inner = 0; inner < 3 * static_cast<int>(k) + 3; ++inner) {
            solve_passive(z);
            double alpha = std::numeric_limits<double>::infinity();
            for (Eigen::Index j = 0; j < k; ++j) {
                if (passive[static_cast<std::size_t>(j)] && z(j) <= 0.0) alpha = std::min(alpha, c(j) / (c(j) - z(j)));
            }
            if (!std::isfinite(alpha)) break;  // every passive z_j > 0: accept
            c += alpha * (z - c);
            for (Eigen::Index j = 0; j < k; ++j) {
                if (passive[static_cast<std::size_t>(j)] && c(j) <= 1e-12) {
                    passive[static_cast<std::size_t>(j)] = false;
                    c(j) = 0.0;
                }
            }
        }
        solve_passive(z);
        c = z.cwiseMax(0.0);
    }
    return c.cast<float>();
}

}  // namespace faceflt::fitting
