/// @file blas.hpp
/// @brief BLAS gemm on xgrad matrices, with transpose flags (no transposed copies), for ops and kernels.
#pragma once

#include <string>

#include "xgrad/config.hpp"

namespace xgrad {

/// C ← α·op(A)·op(B) + β·C, where op(X) is X or Xᵀ.  Shapes: op(A) [M×K] · op(B) [K×N] → C [M×N].
/// C must already have shape [M×N] (β = 0 ignores its contents). Calls cblas_sgemm / cblas_dgemm.
template <class T>
void gemm(bool trans_a, bool trans_b, T alpha, const matrix<T>& a, const matrix<T>& b, T beta, matrix<T>& c);

/// Limits the threads BLAS uses (OpenBLAS) to n ≥ 1.
void set_num_threads(int n);
/// Threads BLAS currently may use.
int num_threads();
/// The BLAS kernel family in use: OpenBLAS's core name ("Haswell", "SkylakeX", …). Set the environment
/// variable OPENBLAS_CORETYPE to choose one; GEMM speed differs by up to 2× between them.
std::string blas_core();

/// The OpenBLAS kernel family this CPU can run when OpenBLAS chose a slower generic one, else "".
///
/// OpenBLAS picks its kernels by CPU model; one it does not know (OpenBLAS 0.3.21 and Intel's Sapphire
/// Rapids, say) falls back to generic SSE3 kernels ("Prescott"), several times slower at GEMM. This looks
/// at the CPU's features instead (AVX-512 → "SkylakeX", AVX2 + FMA → "Haswell"). OpenBLAS reads
/// OPENBLAS_CORETYPE only when it loads, so a program applies the advice by setting that variable and
/// re-executing itself (the xgrad command does; see run_with_better_blas_core). Never overrides a
/// user's OPENBLAS_CORETYPE.
std::string better_blas_core();

/// If better_blas_core() has advice and OPENBLAS_CORETYPE is unset, sets it and re-executes the program
/// (/proc/self/exe with the same arguments) so OpenBLAS loads the faster kernels; returns only when no
/// re-execution happened. Call it first thing in main().
void run_with_better_blas_core(int argc, char** argv);

}  // namespace xgrad
