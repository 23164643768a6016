#include "faceflt/fitting/fit.hpp"

#include "faceflt/core/errors.hpp"
#include "faceflt/core/kernels.hpp"
#include "faceflt/fitting/contour.hpp"
#include "faceflt/fitting/linear_fitting.hpp"
#include "faceflt/fitting/projection.hpp"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>

namespace faceflt::fitting {

namespace {

using model::ExpressionKind;
using model::FaceModel;

bool valid(const core::Points2& p, int i) { return std::isfinite(p(i, 0)) && std::isfinite(p(i, 1)); }

Correspondences fixed_correspondences(const FaceModel& model, const core::Points2& landmarks) {
    Correspondences c;
    std::vector<int> rows;
    for (int lm = 0; lm < static_cast<int>(model.landmark_vertices.size()); ++lm) {
        if (model.landmark_vertices[lm] >= 0 && valid(landmarks, lm)) {
            rows.push_back(lm);
            c.vertices.push_back(model.landmark_vertices[lm]);
        }
    }
    c.image_points.resize(static_cast<Eigen::Index>(rows.size()), 2);
    for (std::size_t i = 0; i < rows.size(); ++i) c.image_points.row(static_cast<Eigen::Index>(i)) = landmarks.row(rows[i]);
    return c;
}

void concat(Correspondences& a, const Correspondences& b) {
    const auto n = a.image_points.rows();
    a.image_points.conservativeResize(n + b.image_points.rows(), 2);
    a.image_points.bottomRows(b.image_points.rows()) = b.image_points;
    a.vertices.insert(a.vertices.end(), b.vertices.begin(), b.vertices.end());
}

core::Vertices gather(const Eigen::VectorXf& shape, const std::vector<int>& ids) {
    core::Vertices out(static_cast<Eigen::Index>(ids.size()), 3);
    for (std::size_t i = 0; i < ids.size(); ++i) out.row(static_cast<Eigen::Index>(i)) = shape.segment<3>(3 * ids[i]).transpose();
    return out;
}

Eigen::VectorXf pad(const Eigen::VectorXf& v, int n) {
    Eigen::VectorXf out = Eigen::VectorXf::Zero(n);
    const auto k = std::min<Eigen::Index>(v.size(), n);
    out.head(k) = v.head(k);
    return out;
}

// Per-frame state of the alternating fit.
struct State {
    Eigen::VectorXf shape_coeffs, expression_coeffs;
    Eigen::VectorXf identity;  // (3V,) mean + shape offset
    Eigen::VectorXf face;      // (3V,) identity + expression offset
    Camera camera;
    Correspondences fixed, current;
};

// The identity changes only with the shape coefficients; the face with either.
void update_identity(const FaceModel& model, State& s) {
    const auto& b = model.shape.rescaled_basis;
    s.identity = model.shape.mean;
    core::add_linear_combination(s.identity.data(), b.data(), b.rows(), b.cols(), s.shape_coeffs.data());
}

void update_face(const FaceModel& model, State& s) {
    const auto& b = model.expression.basis;
    s.face = s.identity + model.expression.mean;
    if (b.cols() > 0) core::add_linear_combination(s.face.data(), b.data(), b.rows(), b.cols(), s.expression_coeffs.data());
}

void fit_expression(const FaceModel& model, const FitOptions& o, State& s) {
    if (!o.fit_expression || model.expression.num_coefficients() == 0) return;
    NormalEquations eq;
    const Eigen::VectorXf base = s.identity + model.expression.mean;
    accumulate_normal_equations(eq, s.current, s.camera, base, model.expression_rows, model.expression.num_coefficients());
    s.expression_coeffs = model.expression.kind == ExpressionKind::Blendshapes ? solve_nonnegative(eq)
                                                                               : solve_regularised(eq, o.lambda_expression);
}

int num_shape(const FaceModel& model, const FitOptions& o) {
    const int m = model.shape.num_components();
    return o.num_shape_coefficients < 0 ? m : std::min(o.num_shape_coefficients, m);
}

void accumulate_shape(const FaceModel& model, const FitOptions& o, const State& s, NormalEquations& eq) {
    const Eigen::VectorXf base = s.face - s.identity + model.shape.mean;  // mean + expression offset
    accumulate_normal_equations(eq, s.current, s.camera, base, model.shape_rows, num_shape(model, o));
}

void set_shape(const FaceModel& model, const Eigen::VectorXf& coeffs, State& s) {
    if (!coeffs.allFinite()) throw core::FitError("the shape fit diverged (non-finite coefficients); is lambda_identity > 0?");
    s.shape_coeffs = pad(coeffs, model.shape.num_components());
    update_identity(model, s);
}

// Steps 1-3 of eos's loop: check the landmarks, first camera from the fixed points, first expression.
// Landmarks that cannot be a face: all at one point, or on a line (a face's usable points span an area).
void check_spread(const core::Points2& points) {
    const Eigen::RowVector2f mean = points.colwise().mean();
    const Eigen::Matrix2f cov = (points.rowwise() - mean).transpose() * (points.rowwise() - mean) / float(points.rows());
    const Eigen::Vector2f spread = Eigen::SelfAdjointEigenSolver<Eigen::Matrix2f>(cov).eigenvalues().cwiseMax(0.0f).cwiseSqrt();
    if (!(spread[1] >= 1.0f)) throw core::FitError("the landmarks lie within a pixel of one point; they are not a face");
    if (spread[0] < 0.02f * spread[1]) throw core::FitError("the landmarks lie on a line; they are not a face");
}

// A point far outside the image (beyond four image sizes) is no detector's output: it counts as missing,
// as NaN and inf do, instead of pulling the whole fit.
core::Points2 plausible(const core::Points2& landmarks, int width, int height) {
    core::Points2 out = landmarks;
    const float w = float(width), h = float(height);
    for (Eigen::Index i = 0; i < out.rows(); ++i) {
        const float x = out(i, 0), y = out(i, 1);
        if (!(x > -4.0f * w && x < 5.0f * w && y > -4.0f * h && y < 5.0f * h)) out.row(i).setConstant(std::numeric_limits<float>::quiet_NaN());
    }
    return out;
}

State initialise(const FaceModel& model, const core::Points2& landmarks, int height, const FitOptions& o, const FitStart& start) {
    State s;
    s.shape_coeffs = pad(start.shape_coeffs, model.shape.num_components());
    s.expression_coeffs = pad(start.expression_coeffs, model.expression.num_coefficients());
    s.fixed = fixed_correspondences(model, landmarks);
    const int usable = static_cast<int>(s.fixed.vertices.size());
    if (usable < std::max(4, o.min_landmarks)) {
        throw core::FitError("only " + std::to_string(usable) + " usable landmarks (non-contour, not NaN) remain, at least " +
                             std::to_string(std::max(4, o.min_landmarks)) + " are needed; was a face detected in this frame?");
    }
    check_spread(s.fixed.image_points);
    update_identity(model, s);
    update_face(model, s);
    s.current = s.fixed;
    s.camera = estimate_camera(s.fixed.image_points, gather(s.face, s.fixed.vertices), static_cast<float>(height));
    fit_expression(model, o, s);
    update_face(model, s);
    return s;
}

// Step 4a-d: this iteration's correspondences (fixed + contour + occluding edge), then the camera.
void correspond_and_pose(const FaceModel& model, const core::Points2& landmarks, const FitOptions& o, State& s) {
    s.current = s.fixed;
    const float yaw = yaw_pitch_roll(s.camera.rotation)[0];
    if (o.use_contour || o.use_occluding_edge) {
        const core::Vertices mesh = Eigen::Map<const core::Vertices>(s.face.data(), model.num_vertices(), 3);
        if (o.use_contour) concat(s.current, contour_correspondences(model, landmarks, mesh, s.camera, yaw, o.contour_yaw_threshold));
        if (o.use_occluding_edge) {
            const auto& side = yaw >= 0 ? model.mapping.left_contour_landmarks : model.mapping.right_contour_landmarks;
            core::Points2 near(static_cast<Eigen::Index>(side.size()), 2);
            for (std::size_t i = 0; i < side.size(); ++i) near.row(static_cast<Eigen::Index>(i)) = landmarks.row(side[i]);
            const std::vector<float> radius(side.size(), std::sqrt(o.edge_distance_threshold * s.camera.scale));
            core::Points2 projected;
            Eigen::VectorXf depth;
            s.camera.project(mesh, projected, &depth);
            const auto silhouette = visible_silhouette_vertices(model, projected, depth, near, radius);
            concat(s.current, occluding_edge_correspondences(projected, silhouette, landmarks, side, o.edge_distance_threshold,
                                                             s.camera.scale));
        }
    }
    s.camera = estimate_camera(s.current.image_points, gather(s.face, s.current.vertices), s.camera.image_height);
}

FrameFit finish(const FaceModel& model, const core::Points2& landmarks, const State& s) {
    if (!(std::isfinite(s.camera.scale) && s.camera.scale > 1e-6f) || !s.camera.rotation.allFinite() || !std::isfinite(s.camera.tx) ||
        !std::isfinite(s.camera.ty) || !s.shape_coeffs.allFinite() || !s.expression_coeffs.allFinite()) {
        throw core::FitError("the fit diverged (a camera or coefficients that are not finite); are the landmarks a face?");
    }
    FrameFit f;
    f.ok = true;
    f.shape_coeffs = s.shape_coeffs;
    f.expression_coeffs = s.expression_coeffs;
    f.camera = s.camera;
    f.yaw_pitch_roll = yaw_pitch_roll(s.camera.rotation);
    f.num_landmarks_used = static_cast<int>(s.fixed.vertices.size());
    const core::Vertices mesh = Eigen::Map<const core::Vertices>(s.face.data(), model.num_vertices(), 3);
    f.projected = project_landmarks(model, mesh, s.camera, landmarks);
    if (!f.projected.allFinite()) throw core::FitError("the fitted face's landmarks are not finite; are the landmarks a face?");
    return f;
}

FrameFit failed(const FaceModel& model, const std::string& why) {
    FrameFit f;
    f.error = why;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    f.shape_coeffs = Eigen::VectorXf::Constant(model.shape.num_components(), nan);
    f.expression_coeffs = Eigen::VectorXf::Constant(model.expression.num_coefficients(), nan);
    f.camera.rotation.setConstant(nan);
    f.camera.scale = f.camera.tx = f.camera.ty = nan;
    f.yaw_pitch_roll.setConstant(nan);
    f.projected = core::Points2::Constant(model.mapping.num_landmarks, 2, nan);
    return f;
}

void check_frame(const FaceModel& model, const core::Points2& landmarks, int width, int height) {
    if (landmarks.rows() != model.mapping.num_landmarks) {
        throw std::invalid_argument("expected " + std::to_string(model.mapping.num_landmarks) + " landmarks per frame, got " +
                                    std::to_string(landmarks.rows()));
    }
    if (width <= 0 || height <= 0) {
        throw std::invalid_argument("image size must be positive, got " + std::to_string(width) + "x" + std::to_string(height));
    }
}

}  // namespace

FrameFit fit_frame(const FaceModel& model, const core::Points2& detected, int width, int height, const FitOptions& o,
                   const FitStart& start) {
    check_frame(model, detected, width, height);
    const core::Points2 landmarks = plausible(detected, width, height);
    try {
        State s = initialise(model, landmarks, height, o, start);
        for (int it = 0; it < o.num_iterations; ++it) {
            correspond_and_pose(model, landmarks, o, s);
            if (o.fit_shape) {
                NormalEquations eq;
                accumulate_shape(model, o, s, eq);
                set_shape(model, solve_regularised(eq, o.lambda_identity), s);
            }
            fit_expression(model, o, s);
            update_face(model, s);
        }
        return finish(model, landmarks, s);
    } catch (const core::FitError& e) {
        return failed(model, e.what());
    }
}

std::vector<FrameFit> fit_batch(const FaceModel& model, const std::vector<core::Points2>& landmarks,
                                const std::vector<std::array<int, 2>>& sizes, const FitOptions& o, const FitStart& start,
                                bool sequential, int num_threads) {
    const std::size_t n = landmarks.size();
    if (sizes.size() != n) throw std::invalid_argument("fit_batch: one image size per frame is needed");
    for (std::size_t i = 0; i < n; ++i) check_frame(model, landmarks[i], sizes[i][0], sizes[i][1]);
    std::vector<FrameFit> out(n);
    if (sequential) {
        FitStart warm = start;
        for (std::size_t i = 0; i < n; ++i) {
            out[i] = fit_frame(model, landmarks[i], sizes[i][0], sizes[i][1], o, warm);
            if (out[i].ok) warm = {out[i].shape_coeffs, out[i].expression_coeffs};
        }
        return out;
    }
    unsigned threads = num_threads > 0 ? static_cast<unsigned>(num_threads) : std::max(1u, std::thread::hardware_concurrency());
    threads = static_cast<unsigned>(std::min<std::size_t>(threads, n));
    std::atomic<std::size_t> next{0};
    auto work = [&]() {
        for (std::size_t i = next++; i < n; i = next++) out[i] = fit_frame(model, landmarks[i], sizes[i][0], sizes[i][1], o, start);
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    return out;
}

JointFit fit_identity(const FaceModel& model, const std::vector<core::Points2>& detected,
                      const std::vector<std::array<int, 2>>& sizes, const FitOptions& o) {
    const std::size_t n = detected.size();
    if (n == 0) throw std::invalid_argument("fit_identity: at least one picture is needed");
    if (sizes.size() != n) throw std::invalid_argument("fit_identity: one image size per picture is needed");
    std::vector<core::Points2> landmarks;
    std::vector<State> states;
    for (std::size_t i = 0; i < n; ++i) {
        check_frame(model, detected[i], sizes[i][0], sizes[i][1]);
        landmarks.push_back(plausible(detected[i], sizes[i][0], sizes[i][1]));
        try {
            states.push_back(initialise(model, landmarks[i], sizes[i][1], o, {}));
        } catch (const core::FitError& e) {
            throw core::FitError("reference picture " + std::to_string(i) + ": " + e.what());
        }
    }
    Eigen::VectorXf shape = Eigen::VectorXf::Zero(model.shape.num_components());
    for (int it = 0; it < o.num_iterations; ++it) {
        NormalEquations eq;
        for (std::size_t i = 0; i < n; ++i) {
            correspond_and_pose(model, landmarks[i], o, states[i]);
            accumulate_shape(model, o, states[i], eq);
        }
        // The prior is weighed against the pictures' summed equations, so it grows with their number
        // (eos's multi-image fitting does the same): landmark errors of one person's pictures are not
        // independent (the detector's habits, the model's limits), and an unscaled prior over-fits.
        if (o.fit_shape) shape = pad(solve_regularised(eq, o.lambda_identity * static_cast<float>(n)), model.shape.num_components());
        for (auto& s : states) {
            set_shape(model, shape, s);
            fit_expression(model, o, s);
            update_face(model, s);
        }
    }
    JointFit j;
    j.shape_coeffs = shape;
    for (std::size_t i = 0; i < n; ++i) {
        try {
            j.frames.push_back(finish(model, landmarks[i], states[i]));
        } catch (const core::FitError& e) {
            throw core::FitError("reference picture " + std::to_string(i) + ": " + e.what());
        }
    }
    return j;
}

}  // namespace faceflt::fitting
