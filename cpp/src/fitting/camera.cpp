#include "faceflt/fitting/camera.hpp"

#include "faceflt/core/errors.hpp"

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>

namespace faceflt::fitting {

void Camera::project(const core::Vertices& vertices, core::Points2& points, Eigen::VectorXf* depth) const {
    const Eigen::Index n = vertices.rows();
    points.resize(n, 2);
    if (depth) depth->resize(n);
    // The camera in locals: the float stores below could otherwise alias it, and it would be read
    // again for every vertex.
    const float r00 = rotation(0, 0), r01 = rotation(0, 1), r02 = rotation(0, 2);
    const float r10 = rotation(1, 0), r11 = rotation(1, 1), r12 = rotation(1, 2);
    const float r20 = rotation(2, 0), r21 = rotation(2, 1), r22 = rotation(2, 2);
    const float s = scale, x0 = tx, y0 = ty, h = image_height;
    const float* __restrict x = vertices.data();
    float* __restrict p = points.data();
    for (Eigen::Index v = 0; v < n; ++v) {
        const float a = x[3 * v], b = x[3 * v + 1], c = x[3 * v + 2];
        p[2 * v] = s * ((r00 * a + r01 * b + r02 * c) + x0);
        p[2 * v + 1] = h - s * ((r10 * a + r11 * b + r12 * c) + y0);
    }
    if (depth) {
        float* __restrict z = depth->data();
        for (Eigen::Index v = 0; v < n; ++v) z[v] = r20 * x[3 * v] + r21 * x[3 * v + 1] + r22 * x[3 * v + 2];
    }
}

Camera estimate_camera(const core::Points2& image_points, const core::Vertices& model_points, float image_height) {
    const Eigen::Index n = image_points.rows();
    if (n < 4 || model_points.rows() != n) {
        throw core::FitError("estimate_camera: need at least 4 matching 2D-3D points, got " + std::to_string(n));
    }
    // The x and y rows decouple: each is an independent least-squares problem with the same
    // design matrix [X Y Z 1], so one 4x4 normal-equation factorisation serves both.
    Eigen::Matrix<double, Eigen::Dynamic, 4> A(n, 4);
    Eigen::Matrix<double, Eigen::Dynamic, 2> b(n, 2);
    for (Eigen::Index i = 0; i < n; ++i) {
        A.row(i) << model_points(i, 0), model_points(i, 1), model_points(i, 2), 1.0;
        b(i, 0) = image_points(i, 0);
        b(i, 1) = image_height - image_points(i, 1);
    }
    const Eigen::Matrix<double, 4, 2> k = A.colPivHouseholderQr().solve(b);
    Eigen::Vector3d r1 = k.block<3, 1>(0, 0), r2 = k.block<3, 1>(0, 1);
    const double s = 0.5 * (r1.norm() + r2.norm());
    if (!(s > 0.0) || !std::isfinite(s)) throw core::FitError("estimate_camera: degenerate point configuration (zero scale)");
    Eigen::Matrix3d R;
    R.row(0) = r1.normalized();
    R.row(1) = r2.normalized();
    R.row(2) = r1.normalized().cross(r2.normalized());
    Eigen::JacobiSVD<Eigen::Matrix3d> svd(R, Eigen::ComputeFullU | Eigen::ComputeFullV);
    Eigen::Matrix3d U = svd.matrixU();
    R = U * svd.matrixV().transpose();
    if (R.determinant() < 0) {
        U.row(2) *= -1.0;
        R = U * svd.matrixV().transpose();
    }
    Camera c;
    c.rotation = R.cast<float>();
    c.scale = static_cast<float>(s);
    c.tx = static_cast<float>(k(3, 0) / s);
    c.ty = static_cast<float>(k(3, 1) / s);
    c.image_height = image_height;
    return c;
}

Eigen::Vector3f yaw_pitch_roll(const Eigen::Matrix3f& R) {
    constexpr float deg = 57.29577951308232f;
    const float pitch = std::asin(std::clamp(-R(1, 2), -1.0f, 1.0f));
    return {std::atan2(R(0, 2), R(2, 2)) * deg, pitch * deg, std::atan2(R(1, 0), R(1, 1)) * deg};
}

Eigen::Matrix3f rotation_from_yaw_pitch_roll(const Eigen::Vector3f& d) {
    constexpr float rad = 0.017453292519943295f;
    const Eigen::Matrix3f ry = Eigen::AngleAxisf(d[0] * rad, Eigen::Vector3f::UnitY()).toRotationMatrix();
    const Eigen::Matrix3f rx = Eigen::AngleAxisf(d[1] * rad, Eigen::Vector3f::UnitX()).toRotationMatrix();
    const Eigen::Matrix3f rz = Eigen::AngleAxisf(d[2] * rad, Eigen::Vector3f::UnitZ()).toRotationMatrix();
    return ry * rx * rz;
}

}  // namespace faceflt::fitting
