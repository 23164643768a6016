#include "faceflt/render/visibility.hpp"

#include "faceflt/render/triangle.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace faceflt::render {

std::vector<bool> visible_vertices(const core::Points2& points, const Eigen::VectorXf& depth, const core::Triangles& triangles,
                                   const std::vector<int>& occluders, const std::vector<int>& query, float tolerance) {
    if (query.empty() || occluders.empty()) return std::vector<bool>(query.size(), true);
    const auto num_points = static_cast<std::size_t>(points.rows());
    const float* xy = points.data();

    // Grid over the queries' bounding box; cells about as large as the mean triangle, so a triangle
    // overlaps few cells and a cell holds few queries.
    float lo_x = xy[2 * query[0]], lo_y = xy[2 * query[0] + 1], hi_x = lo_x, hi_y = lo_y;
    for (int v : query) {
        lo_x = std::min(lo_x, xy[2 * v]), hi_x = std::max(hi_x, xy[2 * v]);
        lo_y = std::min(lo_y, xy[2 * v + 1]), hi_y = std::max(hi_y, xy[2 * v + 1]);
    }
    float min_x = xy[0], max_x = xy[0], min_y = xy[1], max_y = xy[1];
    for (std::size_t v = 0; v < num_points; ++v) {
        min_x = std::min(min_x, xy[2 * v]), max_x = std::max(max_x, xy[2 * v]);
        min_y = std::min(min_y, xy[2 * v + 1]), max_y = std::max(max_y, xy[2 * v + 1]);
    }
    const float cell = std::max(1e-3f, std::sqrt((max_x - min_x) * (max_y - min_y) / static_cast<float>(triangles.size())));
    const float inv_cell = 1.0f / cell;
    const int nx = static_cast<int>((hi_x - lo_x) * inv_cell) + 1, ny = static_cast<int>((hi_y - lo_y) * inv_cell) + 1;

    // Every vertex's cell, -1 or n beyond either side: floor((x - lo) / cell) clamped, computed as a
    // truncation of a non-negative number. The map is monotonic, so a triangle's box covers exactly
    // the cells between its corners' cells, and a query inside the triangle lies in one of them.
    std::vector<std::array<int, 2>> cells(num_points);
    const float cap_x = static_cast<float>(nx + 1), cap_y = static_cast<float>(ny + 1);
    for (std::size_t v = 0; v < num_points; ++v) {
        cells[v][0] = static_cast<int>(std::min(cap_x, std::max(0.0f, (xy[2 * v] - lo_x) * inv_cell + 1.0f))) - 1;
        cells[v][1] = static_cast<int>(std::min(cap_y, std::max(0.0f, (xy[2 * v + 1] - lo_y) * inv_cell + 1.0f))) - 1;
    }

    // The queries sorted by cell, with what the inner loop reads side by side, and a summed-area
    // table of their count: how many queries a box of cells holds is four lookups.
    const std::size_t nq = query.size();
    const auto cell_of = [&](int v) {
        const auto& c = cells[static_cast<std::size_t>(v)];
        return static_cast<std::size_t>(std::min(c[1], ny - 1) * nx + std::min(c[0], nx - 1));
    };
    std::vector<int> start(static_cast<std::size_t>(nx * ny) + 1, 0);
    for (int v : query) ++start[cell_of(v) + 1];
    const int sx = nx + 1;
    std::vector<int> table(static_cast<std::size_t>(sx * (ny + 1)), 0);
    for (int j = 0; j < ny; ++j) {
        int row = 0;
        for (int i = 0; i < nx; ++i) {
            row += start[static_cast<std::size_t>(j * nx + i) + 1];
            table[static_cast<std::size_t>((j + 1) * sx + i + 1)] = table[static_cast<std::size_t>(j * sx + i + 1)] + row;
        }
    }
    for (std::size_t c = 1; c < start.size(); ++c) start[c] += start[c - 1];
    std::vector<float> qx(nq), qy(nq), qd(nq);
    std::vector<int> qv(nq), qi(nq);
    std::vector<char> hidden(nq, 0);
    {
        std::vector<int> fill(start.begin(), start.end() - 1);
        for (std::size_t q = 0; q < nq; ++q) {
            const int v = query[q];
            const auto k = static_cast<std::size_t>(fill[cell_of(v)]++);
            qx[k] = xy[2 * v];
            qy[k] = xy[2 * v + 1];
            qd[k] = depth(v) + tolerance;
            qv[k] = v;
            qi[k] = static_cast<int>(q);
        }
    }

    // The queries lie along a curve, and most triangles' boxes hold none of them: a branch-free pass
    // keeps the others (a few hundred of the SFM's 6736) before any set-up.
    std::vector<int> hits(occluders.size());
    std::vector<int> boxes(4 * occluders.size());
    std::size_t count = 0;
    for (int tri : occluders) {
        const auto& t = triangles[static_cast<std::size_t>(tri)];
        const auto& a = cells[static_cast<std::size_t>(t[0])];
        const auto& b = cells[static_cast<std::size_t>(t[1])];
        const auto& c = cells[static_cast<std::size_t>(t[2])];
        const int i0 = std::max(0, std::min({a[0], b[0], c[0]})), i1 = std::min(nx - 1, std::max({a[0], b[0], c[0]}));
        const int j0 = std::max(0, std::min({a[1], b[1], c[1]})), j1 = std::min(ny - 1, std::max({a[1], b[1], c[1]}));
        // An empty box (i0 > i1: all corners beyond one side) counts no query: clamp it to a cell pair
        // that sums to zero.
        const int u0 = std::min(i0, i1 + 1), v0 = std::min(j0, j1 + 1);
        const int held = table[static_cast<std::size_t>((j1 + 1) * sx + i1 + 1)] - table[static_cast<std::size_t>(v0 * sx + i1 + 1)] -
                         table[static_cast<std::size_t>((j1 + 1) * sx + u0)] + table[static_cast<std::size_t>(v0 * sx + u0)];
        boxes[4 * count] = i0, boxes[4 * count + 1] = i1, boxes[4 * count + 2] = j0, boxes[4 * count + 3] = j1;
        hits[count] = tri;
        count += static_cast<std::size_t>(held > 0);
    }
    for (std::size_t n = 0; n < count; ++n) {
        const auto& t = triangles[static_cast<std::size_t>(hits[n])];
        const ScreenTriangle s = ScreenTriangle::from(points, t);
        if (s.area == 0.0f) continue;
        const float d0 = depth(t[0]), d1 = depth(t[1]), d2 = depth(t[2]);
        for (int j = boxes[4 * n + 2]; j <= boxes[4 * n + 3]; ++j) {
            const int first = start[static_cast<std::size_t>(j * nx + boxes[4 * n])];
            const int last = start[static_cast<std::size_t>(j * nx + boxes[4 * n + 1]) + 1];
            for (int k = first; k < last; ++k) {  // the queries of the box's cells in row j
                const auto q = static_cast<std::size_t>(k);
                const int v = qv[q];
                if (hidden[q] || v == t[0] || v == t[1] || v == t[2]) continue;
                float w0, w1, w2;
                if (!s.weights(qx[q], qy[q], w0, w1, w2)) continue;
                if (w0 * d0 + w1 * d1 + w2 * d2 > qd[q]) hidden[q] = 1;
            }
        }
    }
    std::vector<bool> visible(nq, true);
    for (std::size_t k = 0; k < nq; ++k)
        if (hidden[k]) visible[static_cast<std::size_t>(qi[k])] = false;
    return visible;
}

}  // namespace faceflt::render
