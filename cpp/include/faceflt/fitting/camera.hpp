// The scaled-orthographic camera of eos's fitting, expressed directly in image pixels:
//   u = s * (r1 . X + tx),   v = H - s * (r2 . X + ty)
// with X a model point (mm), r1, r2 the first two rows of R, s in pixels per mm and (tx, ty) in mm.
// This is exactly the affine map eos builds from RenderingParameters with the OpenCV viewport.
#pragma once

#include "faceflt/core/types.hpp"

#include <Eigen/Core>

namespace faceflt::fitting {

struct Camera {
    Eigen::Matrix3f rotation = Eigen::Matrix3f::Identity();
    float scale = 1.0f;   // pixels per model unit
    float tx = 0.0f;      // model units
    float ty = 0.0f;      // model units
    float image_height = 0.0f;  // pixels; the v axis is flipped against it

    Eigen::Vector2f project(const Eigen::Vector3f& x) const {
        return {scale * (rotation.row(0).dot(x) + tx), image_height - scale * (rotation.row(1).dot(x) + ty)};
    }
    // Depth towards the viewer (larger is nearer), model units.
    float depth(const Eigen::Vector3f& x) const { return rotation.row(2).dot(x); }

    // Every vertex at once, the same values as one at a time; depth (if given) as depth() gives it.
    void project(const core::Vertices& vertices, core::Points2& points, Eigen::VectorXf* depth) const;
};

// Estimates the camera from 2D-3D correspondences by linear least squares followed by
// orthonormalisation of the rotation (Hartley & Zisserman, Alg. 7.2; the scaled-orthographic
// variant of W. Smith's POS, as in eos's estimate_orthographic_projection_linear).
// image_points: (N, 2) pixels; model_points: (N, 3) model units; N >= 4.
Camera estimate_camera(const core::Points2& image_points, const core::Vertices& model_points, float image_height);

// eos's yaw, pitch, roll in degrees: R = Ry(yaw) * Rx(pitch) * Rz(roll).
// Positive yaw: the subject looks to their left; positive pitch: looking down.
Eigen::Vector3f yaw_pitch_roll(const Eigen::Matrix3f& rotation);
Eigen::Matrix3f rotation_from_yaw_pitch_roll(const Eigen::Vector3f& degrees);

}  // namespace faceflt::fitting
