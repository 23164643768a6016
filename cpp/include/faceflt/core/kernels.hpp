// Hot loops of the fitting, built once per instruction set: on x86-64 with GCC or Clang the loader
// picks the AVX2 or AVX-512 build where the CPU has it (function multiversioning), the baseline
// (SSE2) build elsewhere. Plain pointers, so no Eigen type crosses builds of different alignment.
#pragma once

#include <cstddef>

namespace faceflt::core {

// y (rows) += basis (rows x cols, column-major) * coeffs (cols): a face from a linear model.
void add_linear_combination(float* y, const float* basis, std::ptrdiff_t rows, std::ptrdiff_t cols, const float* coeffs);

}  // namespace faceflt::core
