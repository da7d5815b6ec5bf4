/// @file ops/elementwise.hpp
/// @brief Element-wise arithmetic, exp, log and powers, with broadcasting (rules in src/ops/elementwise.cpp).
///
/// Binary ops broadcast like NumPy on 2-D shapes: each dimension must be equal or 1 in one operand.
/// Backward un-broadcasts through sum_to (broadcast.hpp): a b of shape [p×1] added to [p×m] gets db = Σ over
/// columns.
#pragma once

#include <source_location>
#include <type_traits>

#include "xgrad/fwd.hpp"

namespace xgrad {

/// Y = A + B (broadcasting).  dA = sum_to(dY), dB = sum_to(dY)
template <class T>
var<T> add(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());
/// Y = A − B (broadcasting).  dA = sum_to(dY), dB = −sum_to(dY)
template <class T>
var<T> sub(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());
/// Y = A ⊙ B (broadcasting).  dA = sum_to(dY ⊙ B), dB = sum_to(dY ⊙ A)
template <class T>
var<T> mul(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());
/// Y = A ⊘ B (broadcasting).  dA = sum_to(dY ⊘ B), dB = −sum_to(dY ⊙ A ⊘ B²)
template <class T>
var<T> div(const var<T>& a, const var<T>& b, std::source_location loc = std::source_location::current());
/// Y = −A.  dA = −dY
template <class T>
var<T> neg(const var<T>& a, std::source_location loc = std::source_location::current());

/// Y = A + s.  dA = dY
template <class T>
var<T> add_scalar(const var<T>& a, std::type_identity_t<T> s,
                  std::source_location loc = std::source_location::current());
/// Y = s·A.  dA = s·dY
template <class T>
var<T> mul_scalar(const var<T>& a, std::type_identity_t<T> s,
                  std::source_location loc = std::source_location::current());
/// Y = s − A.  dA = −dY
template <class T>
var<T> rsub_scalar(const var<T>& a, std::type_identity_t<T> s,
                   std::source_location loc = std::source_location::current());
/// Y = s ⊘ A.  dA = −dY ⊙ s ⊘ A² = −dY ⊙ Y ⊘ A
template <class T>
var<T> rdiv_scalar(const var<T>& a, std::type_identity_t<T> s,
                   std::source_location loc = std::source_location::current());

/// Y = e^A (saves Y).  dA = dY ⊙ Y
template <class T>
var<T> exp(const var<T>& a, std::source_location loc = std::source_location::current());
/// Y = ln A.  dA = dY ⊘ A.  ln 0 = −∞ (not clamped; use the fused losses for log-probabilities).
template <class T>
var<T> log(const var<T>& a, std::source_location loc = std::source_location::current());
/// Z = X ⊙ log Y with 0·log 0 = 0 (same shapes): the terms of a cross-entropy, defined where a
/// probability is 0 and its weight is 0 too.  dX = dZ ⊙ log Y,  dY = dZ ⊙ X ⊘ Y (0 where X = 0)
template <class T>
var<T> xlogy(const var<T>& x, const var<T>& y, std::source_location loc = std::source_location::current());
/// Y = A².  dA = 2·A ⊙ dY
template <class T>
var<T> square(const var<T>& a, std::source_location loc = std::source_location::current());
/// Y = A^p (element-wise, p a constant).  dA = p·A^(p−1) ⊙ dY
template <class T>
var<T> pow(const var<T>& a, std::type_identity_t<T> p,
           std::source_location loc = std::source_location::current());

}  // namespace xgrad
