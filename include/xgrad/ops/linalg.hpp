/// @file ops/linalg.hpp
/// @brief Linear algebra in the lecture's layout: A = W·H + b with examples as columns.
///
/// Backward rules: docs/ops.md (generated from the rules stated in src/core/ops/linalg.cpp); with A = W[l],
/// B = H[l−1], matmul's reads dW = dA·Hᵀ.
#pragma once

#include <source_location>

#include "xgrad/fwd.hpp"

namespace xgrad {

/// Matrix product through BLAS gemm.  Y = A·B : [p×n]·[n×m] → [p×m] (backward: gemm with transpose flags,
/// no transposed copies).
template <class T>
var<T> matmul(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());

/// Y = Aᵀ : [p×m] → [m×p].
template <class T>
var<T> transpose(const var<T>& a, std::source_location loc = std::source_location::current());

/// Adds a column of biases to every column (example): Y = A + b·1ᵀ, with A [p×m] and b [p×1]. (The
/// lecture's db = (1/m)·Σ dA: the 1/m is in dY.) Stricter than `A + b`: b must be exactly [p×1], so a
/// transposed bias is an error, not a broadcast.
template <class T>
var<T> add_bias(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());

/// A dense layer in one op: Y = W·H + b·1ᵀ, with W [p×n], H [n×m], b [p×1] → Y [p×m].
/// Same values and gradients as add_bias(matmul(W, H), b), one node instead of two and no copies: the bias
/// is added in place after the gemm, and backward reads dY directly (nn::linear uses it).
template <class T>
var<T> linear(const var<T>& w, const var<T>& h, const var<T>& b,
              std::source_location loc = std::source_location::current());

}  // namespace xgrad
