// Small value types shared by every namespace of the core.
#pragma once

#include <Eigen/Core>
#include <array>
#include <vector>

namespace faceflt::core {

using Triangles = std::vector<std::array<int, 3>>;

// Vertices of a mesh, one row per vertex: float32 (N, 3), model units (millimetres for the SFM).
using Vertices = Eigen::Matrix<float, Eigen::Dynamic, 3, Eigen::RowMajor>;

// 2D points, one row per point: float32 (N, 2), pixels, origin top-left, y pointing down.
using Points2 = Eigen::Matrix<float, Eigen::Dynamic, 2, Eigen::RowMajor>;

}  // namespace faceflt::core
