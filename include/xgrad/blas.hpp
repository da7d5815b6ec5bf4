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

}  // namespace xgrad
