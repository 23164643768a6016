#include "faceflt/render/visibility.hpp"

#include "faceflt/render/triangle.hpp"

#include <algorithm>
#include <cmath>

namespace faceflt::render {

std::vector<bool> visible_vertices(const core::Points2& points, const Eigen::VectorXf& depth, const core::Triangles& triangles,
                                   const std::vector<char>& occluders, const std::vector<int>& query, float tolerance) {
    if (query.empty() || triangles.empty()) return std::vector<bool>(query.size(), true);

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
    std::vector<int> start(static_cast<std::size_t>(nx * ny) + 1, 0);
    auto cell_of = [&](float x, float y) {
        const int i = std::clamp(static_cast<int>((x - lo.x()) / cell), 0, nx - 1);
        const int j = std::clamp(static_cast<int>((y - lo.y()) / cell), 0, ny - 1);
        return j * nx + i;
    };
    for (int v : query) ++start[static_cast<std::size_t>(cell_of(points(v, 0), points(v, 1))) + 1];
    for (std::size_t c = 1; c < start.size(); ++c) start[c] += start[c - 1];
    // The queries sorted by cell, with what the inner loop reads side by side.
    const std::size_t nq = query.size();
    std::vector<float> qx(nq), qy(nq), qd(nq);
    std::vector<int> qv(nq), qi(nq);
    std::vector<char> hidden(nq, 0);
    {
        std::vector<int> fill(start.begin(), start.end() - 1);
        for (std::size_t q = 0; q < nq; ++q) {
            const int v = query[q];
            const auto k = static_cast<std::size_t>(fill[static_cast<std::size_t>(cell_of(points(v, 0), points(v, 1)))]++);
            qx[k] = points(v, 0);
            qy[k] = points(v, 1);
            qd[k] = depth(v) + tolerance;
            qv[k] = v;
            qi[k] = static_cast<int>(q);
        }
    }

    // Most triangles lie away from the queries. A triangle's box misses the queries' box exactly when
    // its three corners lie beyond one same side of it: one outcode per vertex (Cohen-Sutherland), then
    // a branch-free pass over the triangles keeps the others (about a third) before any set-up.
    const Eigen::Index num_points = points.rows();
    std::vector<unsigned char> outcode(static_cast<std::size_t>(num_points));
    for (Eigen::Index v = 0; v < num_points; ++v) {
        const float x = points(v, 0), y = points(v, 1);
        outcode[static_cast<std::size_t>(v)] = static_cast<unsigned char>((x < lo.x()) | ((x > hi.x()) << 1) | ((y < lo.y()) << 2) |
                                                                          ((y > hi.y()) << 3));
    }
    std::vector<int> near(triangles.size());
    std::size_t count = 0;
    for (std::size_t tri = 0; tri < triangles.size(); ++tri) {
        const auto& t = triangles[tri];
        const auto o = static_cast<unsigned char>(outcode[static_cast<std::size_t>(t[0])] & outcode[static_cast<std::size_t>(t[1])] &
                                                  outcode[static_cast<std::size_t>(t[2])]);
        near[count] = static_cast<int>(tri);
        count += (o == 0) & (occluders.empty() || occluders[tri] != 0);
    }
    for (std::size_t n = 0; n < count; ++n) {
        const auto& t = triangles[static_cast<std::size_t>(near[n])];
        const float x0 = std::min({points(t[0], 0), points(t[1], 0), points(t[2], 0)});
        const float x1 = std::max({points(t[0], 0), points(t[1], 0), points(t[2], 0)});
        const float y0 = std::min({points(t[0], 1), points(t[1], 1), points(t[2], 1)});
        const float y1 = std::max({points(t[0], 1), points(t[1], 1), points(t[2], 1)});
        const int i0 = std::max(0, static_cast<int>((x0 - lo.x()) / cell)), i1 = std::min(nx - 1, static_cast<int>((x1 - lo.x()) / cell));
        const int j0 = std::max(0, static_cast<int>((y0 - lo.y()) / cell)), j1 = std::min(ny - 1, static_cast<int>((y1 - lo.y()) / cell));
        // The queries lie along a curve: most boxes that reach the queries' box cover only empty cells,
        // so the triangle is set up only when a cell holds a query.
        ScreenTriangle s{};
        bool ready = false;
        for (int j = j0; j <= j1; ++j) {
            for (int i = i0; i <= i1; ++i) {
                const int c = j * nx + i;
                for (int k = start[static_cast<std::size_t>(c)]; k < start[static_cast<std::size_t>(c) + 1]; ++k) {
                    const int v = qv[static_cast<std::size_t>(k)];
                    if (hidden[static_cast<std::size_t>(k)] || v == t[0] || v == t[1] || v == t[2]) continue;
                    if (!ready) {
                        s = ScreenTriangle::from(points, t);
                        ready = true;
                    }
                    if (s.area == 0.0f) break;
                    float w0, w1, w2;
                    if (!s.weights(qx[static_cast<std::size_t>(k)], qy[static_cast<std::size_t>(k)], w0, w1, w2)) continue;
                    if (w0 * depth(t[0]) + w1 * depth(t[1]) + w2 * depth(t[2]) > qd[static_cast<std::size_t>(k)]) hidden[static_cast<std::size_t>(k)] = 1;
                }
            }
        }
    }
    std::vector<bool> visible(nq, true);
    for (std::size_t k = 0; k < nq; ++k)
        if (hidden[k]) visible[static_cast<std::size_t>(qi[k])] = false;
    return visible;
}

}  // namespace faceflt::render
