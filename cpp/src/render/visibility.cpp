#include "faceflt/render/visibility.hpp"

#include "faceflt/render/triangle.hpp"

#include <algorithm>
#include <cmath>

namespace faceflt::render {

std::vector<bool> visible_vertices(const core::Points2& points, const Eigen::VectorXf& depth, const core::Triangles& triangles,
                                   const std::vector<char>& occluders, const std::vector<int>& query, float tolerance) {
    std::vector<bool> visible(query.size(), true);
    if (query.empty() || triangles.empty()) return visible;

    // Grid over the queries' bounding box; cells about as large as the mean triangle, so a triangle
    // overlaps few cells and a cell holds few queries.
    Eigen::Vector2f lo = points.row(query[0]), hi = lo;
    for (int v : query) {
        lo = lo.cwiseMin(Eigen::Vector2f(points.row(v)));
        hi = hi.cwiseMax(Eigen::Vector2f(points.row(v)));
    }
    const Eigen::Vector2f mesh_extent = points.colwise().maxCoeff() - points.colwise().minCoeff();
    const float cell = std::max(1e-3f, std::sqrt(mesh_extent.prod() / static_cast<float>(triangles.size())));
    const int nx = static_cast<int>((hi.x() - lo.x()) / cell) + 1, ny = static_cast<int>((hi.y() - lo.y()) / cell) + 1;
    std::vector<int> start(static_cast<std::size_t>(nx * ny) + 1, 0), order(query.size());
    auto cell_of = [&](float x, float y) {
        const int i = std::clamp(static_cast<int>((x - lo.x()) / cell), 0, nx - 1);
        const int j = std::clamp(static_cast<int>((y - lo.y()) / cell), 0, ny - 1);
        return j * nx + i;
    };
    for (int v : query) ++start[static_cast<std::size_t>(cell_of(points(v, 0), points(v, 1))) + 1];
    for (std::size_t c = 1; c < start.size(); ++c) start[c] += start[c - 1];
    {
        std::vector<int> fill(start.begin(), start.end() - 1);
        for (std::size_t q = 0; q < query.size(); ++q) {
            order[static_cast<std::size_t>(fill[static_cast<std::size_t>(cell_of(points(query[q], 0), points(query[q], 1)))]++)] = static_cast<int>(q);
        }
    }

    for (std::size_t tri = 0; tri < triangles.size(); ++tri) {
        if (!occluders.empty() && !occluders[tri]) continue;
        const auto& t = triangles[tri];
        const ScreenTriangle s = ScreenTriangle::from(points, t);
        const float x0 = s.min_x(), x1 = s.max_x(), y0 = s.min_y(), y1 = s.max_y();
        if (x1 < lo.x() || y1 < lo.y() || x0 > hi.x() || y0 > hi.y() || s.area == 0.0f) continue;
        const int i0 = std::max(0, static_cast<int>((x0 - lo.x()) / cell)), i1 = std::min(nx - 1, static_cast<int>((x1 - lo.x()) / cell));
        const int j0 = std::max(0, static_cast<int>((y0 - lo.y()) / cell)), j1 = std::min(ny - 1, static_cast<int>((y1 - lo.y()) / cell));
        for (int j = j0; j <= j1; ++j) {
            for (int i = i0; i <= i1; ++i) {
                const int c = j * nx + i;
                for (int k = start[static_cast<std::size_t>(c)]; k < start[static_cast<std::size_t>(c) + 1]; ++k) {
                    const auto q = static_cast<std::size_t>(order[static_cast<std::size_t>(k)]);
                    const int v = query[q];
                    if (!visible[q] || v == t[0] || v == t[1] || v == t[2]) continue;
                    float w0, w1, w2;
                    if (!s.weights(points(v, 0), points(v, 1), w0, w1, w2)) continue;
                    if (w0 * depth(t[0]) + w1 * depth(t[1]) + w2 * depth(t[2]) > depth(v) + tolerance) visible[q] = false;
                }
            }
        }
    }
    return visible;
}

}  // namespace faceflt::render
