// Which points of a mesh the camera sees: a point is hidden when a triangle in front of it covers
// its pixel. This is eos's self-occlusion ray cast along the viewing direction, but each point is
// only tested against the triangles whose bounding box shares its cell of a coarse grid, so the cost
// is O(triangles + points x local triangles) instead of O(points x triangles).
#pragma once

#include "faceflt/core/types.hpp"

#include <Eigen/Core>
#include <vector>

namespace faceflt::render {

// points: 2D positions of all mesh vertices (pixels), depth: their depth (larger is nearer).
// Returns, for each query vertex id, whether it is visible. A triangle that has the query vertex as a
// corner never hides it; `tolerance` (depth units) keeps a surface from hiding points lying on it.
// occluders: the ids of the triangles that can hide anything (e.g. the front-facing ones).
std::vector<bool> visible_vertices(const core::Points2& points, const Eigen::VectorXf& depth, const core::Triangles& triangles,
                                   const std::vector<int>& occluders, const std::vector<int>& query, float tolerance);

}  // namespace faceflt::render
