#include "faceflt/fitting/contour.hpp"

#include "faceflt/render/visibility.hpp"

#include <Eigen/Geometry>
#include <algorithm>
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

std::vector<int> visible_silhouette_vertices(const model::FaceModel& model, const core::Vertices& mesh, const Camera& camera,
                                             const core::Points2& near, const std::vector<float>& radius) {
    const auto& tris = model.triangles;
    const core::Points2 projected = camera.project(mesh);
    const Eigen::VectorXf depth = mesh * camera.rotation.row(2).transpose();
    // A triangle faces the camera when its projection turns clockwise in the y-down image: the sign
    // of the 2D cross product is that of the rotated normal's z (the camera is orthographic).
    std::vector<char> front(tris.size());
    std::vector<int> front_ids;
    front_ids.reserve(tris.size());
    const float* p = projected.data();
    for (std::size_t t = 0; t < tris.size(); ++t) {
        const int a = 2 * tris[t][0], b = 2 * tris[t][1], c = 2 * tris[t][2];
        const float area = (p[b] - p[a]) * (p[c + 1] - p[a + 1]) - (p[b + 1] - p[a + 1]) * (p[c] - p[a]);
        front[t] = area < 0.0f;
        if (front[t]) front_ids.push_back(static_cast<int>(t));
    }
    std::vector<char> candidate(static_cast<std::size_t>(mesh.rows()), 0);
    for (std::size_t e = 0; e < model.topology.adjacent_faces.size(); ++e) {
        const auto& f = model.topology.adjacent_faces[e];
        if (f[0] < 0 || f[1] < 0) continue;  // a border edge of the open mesh, not a silhouette
        if (front[static_cast<std::size_t>(f[0])] != front[static_cast<std::size_t>(f[1])]) {
            candidate[static_cast<std::size_t>(model.topology.adjacent_vertices[e][0])] = 1;
            candidate[static_cast<std::size_t>(model.topology.adjacent_vertices[e][1])] = 1;
        }
    }

    std::vector<int> candidates;
    for (Eigen::Index v = 0; v < mesh.rows(); ++v) {
        if (!candidate[static_cast<std::size_t>(v)]) continue;
        for (Eigen::Index i = 0; i < near.rows(); ++i) {
            const float r = radius[static_cast<std::size_t>(i)];
            if ((projected.row(v) - near.row(i)).squaredNorm() <= r * r) {  // false for NaN rows
                candidates.push_back(static_cast<int>(v));
                break;
            }
        }
    }
    // Hidden means behind another surface by more than a millimetre (a nose or cheek is centimetres).
    const auto seen = render::visible_vertices(projected, depth, tris, front_ids, candidates, /*tolerance=*/1.0f);
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
