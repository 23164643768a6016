// What the model does not explain of a face's landmarks, moved between head poses.
//
// A landmark residual (detected minus fitted, pixels) is seen through each frame's camera. Lifted to a
// 3D offset in model space, it can be shown under another pose with the right foreshortening. From
// several frames of one face the offset is the least-squares one; from a single view its depth is not
// seen, and the ridge keeps the offset in the image plane of that view (the least-norm solution).
#pragma once

#include "faceflt/fitting/camera.hpp"

#include <Eigen/Core>
#include <vector>

namespace faceflt::fusion {

// residuals: per frame (K, 2) pixels (NaN rows are left out); cameras: one per frame.
// Returns (K, 3) offsets in model units (NaN where no frame saw the landmark).
core::Vertices lift_residuals(const std::vector<core::Points2>& residuals, const std::vector<fitting::Camera>& cameras,
                              float ridge);

// The (K, 2) pixel displacement the offsets make under a camera.
core::Points2 project_offsets(const core::Vertices& offsets, const fitting::Camera& camera);

}  // namespace faceflt::fusion
