// Hot loops of the fitting, built once per instruction set: on x86-64 with GCC or Clang the loader
// picks the AVX2 or AVX-512 build where the CPU has it, the baseline (SSE2) build elsewhere. Plain
// pointers, so no Eigen type crosses builds of different alignment.
#pragma once

#include <cstddef>
#include <vector>

namespace faceflt::core {

// y (rows) += basis (rows x cols, column-major) * coeffs (cols): a face from a linear model.
void add_linear_combination(float* y, const float* basis, std::ptrdiff_t rows, std::ptrdiff_t cols, const float* coeffs);

// The width add_gram works in: row lengths are padded to a multiple of it.
constexpr std::ptrdiff_t kGramBlock = 16;
inline std::ptrdiff_t padded_length(std::ptrdiff_t n) { return (n + kGramBlock - 1) / kGramBlock * kGramBlock; }

// gram (n x n, row-major) += weight * A^T A for A (rows x n, row-major), n a multiple of kGramBlock.
// Only the lower triangle (j <= i) is meant; some entries above it are written too. Built for
// AVX-512, AVX2+FMA and SSE2, picked on first use; FACEFLT_SIMD=avx2 or =baseline caps the pick.
void add_gram(float* gram, const float* a, std::ptrdiff_t rows, std::ptrdiff_t n, float weight);

// A basis stored row by row, each row's coefficients side by side and zero-padded to
// padded_length(cols): the rows of the equations of one vertex coordinate are read at once.
struct PaddedRows {
    std::vector<float> data;
    std::ptrdiff_t cols = 0, stride = 0;

    const float* row(std::ptrdiff_t i) const { return data.data() + i * stride; }
};

PaddedRows padded_rows(const float* column_major, std::ptrdiff_t rows, std::ptrdiff_t cols);

}  // namespace faceflt::core
