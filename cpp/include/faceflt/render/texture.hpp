// The reference picture as the face's texture: each vertex's texture coordinate is where the fitted face
// puts it in the picture, and a vertex the picture does not show (outside it, or hidden by the face itself)
// is marked so that the renderer leaves its surface transparent.
#pragma once

#include "faceflt/core/mesh_patches.hpp"
#include "faceflt/core/types.hpp"
#include "faceflt/render/renderer.hpp"

#include <Eigen/Core>
#include <vector>

namespace faceflt::render {

struct ReferenceTexture {
    Eigen::Matrix<float, Eigen::Dynamic, 2, Eigen::RowMajor> uv;  // (N, 2): projection / (width, height)
    std::vector<bool> visible;                                     // (N,): seen in the picture
};

// screen: the fitted face's vertices projected into the picture (x, y pixels, depth); width, height: its size.
ReferenceTexture reference_texture(const ScreenVertices& screen, const core::Triangles& triangles,
                                   const core::MeshPatches& patches, int width, int height);

}  // namespace faceflt::render
