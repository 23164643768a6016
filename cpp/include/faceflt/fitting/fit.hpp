// Fitting the morphable model to 2D landmarks: the eos algorithm family (Huber et al., "A
// Multiresolution 3D Morphable Face Model and Fitting Framework", VISAPP 2016), i.e. eos's
// fit_shape_and_pose: camera, shape, expression, model-contour and occluding-edge correspondences,
// iterated with warm starts.
#pragma once

#include "faceflt/fitting/camera.hpp"
#include "faceflt/model/face_model.hpp"

#include <Eigen/Core>
#include <array>
#include <string>
#include <vector>

namespace faceflt::fitting {

struct FitOptions {
    int num_iterations = 5;             // eos's default; 1-5 suffice with a warm start (eos docs)
    float lambda_identity = 30.0f;      // shape prior weight (eos-py's default)
    float lambda_expression = 30.0f;    // PCA expression models only; blendshapes use NNLS, unregularised
    int num_shape_coefficients = -1;    // -1: all
    bool fit_shape = true;              // false: the shape is held at the given coefficients
    bool fit_expression = true;
    bool use_contour = true;            // model-contour correspondences for the jaw line
    bool use_occluding_edge = true;     // silhouette correspondences on the side turned away
    float contour_yaw_threshold = 7.5f;     // degrees; both contours are used within +-threshold
    float edge_distance_threshold = 180.0f; // squared pixels per unit of camera scale (eos's value)
    int min_landmarks = 6;              // fewer usable non-contour landmarks is an error
};

// One frame's fit. Coefficient vectors have the model's full length.
struct FrameFit {
    bool ok = false;
    std::string error;                  // why the frame could not be fitted, when !ok
    Eigen::VectorXf shape_coeffs;       // (m,), ~N(0, 1)
    Eigen::VectorXf expression_coeffs;  // (K,)
    Camera camera;
    Eigen::Vector3f yaw_pitch_roll = Eigen::Vector3f::Zero();  // degrees
    core::Points2 projected;            // (K_landmarks, 2), pixels: the fitted face's landmarks
    int num_landmarks_used = 0;         // usable non-contour landmarks
};

// What a fit starts from. Empty vectors mean zeros.
struct FitStart {
    Eigen::VectorXf shape_coeffs;
    Eigen::VectorXf expression_coeffs;
};

// Fits one frame. landmarks: (68, 2) pixels, NaN where missing. Never throws for bad landmarks:
// the result says !ok with the reason.
FrameFit fit_frame(const model::FaceModel& model, const core::Points2& landmarks, int image_width, int image_height,
                   const FitOptions& options, const FitStart& start = {});

// Fits many frames. With `sequential`, each frame starts from the previous good frame's result (video
// tracking); otherwise frames are independent and are spread over num_threads threads (0: all cores).
std::vector<FrameFit> fit_batch(const model::FaceModel& model, const std::vector<core::Points2>& landmarks,
                                const std::vector<std::array<int, 2>>& image_sizes, const FitOptions& options,
                                const FitStart& start, bool sequential, int num_threads);

// One shared shape over several pictures of the same person, with per-picture camera and
// expression (eos's multi-image fitting). As there, the shape prior's weight is lambda_identity times
// the number of pictures: the pictures' landmark errors are not independent, and a prior weighed
// against their summed equations alone over-fits.
struct JointFit {
    Eigen::VectorXf shape_coeffs;
    std::vector<FrameFit> frames;  // each carries shape_coeffs equal to the shared ones
};
JointFit fit_identity(const model::FaceModel& model, const std::vector<core::Points2>& landmarks,
                      const std::vector<std::array<int, 2>>& image_sizes, const FitOptions& options);

}  // namespace faceflt::fitting
