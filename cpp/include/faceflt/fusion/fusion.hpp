// Facial Landmarks Transformation: the reference person's identity (shape coefficients) with each
// driving frame's expression coefficients, seen through that frame's camera.
#pragma once

#include "faceflt/fitting/fit.hpp"
#include "faceflt/model/face_model.hpp"

#include <vector>

namespace faceflt::fusion {

struct FusedFrame {
    core::Vertices mesh;          // (N, 3) model units; empty unless requested
    core::Points2 landmarks;      // (K, 2) pixels; NaN where the driving frame has no fit
    std::vector<int> vertex_ids;  // (K,) the vertex each landmark was taken from; -1 where no fit
};

// One fused frame per driving fit. guides: the driving frames' detected landmarks (K, 2) that the
// jaw line follows (see project_landmarks); may be empty. vertex_ids: if not empty, each frame's
// landmarks are taken from these vertices (K,) instead (e.g. the ones another identity's fusion
// chose, so that two fusions differ only by identity).
std::vector<FusedFrame> fuse(const model::FaceModel& model, const Eigen::VectorXf& reference_shape,
                             const std::vector<fitting::FrameFit>& driving, const std::vector<core::Points2>& guides,
                             bool keep_mesh, const std::vector<std::vector<int>>& vertex_ids = {});

}  // namespace faceflt::fusion
