// The BLAS functions of include/xgrad/blas.hpp for the WebAssembly build, which has no OpenBLAS: plain loops
// over row-major matrices with the transpose flags. scripts/web compiles this file instead of
// src/core/blas.cpp; the native library never sees it.
#include <cstddef>
#include <string>
#include <vector>

#include "xgrad/blas.hpp"

namespace xgrad {

namespace {

/// C ← α·op(A)·op(B) + β·C on raw row-major storage. op(A) is [m×k], op(B) [k×n], C [m×n]; lda and ldb are
/// the row lengths of A and B as stored.
template <class T>
void loops(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
           std::size_t lda, const T* b, std::size_t ldb, T beta, T* c) {
    // β·C first (β = 0 ignores C's contents, NaN included, as BLAS does).
    for (std::size_t i = 0; i < m * n; ++i) c[i] = beta == T(0) ? T(0) : beta * c[i];
    if (k == 0 || alpha == T(0)) return;
    if (!tb) {
        // C(i, :) += α·op(A)(i, p) · B(p, :): the inner loop runs along rows of B and C (contiguous).
        for (std::size_t i = 0; i < m; ++i) {
            T* ci = c + i * n;
            for (std::size_t p = 0; p < k; ++p) {
                const T aip = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);
                const T* bp = b + p * ldb;
                for (std::size_t j = 0; j < n; ++j) ci[j] += aip * bp[j];
            }
        }
        return;
    }
    // op(B)(p, j) = B(j, p): C(i, j) += α·Σ_p op(A)(i, p)·B(j, p), a dot product along a row of B.
    std::vector<T> arow(k);
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t p = 0; p < k; ++p) arow[p] = ta ? a[p * lda + i] : a[i * lda + p];
        T* ci = c + i * n;
        for (std::size_t j = 0; j < n; ++j) {
            const T* bj = b + j * ldb;
            T s = 0;
            for (std::size_t p = 0; p < k; ++p) s += arow[p] * bj[p];
            ci[j] += alpha * s;
        }
    }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, T alpha, const matrix<T>& a, const matrix<T>& b, T beta, matrix<T>& c) {
    const std::size_t m = c.shape()[0], n = c.shape()[1];
    const std::size_t k = trans_a ? a.shape()[0] : a.shape()[1];
    if (m == 0 || n == 0) return;
    loops(trans_a, trans_b, m, n, k, alpha, a.data(), a.shape()[1], b.data(), b.shape()[1], beta, c.data());
}

template void gemm<float>(bool, bool, float, const matrix<float>&, const matrix<float>&, float,
                          matrix<float>&);
template void gemm<double>(bool, bool, double, const matrix<double>&, const matrix<double>&, double,
                           matrix<double>&);

void set_num_threads(int) {}  // one thread in the browser
int num_threads() {
    return 1;
}
std::string blas_core() {
    return "wasm loops";
}

}  // namespace xgrad
