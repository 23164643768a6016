// Turning a posed 3D face back into 2D landmarks.
#pragma once

#include "faceflt/fitting/camera.hpp"
#include "faceflt/model/face_model.hpp"

#include <vector>

namespace faceflt::fitting {

// The landmarks of a posed mesh: (K, 2) pixels.
// Non-contour landmarks are their fixed vertices. Each jaw (contour) landmark is the vertex, among
// the model contour of its side and the visible silhouette, whose projection is nearest to the
// guide point for that landmark (where a detector put it), so the jaw line follows the outline of
// the posed face instead of sliding behind the cheek when the head turns. Where the guide is
// missing (NaN or no guide), the landmark takes the model-contour vertex at the same relative
// position along its side.
// chosen, if given, receives the vertex each landmark was taken from (K,).
core::Points2 project_landmarks(const model::FaceModel& model, const core::Vertices& mesh, const fitting::Camera& camera,
                                const core::Points2& guide, std::vector<int>* chosen = nullptr);

}  // namespace faceflt::fitting
