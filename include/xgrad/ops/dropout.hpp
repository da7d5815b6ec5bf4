/// @file ops/dropout.hpp
/// @brief Inverted dropout: during training each unit is kept with probability 1 − p and scaled by
/// 1/(1 − p), so the expected activation is unchanged and evaluation needs no rescaling (it is the identity).
#pragma once

#include <source_location>

#include "xgrad/fwd.hpp"

namespace xgrad {

class rng;

/// Training: Y = X ⊙ M, Mᵢⱼ = [uᵢⱼ ≥ p]/(1 − p) with uᵢⱼ ~ U[0, 1) drawn from `g` in row-major order (the
/// same seed gives the same mask); backward dX = dY ⊙ M. Evaluation (`training` false): Y = X, no node is
/// recorded and `g` is not used. 0 ≤ p < 1 (checked in both modes), otherwise argument_error naming the op
/// and the caller.
template <class T>
var<T> dropout(const var<T>& x, double p, rng& g, bool training = true,
               std::source_location loc = std::source_location::current());

}  // namespace xgrad
