/// @file ops/linalg.hpp
/// @brief Linear algebra in the lecture's layout: A = W·H + b with examples as columns.
#pragma once

#include <source_location>

#include "xgrad/fwd.hpp"

namespace xgrad {

/// Matrix product through BLAS gemm.  Y = A·B : [p×n]·[n×m] → [p×m]
///   dA = dY·Bᵀ : [p×m]·[m×n] → [p×n]     dB = Aᵀ·dY : [n×p]·[p×m] → [n×m]
/// (gemm with transpose flags; no transposed copies). With A = W[l], B = H[l−1]: dW = dA·Hᵀ.
template <class T>
var<T> matmul(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());

/// Y = Aᵀ : [p×m] → [m×p].  dA = dYᵀ
template <class T>
var<T> transpose(const var<T>& a, std::source_location loc = std::source_location::current());

/// Adds a column of biases to every column (example): Y = A + b·1ᵀ, with A [p×m] and b [p×1].
///   dA = dY     db = Σ_columns dY : [p×m] → [p×1]   (the lecture's db = (1/m)·Σ dA, with 1/m in dY)
/// Stricter than `A + b`: b must be exactly [p×1], so a transposed bias is an error, not a broadcast.
template <class T>
var<T> add_bias(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());

}  // namespace xgrad
