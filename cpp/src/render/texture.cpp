#include "faceflt/render/texture.hpp"

#include "faceflt/core/visibility.hpp"

namespace faceflt::render {

ReferenceTexture reference_texture(const ScreenVertices& screen, const core::Triangles& triangles,
                                   const core::MeshPatches& patches, int width, int height) {
    const auto n = screen.rows();
    std::vector<int> all(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    const core::Points2 points = screen.leftCols<2>();
    const Eigen::VectorXf depth = screen.col(2);
    const auto seen = core::visible_vertices(points, depth, triangles, patches, /*front_only=*/false, all, /*tolerance=*/1.0f);
    ReferenceTexture t;
    t.uv.resize(n, 2);
    t.visible.resize(static_cast<std::size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) {
        const float x = screen(i, 0), y = screen(i, 1);
        t.uv(i, 0) = x / static_cast<float>(width);
        t.uv(i, 1) = y / static_cast<float>(height);
        t.visible[static_cast<std::size_t>(i)] = seen[static_cast<std::size_t>(i)] && x >= 0 && y >= 0 && x < width && y < height;
    }
    return t;
}

}  // namespace faceflt::render
