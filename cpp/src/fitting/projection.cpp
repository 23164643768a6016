#include "faceflt/fitting/projection.hpp"

#include "faceflt/fitting/contour.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace faceflt::fitting {

namespace {

// The guide's jaw landmarks of one side matched to the nearest of the candidate vertices.
// Without a guide, a landmark takes the contour vertex at its relative position along the side; `reversed`
// says that the landmark list and the contour run in opposite directions (chin to ear against ear to chin).
void place_side(core::Points2& out, std::vector<int>& chosen, const std::vector<int>& landmark_ids, const std::vector<int>& contour,
                bool reversed, const std::vector<int>& silhouette, const core::Points2& projected, const core::Points2& guide) {
    const auto n = static_cast<int>(landmark_ids.size());
    for (int k = 0; k < n; ++k) {
        const int lm = landmark_ids[static_cast<std::size_t>(k)];
        const bool guided = lm < guide.rows() && std::isfinite(guide(lm, 0)) && std::isfinite(guide(lm, 1));
        if (!guided) {
            const int along = reversed ? n - 1 - k : k;
            const int at = n > 1 ? static_cast<int>(std::lround(double(along) * double(contour.size() - 1) / double(n - 1))) : 0;
            chosen[static_cast<std::size_t>(lm)] = contour[static_cast<std::size_t>(at)];
            out.row(lm) = projected.row(chosen[static_cast<std::size_t>(lm)]);
            continue;
        }
        float best = std::numeric_limits<float>::infinity();
        int best_v = contour.front();
        auto consider = [&](int v) {
            const float d = (projected.row(v) - guide.row(lm)).squaredNorm();
            if (d < best) {
                best = d;
                best_v = v;
            }
        };
        for (int v : contour) consider(v);
        for (int v : silhouette) consider(v);
        chosen[static_cast<std::size_t>(lm)] = best_v;
        out.row(lm) = projected.row(best_v);
    }
}

// Whether a side's landmark list runs the other way from its model contour. The chin end of the landmark
// list is the end nearer (by landmark number) to the other side's list, as in iBUG's 1-8 / 10-17; the chin end
// of the contour is its lower end on the mean face (model y points up).
bool side_reversed(const model::FaceModel& model, const std::vector<int>& landmark_ids, const std::vector<int>& other_ids,
                   const std::vector<int>& contour) {
    if (landmark_ids.size() < 2 || contour.size() < 2 || other_ids.empty()) return false;
    const auto [lo, hi] = std::minmax_element(other_ids.begin(), other_ids.end());
    auto gap = [&](int lm) { return std::min(std::abs(lm - *lo), std::abs(lm - *hi)); };
    const bool landmarks_end_at_chin = gap(landmark_ids.back()) < gap(landmark_ids.front());
    auto height = [&](int v) { return model.shape.mean(3 * v + 1); };
    const bool contour_ends_at_chin = height(contour.back()) < height(contour.front());
    return landmarks_end_at_chin != contour_ends_at_chin;
}

}  // namespace

core::Points2 project_landmarks(const model::FaceModel& model, const core::Vertices& mesh, const fitting::Camera& camera,
                                const core::Points2& guide, std::vector<int>* chosen_out) {
    core::Points2 projected;
    Eigen::VectorXf depth;
    camera.project(mesh, projected, &depth);
    core::Points2 out(model.mapping.num_landmarks, 2);
    out.setConstant(std::numeric_limits<float>::quiet_NaN());
    std::vector<int> chosen = model.landmark_vertices;
    for (int lm = 0; lm < model.mapping.num_landmarks; ++lm) {
        const int v = model.landmark_vertices[static_cast<std::size_t>(lm)];
        if (v >= 0) out.row(lm) = projected.row(v);
    }
    // A silhouette vertex can only win for a guide point if it is nearer than that side's best
    // model-contour vertex, so only those are tested for visibility.
    core::Points2 near(0, 2);
    std::vector<float> radius;
    auto add_side = [&](const std::vector<int>& landmark_ids, const std::vector<int>& contour) {
        for (int lm : landmark_ids) {
            if (lm >= guide.rows() || !std::isfinite(guide(lm, 0)) || !std::isfinite(guide(lm, 1))) continue;
            float best = std::numeric_limits<float>::infinity();
            for (int v : contour) best = std::min(best, (projected.row(v) - guide.row(lm)).squaredNorm());
            near.conservativeResize(near.rows() + 1, 2);
            near.row(near.rows() - 1) = guide.row(lm);
            radius.push_back(std::sqrt(best));
        }
    };
    add_side(model.mapping.right_contour_landmarks, model.contour.right);
    add_side(model.mapping.left_contour_landmarks, model.contour.left);
    const auto silhouette = fitting::visible_silhouette_vertices(model, projected, depth, near, radius);
    const auto& right = model.mapping.right_contour_landmarks;
    const auto& left = model.mapping.left_contour_landmarks;
    place_side(out, chosen, right, model.contour.right, side_reversed(model, right, left, model.contour.right), silhouette,
               projected, guide);
    place_side(out, chosen, left, model.contour.left, side_reversed(model, left, right, model.contour.left), silhouette,
               projected, guide);
    if (chosen_out) *chosen_out = std::move(chosen);
    return out;
}

}  // namespace faceflt::fitting
