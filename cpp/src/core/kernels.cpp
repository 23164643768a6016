#include "faceflt/core/kernels.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(FACEFLT_NO_MULTIVERSIONING)
#define FACEFLT_X86_DISPATCH 1
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

// add_gram with W-wide vectors: for each block of 8 rows of the result and each W-wide stretch of
// columns up to the diagonal, 8 accumulators run over all rows of A (each row: one load, 8
// broadcasts, 8 multiply-adds), then are added to the result once.
template <int W>
struct Vector {
    typedef float type __attribute__((vector_size(4 * W), aligned(4)));
};

template <int W>
__attribute__((always_inline)) inline void gram_kernel(float* __restrict gram, const float* __restrict a, std::ptrdiff_t rows,
                                                       std::ptrdiff_t n, float weight) {
    using V = typename Vector<W>::type;
    for (std::ptrdiff_t i = 0; i < n; i += 8) {
        const std::ptrdiff_t stretches = (i + 8 + W - 1) / W;
        for (std::ptrdiff_t s = 0; s < stretches; ++s) {
            V acc[8] = {};
            for (std::ptrdiff_t r = 0; r < rows; ++r) {
                const float* row = a + r * n;
                V x;
                std::memcpy(&x, row + W * s, sizeof(V));
                for (int q = 0; q < 8; ++q) acc[q] += row[i + q] * x;
            }
            for (int q = 0; q < 8; ++q) {
                float* out = gram + (i + q) * n + W * s;
                V y;
                std::memcpy(&y, out, sizeof(V));
                y += weight * acc[q];
                std::memcpy(out, &y, sizeof(V));
            }
        }
    }
}

using GramFn = void (*)(float*, const float*, std::ptrdiff_t, std::ptrdiff_t, float);

void gram_baseline(float* g, const float* a, std::ptrdiff_t rows, std::ptrdiff_t n, float w) { gram_kernel<4>(g, a, rows, n, w); }

#ifdef FACEFLT_X86_DISPATCH
__attribute__((target("avx2,fma"))) void gram_avx2(float* g, const float* a, std::ptrdiff_t rows, std::ptrdiff_t n, float w) {
    gram_kernel<8>(g, a, rows, n, w);
}
__attribute__((target("avx512f"))) void gram_avx512(float* g, const float* a, std::ptrdiff_t rows, std::ptrdiff_t n, float w) {
    gram_kernel<16>(g, a, rows, n, w);
}
#endif

// The widest build the CPU runs, or a narrower one named by FACEFLT_SIMD ("avx2", "baseline"), so
// that every build can be tested on one machine.
GramFn pick_gram() {
#ifdef FACEFLT_X86_DISPATCH
    const char* env = std::getenv("FACEFLT_SIMD");
    const std::string cap = env ? env : "";
    if (cap == "baseline") return gram_baseline;
    __builtin_cpu_init();
    if (cap != "avx2" && __builtin_cpu_supports("avx512f")) return gram_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return gram_avx2;
#endif
    return gram_baseline;
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

void add_gram(float* gram, const float* a, std::ptrdiff_t rows, std::ptrdiff_t n, float weight) {
    static const GramFn fn = pick_gram();
    fn(gram, a, rows, n, weight);
}

PaddedRows padded_rows(const float* column_major, std::ptrdiff_t rows, std::ptrdiff_t cols) {
    PaddedRows p;
    p.cols = cols;
    p.stride = padded_length(cols);
    p.data.assign(static_cast<std::size_t>(rows * p.stride), 0.0f);
    for (std::ptrdiff_t j = 0; j < cols; ++j)
        for (std::ptrdiff_t i = 0; i < rows; ++i) p.data[static_cast<std::size_t>(i * p.stride + j)] = column_major[j * rows + i];
    return p;
}

}  // namespace faceflt::core
