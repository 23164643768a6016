#include "faceflt/core/kernels.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(FACEFLT_NO_MULTIVERSIONING)
#define FACEFLT_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FACEFLT_MULTIVERSION
#endif

namespace faceflt::core {

namespace {

// y += the columns [j, j + N) of basis, weighted. N columns a pass: the basis (2.6 MB for the SFM)
// does not fit in a core's L2, and N streams read at once keep more of its loads in flight; y
// (41 kB) is read and written once per pass.
template <int N>
inline void add_columns(float* __restrict y, const float* __restrict b, std::ptrdiff_t rows, const float* __restrict c) {
    bool any = false;
    for (int k = 0; k < N; ++k) any |= c[k] != 0.0f;
    if (!any) return;  // e.g. a fit that starts from the mean face
    float w[N];
    const float* __restrict col[N];
    for (int k = 0; k < N; ++k) {
        w[k] = c[k];
        col[k] = b + k * rows;
    }
    for (std::ptrdiff_t i = 0; i < rows; ++i) {
        float sum = y[i];
        for (int k = 0; k < N; ++k) sum += w[k] * col[k][i];
        y[i] = sum;
    }
}

}  // namespace

FACEFLT_MULTIVERSION
void add_linear_combination(float* y, const float* basis, std::ptrdiff_t rows, std::ptrdiff_t cols, const float* coeffs) {
    std::ptrdiff_t j = 0;
    for (; j + 8 <= cols; j += 8) add_columns<8>(y, basis + j * rows, rows, coeffs + j);
    if (j + 4 <= cols) {
        add_columns<4>(y, basis + j * rows, rows, coeffs + j);
        j += 4;
    }
    for (; j < cols; ++j) add_columns<1>(y, basis + j * rows, rows, coeffs + j);
}

}  // namespace faceflt::core
