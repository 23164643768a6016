#include "faceflt/fitting/contour.hpp"

#include "faceflt/core/visibility.hpp"

#include <Eigen/Geometry>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace faceflt::fitting {

namespace {

bool valid(const core::Points2& p, int i) { return std::isfinite(p(i, 0)) && std::isfinite(p(i, 1)); }

void append(Correspondences& c, const Eigen::Vector2f& p, int vertex) {
    const auto n = c.image_points.rows();
    c.image_points.conservativeResize(n + 1, 2);
    c.image_points.row(n) = p;
    c.vertices.push_back(vertex);
}

void match_to_contour(Correspondences& out, const core::Points2& landmarks, const std::vector<int>& landmark_ids,
                      const std::vector<int>& contour, const core::Points2& contour_projected) {
    for (int lm : landmark_ids) {
        if (!valid(landmarks, lm)) continue;
        Eigen::Index best = 0;
        (contour_projected.rowwise() - landmarks.row(lm)).rowwise().squaredNorm().minCoeff(&best);
        append(out, landmarks.row(lm), contour[static_cast<std::size_t>(best)]);
    }
}

}  // namespace

Correspondences contour_correspondences(const model::FaceModel& model, const core::Points2& landmarks, const core::Vertices& mesh,
                                        const Camera& camera, float yaw, float threshold) {
    Correspondences out;
    out.image_points.resize(0, 2);
    auto project_ids = [&](const std::vector<int>& ids) {
        core::Points2 p(static_cast<Eigen::Index>(ids.size()), 2);
        for (std::size_t i = 0; i < ids.size(); ++i) p.row(static_cast<Eigen::Index>(i)) = camera.project(Eigen::Vector3f(mesh.row(ids[i])));
        return p;
    };
    // Positive yaw turns the face to the subject's left, hiding the image's left contour.
    if (yaw >= -threshold) match_to_contour(out, landmarks, model.mapping.right_contour_landmarks, model.contour.right, project_ids(model.contour.right));
    if (yaw <= threshold) match_to_contour(out, landmarks, model.mapping.left_contour_landmarks, model.contour.left, project_ids(model.contour.left));
    return out;
}

std::vector<int> visible_silhouette_vertices(const model::FaceModel& model, const core::Points2& projected, const Eigen::VectorXf& depth,
                                             const core::Points2& near, const std::vector<float>& radius) {
    const auto& tris = model.triangles;
    const auto& patches = model.patches;
    const auto num_vertices = static_cast<std::size_t>(projected.rows());
    const float* p = projected.data();
    auto within = [&](float x, float y) {  // near some landmark; false for NaN rows
        for (Eigen::Index i = 0; i < near.rows(); ++i) {
            const float r = radius[static_cast<std::size_t>(i)], dx = x - near(i, 0), dy = y - near(i, 1);
            if (dx * dx + dy * dy <= r * r) return true;
        }
        return false;
    };

    // Only patches whose box comes within a radius of a landmark can hold a candidate. A silhouette
    // edge's triangles both hold its ends, so they lie in such patches when an end is a candidate.
    const auto boxes = core::patch_boxes(patches, projected);
    std::vector<int> near_patches;
    for (int k = 0; k < patches.size(); ++k) {
        const auto& b = boxes[static_cast<std::size_t>(k)];
        // The box's nearest point to each landmark; it is no farther than any vertex in the box.
        for (Eigen::Index i = 0; i < near.rows(); ++i) {
            const float x = std::clamp(near(i, 0), b[0], b[2]), y = std::clamp(near(i, 1), b[1], b[3]);
            const float r = radius[static_cast<std::size_t>(i)], dx = x - near(i, 0), dy = y - near(i, 1);
            if (dx * dx + dy * dy <= r * r) {
                near_patches.push_back(k);
                break;
            }
        }
    }
    // A triangle faces the camera when its projection turns clockwise in the y-down image: the sign
    // of the 2D cross product is that of the rotated normal's z (the camera is orthographic).
    // (Loops through local pointers: their byte stores could alias any vector's own pointers.)
    std::vector<unsigned char> front_flags(tris.size(), 0);
    unsigned char* front = front_flags.data();
    const std::array<int, 3>* corners = tris.data();
    const int* members = patches.triangles.data();
    for (int k : near_patches) {
        const int last = patches.triangle_start[static_cast<std::size_t>(k) + 1];
        for (int i = patches.triangle_start[static_cast<std::size_t>(k)]; i < last; ++i) {
            const int t = members[i];
            const int a = 2 * corners[t][0], b = 2 * corners[t][1], c = 2 * corners[t][2];
            front[t] = (p[b] - p[a]) * (p[c + 1] - p[a + 1]) - (p[b + 1] - p[a + 1]) * (p[c] - p[a]) < 0.0f;
        }
    }
    // Silhouette vertices: the ends of the interior edges between a front- and a back-facing
    // triangle. (An edge with a triangle outside the near patches has no end near a landmark; the
    // test below drops what it marks.)
    std::vector<unsigned char> candidate_flags(num_vertices, 0);
    unsigned char* candidate = candidate_flags.data();
    const std::array<int, 2>* faces = model.topology.adjacent_faces.data();
    const std::array<int, 2>* ends = model.topology.adjacent_vertices.data();
    const int* edges = patches.edges.data();
    for (int k : near_patches) {
        const int last = patches.edge_start[static_cast<std::size_t>(k) + 1];
        for (int i = patches.edge_start[static_cast<std::size_t>(k)]; i < last; ++i) {
            const int e = edges[i];
            if (front[faces[e][0]] == front[faces[e][1]]) continue;
            candidate[ends[e][0]] = 1;
            candidate[ends[e][1]] = 1;
        }
    }
    std::vector<int> candidates;
    for (int k : near_patches) {
        for (int i = patches.vertex_start[static_cast<std::size_t>(k)]; i < patches.vertex_start[static_cast<std::size_t>(k) + 1]; ++i) {
            const int v = patches.vertices[static_cast<std::size_t>(i)];
            if (candidate[v] == 1 && within(p[2 * v], p[2 * v + 1])) candidates.push_back(v);
            candidate[v] = 2;  // a vertex of several patches is looked at once
        }
    }
    std::sort(candidates.begin(), candidates.end());
    // Hidden means behind another surface by more than a millimetre (a nose or cheek is centimetres).
    const auto seen = core::visible_vertices(projected, depth, tris, patches, /*front_only=*/true, candidates, /*tolerance=*/1.0f, &boxes);
    std::vector<int> out;
    for (std::size_t i = 0; i < candidates.size(); ++i)
        if (seen[i]) out.push_back(candidates[i]);
    return out;
}

Correspondences occluding_edge_correspondences(const core::Points2& projected_mesh, const std::vector<int>& silhouette,
                                               const core::Points2& landmarks, const std::vector<int>& landmark_ids,
                                               float threshold, float scale) {
    Correspondences out;
    out.image_points.resize(0, 2);
    std::vector<int> ids;
    for (int lm : landmark_ids)
        if (valid(landmarks, lm)) ids.push_back(lm);
    if (ids.empty()) return out;
    const float max_sq = threshold * scale;
    for (int v : silhouette) {
        float best = std::numeric_limits<float>::infinity();
        int best_lm = -1;
        for (int lm : ids) {
            const float d = (projected_mesh.row(v) - landmarks.row(lm)).squaredNorm();
            if (d < best) {
                best = d;
                best_lm = lm;
            }
        }
        if (best <= max_sq) append(out, landmarks.row(best_lm), v);
    }
    return out;
}

}  // namespace faceflt::fitting
