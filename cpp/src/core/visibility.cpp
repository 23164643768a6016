#include "faceflt/core/visibility.hpp"

#include "faceflt/core/triangle.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace faceflt::core {

std::vector<bool> visible_vertices(const core::Points2& points, const Eigen::VectorXf& depth, const core::Triangles& triangles,
                                   const core::MeshPatches& patches, bool front_only, const std::vector<int>& query, float tolerance,
                                   const std::vector<std::array<float, 4>>* patch_boxes) {
    if (query.empty() || patches.size() == 0) return std::vector<bool>(query.size(), true);
    const float* xy = points.data();
    std::vector<std::array<float, 4>> own_boxes;
    if (!patch_boxes) own_boxes = core::patch_boxes(patches, points);
    const auto& boxes = patch_boxes ? *patch_boxes : own_boxes;

    // Grid over the queries' bounding box; cells about as large as the mean triangle, so a triangle
    // overlaps few cells and a cell holds few queries.
    float lo_x = xy[2 * query[0]], lo_y = xy[2 * query[0] + 1], hi_x = lo_x, hi_y = lo_y;
    bool finite = true;
    for (int v : query) {
        lo_x = std::min(lo_x, xy[2 * v]), hi_x = std::max(hi_x, xy[2 * v]);
        lo_y = std::min(lo_y, xy[2 * v + 1]), hi_y = std::max(hi_y, xy[2 * v + 1]);
        finite &= std::isfinite(xy[2 * v]) && std::isfinite(xy[2 * v + 1]);
    }
    std::array<float, 4> extent = boxes.front();
    for (const auto& b : boxes) extent = {std::min(extent[0], b[0]), std::min(extent[1], b[1]), std::max(extent[2], b[2]), std::max(extent[3], b[3])};
    // (At most 1024 cells a side, however thin the mesh's projection.)
    const float cell = std::max({1e-3f, std::sqrt((extent[2] - extent[0]) * (extent[3] - extent[1]) / static_cast<float>(triangles.size())),
                                 (hi_x - lo_x) / 1024.0f, (hi_y - lo_y) / 1024.0f});
    if (!finite || !std::isfinite(cell)) return std::vector<bool>(query.size(), true);
    const float inv_cell = 1.0f / cell;
    const int nx = static_cast<int>((hi_x - lo_x) * inv_cell) + 1, ny = static_cast<int>((hi_y - lo_y) * inv_cell) + 1;

    // A point's cell, -1 or n beyond either side: floor((x - lo) / cell) clamped, computed as a
    // truncation of a non-negative number. The map is monotonic, so a box covers exactly the cells
    // between its corners' cells, and a query inside a triangle lies in one of its box's cells.
    const float cap_x = static_cast<float>(nx + 1), cap_y = static_cast<float>(ny + 1);
    const auto column = [&](float x) { return static_cast<int>(std::min(cap_x, std::max(0.0f, (x - lo_x) * inv_cell + 1.0f))) - 1; };
    const auto row = [&](float y) { return static_cast<int>(std::min(cap_y, std::max(0.0f, (y - lo_y) * inv_cell + 1.0f))) - 1; };
    const auto num_points = static_cast<std::size_t>(points.rows());
    std::vector<std::array<int, 2>> cells(num_points);
    for (std::size_t v = 0; v < num_points; ++v) cells[v] = {column(xy[2 * v]), row(xy[2 * v + 1])};

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
        int in_row = 0;
        for (int i = 0; i < nx; ++i) {
            in_row += start[static_cast<std::size_t>(j * nx + i) + 1];
            table[static_cast<std::size_t>((j + 1) * sx + i + 1)] = table[static_cast<std::size_t>(j * sx + i + 1)] + in_row;
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

    // A box of cells (clamped to the grid) and how many queries it holds; an empty box (all corners
    // beyond one side) holds none.
    struct Box {
        int i0, i1, j0, j1;
    };
    // (Through local pointers: the int stores of the passes below could alias the vectors' own.)
    const int* sums = table.data();
    const std::array<int, 2>* cell_at = cells.data();
    const auto held = [sums, sx](const Box& b) {
        const int u0 = std::min(b.i0, b.i1 + 1), v0 = std::min(b.j0, b.j1 + 1);
        return sums[(b.j1 + 1) * sx + b.i1 + 1] - sums[v0 * sx + b.i1 + 1] - sums[(b.j1 + 1) * sx + u0] + sums[v0 * sx + u0];
    };
    const auto box_of = [cell_at, nx, ny](const std::array<int, 3>& t) {
        const auto& a = cell_at[t[0]];
        const auto& b = cell_at[t[1]];
        const auto& c = cell_at[t[2]];
        return Box{std::max(0, std::min({a[0], b[0], c[0]})), std::min(nx - 1, std::max({a[0], b[0], c[0]})),
                   std::max(0, std::min({a[1], b[1], c[1]})), std::min(ny - 1, std::max({a[1], b[1], c[1]}))};
    };

    // The queries lie along a curve: most patches, and most triangles of the others, cover no cell
    // that holds one. Branch-free passes keep the rest (a few hundred of the SFM's 6736 triangles).
    std::vector<int> hits(triangles.size());
    int* hit = hits.data();
    std::size_t count = 0;
    const std::array<int, 3>* tris = triangles.data();
    const int* members = patches.triangles.data();
    for (int k = 0; k < patches.size(); ++k) {
        const auto& pb = boxes[static_cast<std::size_t>(k)];
        const Box patch{std::max(0, column(pb[0])), std::min(nx - 1, column(pb[2])), std::max(0, row(pb[1])), std::min(ny - 1, row(pb[3]))};
        if (held(patch) == 0) continue;
        const int last = patches.triangle_start[static_cast<std::size_t>(k) + 1];
        for (int i = patches.triangle_start[static_cast<std::size_t>(k)]; i < last; ++i) {
            const int tri = members[i];
            const auto& t = tris[tri];
            const int a = 2 * t[0], b = 2 * t[1], c = 2 * t[2];
            const float area = (xy[b] - xy[a]) * (xy[c + 1] - xy[a + 1]) - (xy[b + 1] - xy[a + 1]) * (xy[c] - xy[a]);
            hit[count] = tri;
            count += static_cast<std::size_t>((held(box_of(t)) > 0) & (!front_only | (area < 0.0f)));
        }
    }
    // Local copies of everything the inner loop reads: its byte stores could alias anything else.
    const float *px = qx.data(), *py = qy.data(), *pd = qd.data();
    const int* pv = qv.data();
    char* out = hidden.data();
    for (std::size_t n = 0; n < count; ++n) {
        const auto& t = triangles[static_cast<std::size_t>(hits[n])];
        const ScreenTriangle s = ScreenTriangle::from(points, t);
        if (s.area == 0.0f) continue;
        const int t0 = t[0], t1 = t[1], t2 = t[2];
        const float d0 = depth(t0), d1 = depth(t1), d2 = depth(t2);
        const Box b = box_of(t);
        for (int j = b.j0; j <= b.j1; ++j) {
            const int first = start[static_cast<std::size_t>(j * nx + b.i0)];
            const int last = start[static_cast<std::size_t>(j * nx + b.i1) + 1];
            // The queries of the box's cells in row j, without branches: the whole row is tested.
            for (int k = first; k < last; ++k) {
                const int v = pv[k];
                float w0, w1, w2;
                s.weights(px[k], py[k], w0, w1, w2);
                const bool inside = (w0 >= 0.0f) & (w1 >= 0.0f) & (w2 >= 0.0f);
                const bool corner = (v == t0) | (v == t1) | (v == t2);
                out[k] |= static_cast<char>(inside & !corner & (w0 * d0 + w1 * d1 + w2 * d2 > pd[k]));
            }
        }
    }
    std::vector<bool> visible(nq, true);
    for (std::size_t k = 0; k < nq; ++k)
        if (hidden[k]) visible[static_cast<std::size_t>(qi[k])] = false;
    return visible;
}

}  // namespace faceflt::core
