// A mesh's triangles in small patches that stay compact under any pose, so that a query over a
// small part of the posed mesh (the silhouette near the jaw, what hides it) can skip whole patches
// whose projected box is far from it. Made once per model, from its mean face.
#pragma once

#include "faceflt/core/types.hpp"

#include <array>
#include <vector>

namespace faceflt::core {

struct MeshPatches {
    // Patch p holds triangles[triangle_start[p] .. triangle_start[p + 1]), their distinct corners
    // vertices[vertex_start[p] ..), and the interior edges (two adjacent triangles) whose first
    // triangle it holds, edges[edge_start[p] ..).
    std::vector<int> triangles, triangle_start;
    std::vector<int> vertices, vertex_start;
    std::vector<int> edges, edge_start;

    int size() const { return triangle_start.empty() ? 0 : static_cast<int>(triangle_start.size()) - 1; }
};

// Splits the triangles at the median of their centroids along the widest axis, recursively, until
// a patch holds at most max_triangles. edge_faces: per edge, its two triangles (-1: none).
MeshPatches make_patches(const Vertices& mesh, const Triangles& triangles, const std::vector<std::array<int, 2>>& edge_faces,
                         int max_triangles = 64);

// Each patch's 2D bounding box (min x, min y, max x, max y) over its vertices' points: (P, 4).
std::vector<std::array<float, 4>> patch_boxes(const MeshPatches& patches, const Points2& points);

}  // namespace faceflt::core
