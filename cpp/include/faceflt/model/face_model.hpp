// Everything the fitter needs about one face model, loaded and cross-checked once:
// the shape and expression models, the iBUG-68 landmark mapping, the model's contour vertices and
// the edge topology used for occluding-edge fitting.
#pragma once

#include "faceflt/core/kernels.hpp"
#include "faceflt/core/mesh_patches.hpp"
#include "faceflt/model/morphable_model.hpp"

#include <array>
#include <string>
#include <vector>

namespace faceflt::model {

// Which 2D landmarks (0-based indices into the detector's scheme) map to which model vertices, from
// eos's TOML mapping file (e.g. ibug_to_sfm.txt; parsed and checked in Python, faceflt/model_files.py).
struct LandmarkMapping {
    int num_landmarks = 68;
    std::vector<int> vertex;                   // (num_landmarks,), vertex id or -1 where not mapped
    std::vector<int> right_contour_landmarks;  // 0-based landmark ids of the image's right face contour
    std::vector<int> left_contour_landmarks;
};

// The model's front-facing contour lines (eos sfm_model_contours.json), vertex ids from the
// top of the face towards the chin.
struct ModelContour {
    std::vector<int> right;
    std::vector<int> left;
};

// For each mesh edge, its two adjacent triangles and two end vertices (0-based; -1 for "no
// adjacent triangle", i.e. a border edge). eos stores it 1-based with 0 for "none".
struct EdgeTopology {
    std::vector<std::array<int, 2>> adjacent_faces;
    std::vector<std::array<int, 2>> adjacent_vertices;
};

struct FaceModelFiles {
    std::string shape_model;  // MorphableModel file, e.g. sfm_shape_3448.bin
    std::string expression;   // blendshapes file; empty: use the expression model inside shape_model
    std::string landmark_mapping;
    std::string model_contour;
    std::string edge_topology;
};

struct FaceModel {
    PcaModel shape;
    ExpressionModel expression;
    core::Triangles triangles;
    Eigen::Matrix<float, Eigen::Dynamic, 2, Eigen::RowMajor> texcoords;
    LandmarkMapping mapping;
    ModelContour contour;
    EdgeTopology topology;
    // The vertex of every non-contour landmark: the mapping's, plus faceflt's own choice for the
    // landmarks the mapping leaves out (iBUG 61 and 65, the inner mouth corners); -1 for contour landmarks.
    std::vector<int> landmark_vertices;
    // The triangles in small compact patches (of the mean face), for visibility tests near the jaw.
    core::MeshPatches patches;
    // The shape and expression bases again, stored by rows: the fit's equations read them a vertex at a time.
    core::PaddedRows shape_rows, expression_rows;

    int num_vertices() const { return shape.num_vertices(); }
};

// The face with the given coefficients: mean + shape basis * shape_coeffs + expression offset.
// Either vector may be shorter than the number of components (the rest are zero).
// Returns float32 (N, 3), model units.
core::Vertices build_mesh(const FaceModel& model, const Eigen::VectorXf& shape_coeffs, const Eigen::VectorXf& expression_coeffs);

// The same, as a flat (3N,) xyz vector; the fitting works on this form.
Eigen::VectorXf build_shape(const FaceModel& model, const Eigen::VectorXf& shape_coeffs, const Eigen::VectorXf& expression_coeffs);

// Loads the binary files and cross-checks them with the text files' contents (parsed by the caller; the
// file names only name them in errors): every vertex and triangle id must be in range for the shape model.
FaceModel load_face_model(const FaceModelFiles& files, LandmarkMapping mapping, ModelContour contour, EdgeTopology topology);

}  // namespace faceflt::model
