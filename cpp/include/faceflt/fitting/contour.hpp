// Correspondences for the face outline, which has no fixed vertex: where the jaw line is seen
// depends on the head pose.
//  - Model contour (eos's get_contour_correspondences): the image's jaw landmarks are matched to the
//    model's front-facing contour line on the side(s) that yaw says are visible, each to the contour
//    vertex whose projection is nearest.
//  - Occluding edge (Bas et al., "Fitting a 3D Morphable Model to Edges", ACCV 2016, as eos's
//    find_occluding_edge_correspondences): the silhouette vertices the camera sees are matched to the
//    nearest jaw landmark on the side turned away. Visibility comes from a local ray test over a coarse grid (core/visibility.hpp), not eos's O(vertices x triangles) ray casting.
#pragma once

#include "faceflt/fitting/camera.hpp"
#include "faceflt/fitting/linear_fitting.hpp"
#include "faceflt/model/face_model.hpp"

#include <vector>

namespace faceflt::fitting {

// Jaw landmarks matched to the model contour. landmarks: (K, 2) pixels, NaN where missing.
Correspondences contour_correspondences(const model::FaceModel& model, const core::Points2& landmarks, const core::Vertices& mesh,
                                        const Camera& camera, float yaw_degrees, float yaw_threshold_degrees);

// Vertices on edges between a front- and a back-facing triangle that are not hidden by the mesh.
// Only vertices whose projection lies within radius[i] pixels of some near[i] are considered (the
// callers only ever match silhouette vertices to nearby landmarks), which keeps the visibility test
// local to the jaw line. projected, depth: the posed mesh (Camera::project with depth).
// near: (M, 2) pixels, NaN rows are ignored.
std::vector<int> visible_silhouette_vertices(const model::FaceModel& model, const core::Points2& projected, const Eigen::VectorXf& depth,
                                             const core::Points2& near, const std::vector<float>& radius);

// Silhouette vertices matched to the nearest of the given landmarks (the jaw side turned away),
// keeping pairs whose squared distance is at most threshold * camera.scale (pixels^2), as eos does.
Correspondences occluding_edge_correspondences(const core::Points2& projected_mesh, const std::vector<int>& silhouette,
                                               const core::Points2& landmarks, const std::vector<int>& landmark_ids,
                                               float threshold, float scale);

}  // namespace faceflt::fitting
