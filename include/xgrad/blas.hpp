/// @file blas.hpp
/// @brief BLAS gemm on xgrad matrices, with transpose flags (no transposed copies), for ops and kernels; and
/// which BLAS library and kernel do the work.
///
/// xgrad does not link a BLAS when it is built: it loads one the first time it needs it (the first gemm,
/// set_num_threads or blas_info call). By default that is OpenBLAS — the one the program already has loaded
/// (linked by the program, or by libtorch, …), else libopenblas.so.0 — and, when OpenBLAS fell back to a
/// generic pre-AVX2 kernel on a CPU it does not know, xgrad switches it to the kernel this CPU can run
/// (AVX-512 → SkylakeX, AVX2 + FMA → Haswell) before any xgrad gemm. No re-execution, nothing to call.
///
/// Environment (read once, at that first use):
///   XGRAD_BLAS          auto (default) | openblas | blis | a library file (path or soname) with CBLAS
///   OPENBLAS_CORETYPE   OpenBLAS's own variable: when set, xgrad never changes OpenBLAS's kernel
///   XGRAD_BLAS_VERBOSE  1: print blas_info() to stderr when the BLAS is loaded
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "xgrad/config.hpp"

namespace xgrad {

/// C ← α·op(A)·op(B) + β·C, where op(X) is X or Xᵀ.  Shapes: op(A) [M×K] · op(B) [K×N] → C [M×N].
/// C must already have shape [M×N] (β = 0 ignores its contents). Calls the loaded BLAS's sgemm / dgemm
/// (CBLAS row-major, or BLIS's typed API with strides). Throws xgrad::error if no BLAS can be loaded.
template <class T>
void gemm(bool trans_a, bool trans_b, T alpha, const matrix<T>& a, const matrix<T>& b, T beta, matrix<T>& c);

/// The same gemm on row-major buffers with leading dimensions (for ops that multiply blocks of a matrix, or a
/// matrix viewed with another shape, e.g. conv2d's (K × Ho·Wo·m) product written into its (K·Ho·Wo × m)
/// output): C [M×N], ldc ← α·op(A)·op(B) + β·C, where op(A) is [M×K] and op(B) is [K×N]; lda, ldb, ldc are
/// the row lengths of the buffers as stored (A stored [M×K] or, transposed, [K×M]).
template <class T>
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc);

/// What multiplies xgrad's matrices, and why that one.
struct blas_backend {
    std::string library;  ///< "OpenBLAS 0.3.21", "BLIS 0.9.0", or "CBLAS" (another library)
    std::string path;     ///< the file it came from, e.g. "/lib/x86_64-linux-gnu/libopenblas.so.0"
    std::string kernel;   ///< OpenBLAS's core ("SkylakeX"), BLIS's sub-configuration ("zen3"), or "unknown"
    std::string reason;   ///< how library and kernel were chosen, e.g. "chosen by xgrad for this CPU …"
    int threads = 0;      ///< threads it may use now (0: the library does not say)

    /// One line: "OpenBLAS 0.3.21, kernel SkylakeX, 1 thread (…reason…; …path…)".
    std::string to_string() const;
};

/// The BLAS in use (loading it first if needed): library, kernel, threads, and the reason.
blas_backend blas_info();

/// Limits the threads the BLAS uses to n ≥ 1 (OpenBLAS, BLIS; ignored by other CBLAS libraries).
/// Called before the first gemm, when xgrad loads OpenBLAS itself and none of OPENBLAS_NUM_THREADS,
/// GOTO_NUM_THREADS and OMP_NUM_THREADS is set, OpenBLAS is loaded with n threads: it starts no worker
/// threads beyond them (each would spin ~0.1 s on a core the program asked not to use); a later, larger n
/// starts them then.
void set_num_threads(int n);
/// Threads the BLAS currently may use (0 if the library does not say).
int num_threads();
/// The kernel family in use, blas_info().kernel: OpenBLAS's core name ("Haswell", "SkylakeX", …) or BLIS's
/// sub-configuration ("haswell", "skx", "zen3", …). GEMM speed differs up to 8× between kernels.
std::string blas_core();

namespace detail {

/// The OpenBLAS core to use instead of `openblas_choice`, or "" to keep OpenBLAS's choice.
///
/// Only a generic pre-AVX2 core (Prescott, Nehalem, Sandybridge, …: what OpenBLAS falls back to on a CPU
/// it does not know, e.g. OpenBLAS 0.3.21 on Intel's Sapphire Rapids) is replaced: by "SkylakeX" if the
/// CPU has AVX-512 (F, BW, VL, DQ), by "Haswell" if it has AVX2 and FMA.
std::string better_openblas_core(std::string_view openblas_choice, bool avx2_fma, bool avx512);

/// better_openblas_core() for this CPU.
std::string better_openblas_core(std::string_view openblas_choice);

/// Re-runs the loaded OpenBLAS's kernel dispatch (gotoblas_dynamic_quit, then gotoblas_dynamic_init, which
/// reads OPENBLAS_CORETYPE) as if OPENBLAS_CORETYPE were `core` ("" = OpenBLAS's own choice for this CPU),
/// restores the environment, and returns the core now in use. Safe only while no BLAS call runs in any
/// thread (xgrad calls it once, when it loads the BLAS). Returns "" when the BLAS in use is not an
/// OpenBLAS with run-time kernel dispatch (DYNAMIC_ARCH).
std::string openblas_redispatch(const std::string& core);

/// What xgrad does to the OpenBLAS it loads, done again (for tests): keeps OPENBLAS_CORETYPE's core or a
/// good choice of OpenBLAS's, replaces a generic one with better_openblas_core(). Returns the reason now
/// reported by blas_info() ("" if the BLAS is not OpenBLAS). Same thread-safety caveat as above.
std::string openblas_use_better_core();

}  // namespace detail

}  // namespace xgrad
