/// @file ops/elementwise.hpp
/// @brief Element-wise arithmetic, exp, log and powers, with broadcasting.
///
/// Binary ops broadcast like NumPy on 2-D shapes: each dimension must be equal or 1 in one operand.
/// Backward un-broadcasts through sum_to (broadcast.hpp): a b of shape [p×1] added to [p×m] gets db = Σ over
/// columns. Backward rules: docs/ops.md (generated from the rules stated in src/core/ops/elementwise.cpp).
#pragma once

#include <source_location>
#include <type_traits>

#include "xgrad/fwd.hpp"

namespace xgrad {

/// Y = A + B (broadcasting).
template <class T>
var<T> add(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());
/// Y = A − B (broadcasting).
template <class T>
var<T> sub(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());
/// Y = A ⊙ B (broadcasting).
template <class T>
var<T> mul(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());
/// Y = A ⊘ B (broadcasting).
template <class T>
var<T> div(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());
/// Y = −A.
template <class T>
var<T> neg(const var<T>& a, std::source_location loc = std::source_location::current());

/// Y = A + s.
template <class T>
var<T> add_scalar(const var<T>& a, std::type_identity_t<T> s,
                  std::source_location loc = std::source_location::current());
/// Y = s·A.
template <class T>
var<T> mul_scalar(const var<T>& a, std::type_identity_t<T> s,
                  std::source_location loc = std::source_location::current());
/// Y = s − A.
template <class T>
var<T> rsub_scalar(const var<T>& a, std::type_identity_t<T> s,
                   std::source_location loc = std::source_location::current());
/// Y = s ⊘ A.
template <class T>
var<T> rdiv_scalar(const var<T>& a, std::type_identity_t<T> s,
                   std::source_location loc = std::source_location::current());

/// Y = e^A.
template <class T>
var<T> exp(const var<T>& a, std::source_location loc = std::source_location::current());
/// Y = ln A. ln 0 = −∞ (not clamped; use the fused losses for log-probabilities).
template <class T>
var<T> log(const var<T>& a, std::source_location loc = std::source_location::current());
/// Z = X ⊙ log Y with 0·log 0 = 0 (same shapes): the terms of a cross-entropy, defined (value and
/// gradient) where a probability is 0 and its weight is 0 too.
template <class T>
var<T> xlogy(const var<T>& x, const var<T>& y, std::source_location loc = std::source_location::current());
/// Y = A².
template <class T>
var<T> square(const var<T>& a, std::source_location loc = std::source_location::current());
/// Y = A^p (element-wise, p a constant).
template <class T>
var<T> pow(const var<T>& a, std::type_identity_t<T> p,
           std::source_location loc = std::source_location::current());

}  // namespace xgrad
