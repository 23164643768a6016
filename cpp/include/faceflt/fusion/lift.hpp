// Detected 2D landmarks lifted into the model's canonical (frontal, unposed) frame.
//
// A scaled-orthographic camera loses each point's depth; the fitted face gives it back: landmark k is
// placed on the camera ray through its detected position, at the depth of the fitted mesh's vertex for
// k (for a jaw landmark, the silhouette or contour vertex nearest to where it was detected, as
// project_landmarks picks it), and the camera's rotation is undone. What the picture shows beyond the
// model (a nose the 63 shape coefficients cannot express) stays in the lifted points; only the depth
// is the model's. This is how FLT's relative mode compares two people's faces and a driver's frames
// with its own neutral face without estimating the driver's identity from the model.
#pragma once

#include "faceflt/fitting/fit.hpp"
#include "faceflt/model/face_model.hpp"

#include <vector>

namespace faceflt::fusion {

struct LiftedFrame {
    core::Vertices points;      // (K, 3) model units; NaN rows where the landmark is missing or there is no fit
    core::Vertices expression;  // (K, 3) the fitted expression's displacement of each landmark's vertex:
                                // points - expression is the same face with a neutral expression, as far as
                                // the expression model can tell
};

// One LiftedFrame per frame. shape: the identity the frames were fitted with; frames: their expression
// and camera; landmarks: (K, 2) pixels per frame.
std::vector<LiftedFrame> lift_landmarks(const model::FaceModel& model, const Eigen::VectorXf& shape,
                                        const std::vector<fitting::FrameFit>& frames, const std::vector<core::Points2>& landmarks);

// The (K, 2) pixel displacement that (K, 3) model-space offsets make under a camera:
// d(u, v) = s * (r1 . d, -(r2 . d)), the image y axis pointing down.
core::Points2 project_offsets(const core::Vertices& offsets, const fitting::Camera& camera);

}  // namespace faceflt::fusion
