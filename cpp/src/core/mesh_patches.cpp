#include "faceflt/core/mesh_patches.hpp"

#include <algorithm>
#include <numeric>

namespace faceflt::core {

namespace {

void split(const std::vector<Eigen::Vector3f>& centroids, std::vector<int>::iterator first, std::vector<int>::iterator last,
           int max_triangles, std::vector<int>& starts, int offset) {
    const auto n = static_cast<int>(last - first);
    if (n <= max_triangles) {
        starts.push_back(offset + n);
        return;
    }
    Eigen::Vector3f lo = centroids[static_cast<std::size_t>(*first)], hi = lo;
    for (auto it = first; it != last; ++it) {
        lo = lo.cwiseMin(centroids[static_cast<std::size_t>(*it)]);
        hi = hi.cwiseMax(centroids[static_cast<std::size_t>(*it)]);
    }
    Eigen::Index axis = 0;
    (hi - lo).maxCoeff(&axis);
    const auto middle = first + n / 2;
    std::nth_element(first, middle, last, [&](int a, int b) {
        return centroids[static_cast<std::size_t>(a)](axis) < centroids[static_cast<std::size_t>(b)](axis);
    });
    split(centroids, first, middle, max_triangles, starts, offset);
    split(centroids, middle, last, max_triangles, starts, offset + n / 2);
}

}  // namespace

MeshPatches make_patches(const Vertices& mesh, const Triangles& triangles, const std::vector<std::array<int, 2>>& edge_faces,
                         int max_triangles) {
    MeshPatches p;
    std::vector<Eigen::Vector3f> centroids(triangles.size());
    for (std::size_t t = 0; t < triangles.size(); ++t) {
        centroids[t] = (mesh.row(triangles[t][0]) + mesh.row(triangles[t][1]) + mesh.row(triangles[t][2])).transpose() / 3.0f;
    }
    p.triangles.resize(triangles.size());
    std::iota(p.triangles.begin(), p.triangles.end(), 0);
    p.triangle_start = {0};
    if (!triangles.empty()) split(centroids, p.triangles.begin(), p.triangles.end(), std::max(1, max_triangles), p.triangle_start, 0);

    std::vector<int> patch_of(triangles.size());
    p.vertex_start = {0};
    for (int k = 0; k < p.size(); ++k) {
        std::vector<int> corners;
        for (int i = p.triangle_start[static_cast<std::size_t>(k)]; i < p.triangle_start[static_cast<std::size_t>(k) + 1]; ++i) {
            const int t = p.triangles[static_cast<std::size_t>(i)];
            patch_of[static_cast<std::size_t>(t)] = k;
            corners.insert(corners.end(), triangles[static_cast<std::size_t>(t)].begin(), triangles[static_cast<std::size_t>(t)].end());
        }
        std::sort(corners.begin(), corners.end());
        corners.erase(std::unique(corners.begin(), corners.end()), corners.end());
        p.vertices.insert(p.vertices.end(), corners.begin(), corners.end());
        p.vertex_start.push_back(static_cast<int>(p.vertices.size()));
    }

    std::vector<std::vector<int>> edges(static_cast<std::size_t>(p.size()));
    for (std::size_t e = 0; e < edge_faces.size(); ++e) {
        const auto& f = edge_faces[e];
        if (f[0] >= 0 && f[1] >= 0) edges[static_cast<std::size_t>(patch_of[static_cast<std::size_t>(f[0])])].push_back(static_cast<int>(e));
    }
    p.edge_start = {0};
    for (const auto& list : edges) {
        p.edges.insert(p.edges.end(), list.begin(), list.end());
        p.edge_start.push_back(static_cast<int>(p.edges.size()));
    }
    return p;
}

std::vector<std::array<float, 4>> patch_boxes(const MeshPatches& patches, const Points2& points) {
    std::vector<std::array<float, 4>> boxes(static_cast<std::size_t>(patches.size()));
    const float* xy = points.data();
    for (int k = 0; k < patches.size(); ++k) {
        const int first = patches.vertex_start[static_cast<std::size_t>(k)], last = patches.vertex_start[static_cast<std::size_t>(k) + 1];
        const auto v0 = static_cast<std::size_t>(patches.vertices[static_cast<std::size_t>(first)]);
        float x0 = xy[2 * v0], y0 = xy[2 * v0 + 1], x1 = x0, y1 = y0;
        for (int i = first + 1; i < last; ++i) {
            const auto v = static_cast<std::size_t>(patches.vertices[static_cast<std::size_t>(i)]);
            x0 = std::min(x0, xy[2 * v]), x1 = std::max(x1, xy[2 * v]);
            y0 = std::min(y0, xy[2 * v + 1]), y1 = std::max(y1, xy[2 * v + 1]);
        }
        boxes[static_cast<std::size_t>(k)] = {x0, y0, x1, y1};
    }
    return boxes;
}

}  // namespace faceflt::core
