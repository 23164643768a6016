#include "faceflt/core/kernels.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(FACEFLT_NO_MULTIVERSIONING)
#define FACEFLT_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FACEFLT_MULTIVERSION
#endif

namespace faceflt::core {

FACEFLT_MULTIVERSION
void add_linear_combination(float* y, const float* basis, std::ptrdiff_t rows, std::ptrdiff_t cols, const float* coeffs) {
    // Column by column: each column streams once and y stays in cache (a 3448-vertex face is 41 kB).
    // Two columns a pass halve the loads and stores of y.
    std::ptrdiff_t j = 0;
    for (; j + 1 < cols; j += 2) {
        const float c0 = coeffs[j], c1 = coeffs[j + 1];
        if (c0 == 0.0f && c1 == 0.0f) continue;  // e.g. a fit that starts from the mean face
        const float* b0 = basis + j * rows;
        const float* b1 = b0 + rows;
        for (std::ptrdiff_t i = 0; i < rows; ++i) y[i] += c0 * b0[i] + c1 * b1[i];
    }
    if (j < cols) {
        const float c0 = coeffs[j];
        const float* b0 = basis + j * rows;
        for (std::ptrdiff_t i = 0; i < rows; ++i) y[i] += c0 * b0[i];
    }
}

}  // namespace faceflt::core
