// Conversions at the Python boundary: one dtype (float32, C order) and shape checks that name the
// function, the argument and the expected shape.
#pragma once

#include "faceflt/core/types.hpp"
#include "faceflt/fitting/camera.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

namespace faceflt::bindings {

namespace py = pybind11;

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IntArray = py::array_t<int, py::array::c_style | py::array::forcecast>;

inline std::string shape_string(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

// Checks a.shape against `expected` (-1: any) and throws ValueError naming function and argument.
inline void check_shape(const py::array& a, const std::vector<py::ssize_t>& expected, const char* function, const char* argument,
                        const char* hint = "") {
    bool ok = a.ndim() == static_cast<py::ssize_t>(expected.size());
    for (std::size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || a.shape(static_cast<py::ssize_t>(i)) == expected[i];
    if (!ok) {
        std::string want = "(";
        for (std::size_t i = 0; i < expected.size(); ++i) want += (i ? ", " : "") + (expected[i] < 0 ? std::string("B") : std::to_string(expected[i]));
        want += expected.size() == 1 ? ",)" : ")";
        throw py::value_error(std::string(function) + "(): " + argument + " must have shape " + want + ", got " + shape_string(a) + hint);
    }
}

// (B, K, 2) float32 -> B matrices of (K, 2).
inline std::vector<core::Points2> points_batch(const FloatArray& a) {
    std::vector<core::Points2> out(static_cast<std::size_t>(a.shape(0)));
    const auto k = static_cast<Eigen::Index>(a.shape(1));
    for (std::size_t b = 0; b < out.size(); ++b) {
        out[b] = Eigen::Map<const core::Points2>(a.data(static_cast<py::ssize_t>(b)), k, 2);
    }
    return out;
}

// Row i of batched camera arrays: rotation (B, 3, 3), scale (B,), translation (B, 2) or none.
inline fitting::Camera camera_at(const FloatArray& rotation, const FloatArray& scale, py::ssize_t i,
                                 const FloatArray* translation = nullptr, float image_height = 0.0f) {
    fitting::Camera c;
    c.rotation = Eigen::Map<const Eigen::Matrix<float, 3, 3, Eigen::RowMajor>>(rotation.data(i));
    c.scale = scale.at(i);
    if (translation) {
        c.tx = translation->at(i, 0);
        c.ty = translation->at(i, 1);
    }
    c.image_height = image_height;
    return c;
}

template <typename T>
py::array_t<T> new_array(const std::vector<py::ssize_t>& shape) {
    return py::array_t<T>(shape);
}

}  // namespace faceflt::bindings
