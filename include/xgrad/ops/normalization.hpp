/// @file ops/normalization.hpp
/// @brief Batch normalisation (per feature, or per channel of an image batch) and layer normalisation (per
/// example), in the lecture's layout: examples are columns.
///
/// Both standardise a group of values with its mean μ and variance σ² — computed in two passes (the mean
/// first, then Σ(x − μ)²), so a large offset does not cancel the variance — and then scale and shift each
/// feature: Y = γ ⊙ X̂ + β, X̂ = (X − μ)/√(σ² + ε).
///
///   batch_norm: a group is one row (feature) across the batch's m columns, or for an image batch
///               (C·H·W × m, channel-major as in conv2d) the H·W rows of one channel across all m columns.
///   layer_norm: a group is one column (example) across its d rows.
#pragma once

#include <cstddef>
#include <source_location>
#include <type_traits>

#include "xgrad/config.hpp"
#include "xgrad/fwd.hpp"

namespace xgrad {

/// How batch_norm groups and updates.
struct batch_norm_options {
    /// 0: one statistic per row (a dense layer's features). C > 0: X is an image batch (C·H·W × m) and
    /// rows [c·H·W, (c + 1)·H·W) belong to channel c; X's rows must be a multiple of C.
    std::size_t channels = 0;
    double eps = 1e-5;  ///< ε in √(σ² + ε)
    /// Running statistics after a training step: r ← (1 − momentum)·r + momentum·(batch statistic); the
    /// variance stored is the unbiased one, σ²·n/(n − 1) (as PyTorch).
    double momentum = 0.1;
    /// true: normalise with the batch's statistics (and update the running ones); false: with the running
    /// statistics (evaluation: each example's output no longer depends on the rest of the batch).
    bool training = true;
};

/// Training (o.training): per group g of n values (n = m, or H·W·m per channel)
///   μ = (1/n) Σ x,  σ² = (1/n) Σ (x − μ)²,  X̂ = (X − μ)/√(σ² + ε),  Y = γ ⊙ X̂ + β,
/// with γ, β [C×1] (C = rows, or channels); backward
///   dβ = Σ dY,  dγ = Σ dY ⊙ X̂,  dX = γ/√(σ² + ε) ⊙ (dY − mean dY − X̂ ⊙ mean(dY ⊙ X̂)).
/// If `running_mean`/`running_var` (each [C×1]) are given they are updated with o.momentum. A group of a
/// single value (m = 1 for a dense layer) has no batch statistics: shape_error naming the op and the call.
/// Evaluation (!o.training): Y = γ ⊙ (X − r_μ)/√(r_σ² + ε) + β with the running statistics, which must be
/// given (op `batch_norm_eval`).
template <class T>
var<T> batch_norm(const var<T>& x, const var<T>& gamma, const var<T>& beta,
                  std::type_identity_t<matrix<T>>* running_mean, std::type_identity_t<matrix<T>>* running_var,
                  const batch_norm_options& o = {},
                  std::source_location loc = std::source_location::current());

/// Per example (column) j over its d rows: μⱼ = (1/d) Σᵢ Xᵢⱼ, σⱼ² = (1/d) Σᵢ (Xᵢⱼ − μⱼ)²,
/// Y = γ ⊙ (X − μ)/√(σ² + ε) + β with γ, β [d×1] (one per feature). X : [d×m] → [d×m]; m = 1 is fine.
template <class T>
var<T> layer_norm(const var<T>& x, const var<T>& gamma, const var<T>& beta, double eps = 1e-5,
                  std::source_location loc = std::source_location::current());

}  // namespace xgrad
