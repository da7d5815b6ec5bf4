/// @file ops/reduction.hpp
/// @brief Sums and means, of the whole tensor or along one axis (NumPy's axis numbering, dimensions kept).
///
/// axis 0 reduces over rows: [r×c] → [1×c] (one value per example/column).
/// axis 1 reduces over columns: [r×c] → [r×1] (one value per unit/row; the lecture's np.sum(dA, axis=1)).
/// Backward broadcasts dY back along the reduced axis (docs/ops.md).
#pragma once

#include <source_location>

#include "xgrad/fwd.hpp"

namespace xgrad {

/// y = Σᵢⱼ Aᵢⱼ : [r×c] → [1×1].
template <class T>
var<T> sum(const var<T>& a, std::source_location loc = std::source_location::current());
/// Sum along `axis` (0: over rows → [1×c]; 1: over columns → [r×1]).
template <class T>
var<T> sum(const var<T>& a, int axis, std::source_location loc = std::source_location::current());
/// y = (1/(r·c)) Σᵢⱼ Aᵢⱼ.
template <class T>
var<T> mean(const var<T>& a, std::source_location loc = std::source_location::current());
/// Mean along `axis` (divides by the reduced extent n).
template <class T>
var<T> mean(const var<T>& a, int axis, std::source_location loc = std::source_location::current());

}  // namespace xgrad
