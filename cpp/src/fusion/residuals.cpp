#include "faceflt/fusion/residuals.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace faceflt::fusion {

namespace {
// d(u, v) = s * (r1 . d, -(r2 . d)): the image y axis points down.
Eigen::Matrix<float, 2, 3> jacobian(const fitting::Camera& c) {
    Eigen::Matrix<float, 2, 3> j;
    j.row(0) = c.scale * c.rotation.row(0);
    j.row(1) = -c.scale * c.rotation.row(1);
    return j;
}
}  // namespace

core::Vertices lift_residuals(const std::vector<core::Points2>& residuals, const std::vector<fitting::Camera>& cameras,
                              float ridge) {
    if (residuals.size() != cameras.size()) throw std::invalid_argument("lift_residuals: one camera per frame is needed");
    if (residuals.empty()) throw std::invalid_argument("lift_residuals: no frames");
    const auto k = residuals.front().rows();
    std::vector<Eigen::Matrix3f> ata(static_cast<std::size_t>(k), Eigen::Matrix3f::Zero());
    std::vector<Eigen::Vector3f> atb(static_cast<std::size_t>(k), Eigen::Vector3f::Zero());
    std::vector<int> seen(static_cast<std::size_t>(k), 0);
    for (std::size_t f = 0; f < residuals.size(); ++f) {
        if (residuals[f].rows() != k) throw std::invalid_argument("lift_residuals: every frame needs the same landmarks");
        const auto j = jacobian(cameras[f]);
        if (!j.allFinite()) continue;
        const Eigen::Matrix3f jtj = j.transpose() * j;
        for (Eigen::Index i = 0; i < k; ++i) {
            const Eigen::Vector2f r = residuals[f].row(i);
            if (!r.allFinite()) continue;
            ata[static_cast<std::size_t>(i)] += jtj;
            atb[static_cast<std::size_t>(i)] += j.transpose() * r;
            ++seen[static_cast<std::size_t>(i)];
        }
    }
    core::Vertices out(k, 3);
    for (Eigen::Index i = 0; i < k; ++i) {
        if (!seen[static_cast<std::size_t>(i)]) {
            out.row(i).setConstant(std::numeric_limits<float>::quiet_NaN());
            continue;
        }
        // The ridge is relative to the data's own weight, so it does not depend on the camera scale.
        Eigen::Matrix3f a = ata[static_cast<std::size_t>(i)];
        a.diagonal().array() += ridge * a.trace() / 3.0f;
        out.row(i) = a.ldlt().solve(atb[static_cast<std::size_t>(i)]).transpose();
    }
    return out;
}

core::Points2 project_offsets(const core::Vertices& offsets, const fitting::Camera& camera) {
    const auto j = jacobian(camera);
    core::Points2 out(offsets.rows(), 2);
    for (Eigen::Index i = 0; i < offsets.rows(); ++i) out.row(i) = (j * offsets.row(i).transpose()).transpose();
    return out;
}

}  // namespace faceflt::fusion
