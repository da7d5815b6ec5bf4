// The BLAS functions of include/xgrad/blas.hpp for the WebAssembly build, which has no OpenBLAS: plain loops
// over row-major matrices with the transpose flags, and blas_info / num_threads describing them (the OpenBLAS
// helpers of xgrad::detail mean nothing here and are not defined). scripts/web compiles this file instead of
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
    // op(B) as a row-major [k×n] block: B itself, or Bᵀ copied once (k·n moves against m·n·k multiply-adds),
    // so the inner loop below always runs along contiguous rows, which -msimd128 vectorises.
    static thread_local std::vector<T> packed;
    const T* bk = b;
    std::size_t ldbk = ldb;
    if (tb) {
        packed.resize(k * n);
        for (std::size_t j = 0; j < n; ++j) {
            for (std::size_t p = 0; p < k; ++p) packed[p * n + j] = b[j * ldb + p];
        }
        bk = packed.data();
        ldbk = n;
    }
    // C(i, :) += α·op(A)(i, p) · op(B)(p, :)
    for (std::size_t i = 0; i < m; ++i) {
        T* __restrict ci = c + i * n;
        for (std::size_t p = 0; p < k; ++p) {
            const T aip = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);
            const T* __restrict bp = bk + p * ldbk;
            for (std::size_t j = 0; j < n; ++j) ci[j] += aip * bp[j];
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

std::string blas_backend::to_string() const {
    return library + ", kernel " + kernel + ", 1 thread (" + reason + ")";
}

blas_backend blas_info() {
    return {"wasm loops", "", "wasm loops", "no BLAS in WebAssembly: web/wasm_gemm.cpp, plain loops", 1};
}

void set_num_threads(int) {}  // one thread in the browser
int num_threads() {
    return 1;
}
std::string blas_core() {
    return "wasm loops";
}

}  // namespace xgrad
