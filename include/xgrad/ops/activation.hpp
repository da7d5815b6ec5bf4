/// @file ops/activation.hpp
/// @brief The lecture's activation functions, element-wise: H = act(A).
///
/// Each saves what its derivative needs (σ, tanh and the ELUs reuse their output). Subgradient choices at
/// the kinks: relu′(0) = 0, leaky_relu′(0) = f, elu′(0) = α (the left derivative), selu′(0) = λα.
/// Backward rules: docs/ops.md (generated from the rules stated in src/core/ops/activation.cpp).
#pragma once

#include <source_location>
#include <type_traits>

#include "xgrad/fwd.hpp"

namespace xgrad {

/// H = σ(A) = 1/(1 + e^(−A)), computed without overflow for any A.
template <class T>
var<T> sigmoid(const var<T>& a, std::source_location loc = std::source_location::current());
/// H = tanh A = (e^A − e^(−A))/(e^A + e^(−A)).
template <class T>
var<T> tanh(const var<T>& a, std::source_location loc = std::source_location::current());
/// H = max(0, A).
template <class T>
var<T> relu(const var<T>& a, std::source_location loc = std::source_location::current());
/// H = max(f·A, A) for 0 ≤ f < 1 (the lecture's f = 0.01).
template <class T>
var<T> leaky_relu(const var<T>& a, std::type_identity_t<T> f = T(0.01),
                  std::source_location loc = std::source_location::current());
/// H = A for A > 0, α(e^A − 1) otherwise (α > 0).
template <class T>
var<T> elu(const var<T>& a, std::type_identity_t<T> alpha = T(1),
           std::source_location loc = std::source_location::current());
/// H = λ·elu(A, α) with λ ≈ 1.0507, α ≈ 1.6733 (Klambauer et al. 2017).
template <class T>
var<T> selu(const var<T>& a, std::source_location loc = std::source_location::current());

/// The constants of selu, to full double precision.
inline constexpr double selu_lambda = 1.0507009873554804934193349852946;
inline constexpr double selu_alpha = 1.6732632423543772848170429916717;

}  // namespace xgrad
