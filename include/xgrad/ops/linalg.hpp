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

/// A dense layer in one op: Y = W·H + b·1ᵀ, with W [p×n], H [n×m], b [p×1] → Y [p×m].
///   dW = dY·Hᵀ : [p×m]·[m×n] → [p×n]     dH = Wᵀ·dY : [n×p]·[p×m] → [n×m]     db = Σ_columns dY → [p×1]
/// Same values and gradients as add_bias(matmul(W, H), b), one node instead of two and no copies: the bias
/// is added in place after the gemm, and backward reads dY directly (nn::linear uses it).
template <class T>
var<T> linear(const var<T>& w, const var<T>& h, const var<T>& b,
              std::source_location loc = std::source_location::current());

}  // namespace xgrad
