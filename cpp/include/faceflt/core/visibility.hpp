// Which points of a mesh the camera sees: a point is hidden when a triangle in front of it covers
// its pixel. This is eos's self-occlusion ray cast along the viewing direction, but each point is
// only tested against the triangles whose bounding box shares its cell of a coarse grid, and whole
// patches of the mesh whose box misses the queries are skipped, so the cost is about
// O(patches + triangles near the queries + points x local triangles), not O(points x triangles).
#pragma once

#include "faceflt/core/mesh_patches.hpp"
#include "faceflt/core/types.hpp"

#include <Eigen/Core>
#include <array>
#include <vector>

namespace faceflt::core {

// points: 2D positions of all mesh vertices (pixels), depth: their depth (larger is nearer).
// Returns, for each query vertex id, whether it is visible. A triangle that has the query vertex as a
// corner never hides it; `tolerance` (depth units) keeps a surface from hiding points lying on it.
// front_only: only triangles facing the viewer (clockwise in the y-down image) hide anything.
// patch_boxes: core::patch_boxes(patches, points) where the caller has them already; else null.
// Non-finite points (a diverged fit) hide nothing.
std::vector<bool> visible_vertices(const core::Points2& points, const Eigen::VectorXf& depth, const core::Triangles& triangles,
                                   const core::MeshPatches& patches, bool front_only, const std::vector<int>& query, float tolerance,
                                   const std::vector<std::array<float, 4>>* patch_boxes = nullptr);

}  // namespace faceflt::core
