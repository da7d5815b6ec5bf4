/// @file ops/softmax.hpp
/// @brief Softmax and log-softmax over the class axis: rows are classes, each column (example) sums to 1.
///
/// Hinton's ∂yᵢ/∂zᵢ = yᵢ(1 − yᵢ) is only the diagonal of the Jacobian; ∂yᵢ/∂zⱼ = −yᵢyⱼ for i ≠ j.
/// Backward applies the full Jacobian-vector product per column (rules: docs/ops.md).
/// Both are computed from Z − max(Z) per column, so logits of any size stay finite.
#pragma once

#include <source_location>

#include "xgrad/fwd.hpp"

namespace xgrad {

/// Y = softmax(Z) per column: Yᵢⱼ = e^(Zᵢⱼ − mⱼ) / Σₖ e^(Zₖⱼ − mⱼ), mⱼ = maxₖ Zₖⱼ.  [c×m] → [c×m]
template <class T>
var<T> softmax(const var<T>& z, std::source_location loc = std::source_location::current());

/// Y = log softmax(Z) per column = Z − m − log Σₖ e^(Zₖ − m) (log-sum-exp).  [c×m] → [c×m]
template <class T>
var<T> log_softmax(const var<T>& z, std::source_location loc = std::source_location::current());

}  // namespace xgrad
