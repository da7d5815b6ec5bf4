/// @file ops/loss.hpp
/// @brief Losses. Every loss is a 1×1 tensor averaged over the m examples (columns), C = (1/m) Σⱼ Lⱼ,
/// where an example's loss Lⱼ sums over its rows (classes, outputs). So dLoss/dprediction carries the 1/m
/// that the lecture writes into dW = (1/m)·dA·Hᵀ and db = (1/m)·Σ dA.
///
/// Targets are constants of the prediction's shape (one-hot or probabilities, examples as columns), or,
/// where stated, a [1×m] row of integer class labels (stored in T, checked to be integers in [0, c)).
/// Backward rules, for predictions and targets: docs/ops.md (generated from src/core/ops/loss.cpp). A loss of
/// your own with a label input: label_loss_op (loss_op.hpp).
#pragma once

#include <source_location>

#include "xgrad/config.hpp"
#include "xgrad/fwd.hpp"

namespace xgrad {

/// Cross-entropy of softmax(Z), fused and computed from the logits Z [c×m] with log-sum-exp:
///   C = −(1/m) Σⱼ Σᵢ Tᵢⱼ log softmax(Z)ᵢⱼ
/// — its gradient is Hinton's ∂C/∂zᵢ = yᵢ − tᵢ, the lecture's dA[2] = H[2] − Y. Finite for logits of any
/// magnitude. T is [c×m] with columns summing to 1 (one-hot or distributions; it may require a gradient) or
/// [1×m] labels.
template <class T>
var<T> softmax_cross_entropy(const var<T>& logits, const var<T>& targets,
                             std::source_location loc = std::source_location::current());

/// Cross-entropy on probabilities P [c×m], composed from ops (log, mul, sum): C = −(1/m) Σ T ⊙ log P.
/// For comparison with the fused version: softmax followed by this gives the same values on ordinary
/// logits, but log P reaches −∞ (and 0·−∞ = NaN) once softmax underflows. T: [c×m] or [1×m] labels.
template <class T>
var<T> cross_entropy(const var<T>& probs, const var<T>& targets,
                     std::source_location loc = std::source_location::current());

/// Binary cross-entropy from logits Z (any [r×m]), stable via softplus:
///   C = (1/m) Σ max(Z, 0) − Z ⊙ Y + log(1 + e^(−|Z|))
/// The lecture's sigmoid output layer with dA[2] = H[2] − Y. Y has Z's shape (values in [0, 1]).
template <class T>
var<T> bce_with_logits(const var<T>& logits, const var<T>& targets,
                       std::source_location loc = std::source_location::current());

/// Binary cross-entropy on probabilities P:  C = −(1/m) Σ Y ⊙ log P + (1 − Y) ⊙ log(1 − P)
/// Each log is clamped at −100 (as PyTorch does), so P = 0 or 1 gives a large finite loss, not ∞/NaN.
template <class T>
var<T> binary_cross_entropy(const var<T>& probs, const var<T>& targets,
                            std::source_location loc = std::source_location::current());

/// Mean squared error with the lecture's scaling:  C = (1/(2m)) Σᵢⱼ (Hᵢⱼ − Yᵢⱼ)²
/// (PyTorch's MSELoss is (1/(r·m)) Σ (H − Y)²: for one output row, ours is half of it.)
template <class T>
var<T> mse(const var<T>& pred, const var<T>& targets,
           std::source_location loc = std::source_location::current());

/// One-hot matrix [classes×m] from a [1×m] row of integer labels; throws graph_error naming the first
/// label that is not an integer in [0, classes).
template <class T>
matrix<T> one_hot(const matrix<T>& labels, std::size_t classes);

}  // namespace xgrad
