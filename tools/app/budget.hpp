/// @file app/budget.hpp
/// @brief What a model will cost, computed from its layer sizes before anything is allocated, and what the
/// machine allows: so a command refuses an impossible model with the numbers instead of dying in
/// std::bad_alloc (or after hours of training, when the checkpoint cannot be written).
#pragma once

#include <cstddef>
#include <vector>

namespace xgrad::app {

/// The largest number of float parameters a model.npz can hold: the archive is written without ZIP64, so
/// it must stay below 4 GiB (4 bytes a parameter, with 1 MiB left for headers).
inline constexpr double max_checkpoint_parameters = (4294967296.0 - 1048576.0) / 4;

/// Memory a multilayer perceptron needs to train, in bytes (doubles: the counts can exceed 2^64 for absurd
/// sizes, and must still compare correctly).
struct model_cost {
    /// Σ over the layers of in·out + out
    double parameters = 0;
    /// float weights, their gradients and the optimizer's state
    double parameter_bytes = 0;
    /// every layer's output (and its gradient, in training) for a batch
    double activation_bytes = 0;
    /// the classes × classes confusion matrix of an evaluation (8-byte counts)
    double confusion_bytes = 0;
    double total() const { return parameter_bytes + activation_bytes + confusion_bytes; }
};

/// The cost of training the MLP sizes[0] → … → sizes.back() (classes) with mini-batches of `batch`
/// columns and an optimizer keeping `optimizer_state` floats per parameter (Adam 2, momentum 1, SGD 0), and
/// of running it without gradients on `eval_columns` columns at once (evaluation: 1000; the grid of the
/// decision-region picture: 96² = 9216):
///   parameters = Σ_l sizes[l]·sizes[l+1] + sizes[l+1],
///   parameter_bytes = 4·parameters·(batch > 0 ? 2 + optimizer_state : 1)   (batch 0: evaluation only),
///   activation_bytes = 4·max(4·batch, 2·eval_columns)·Σ_l sizes[l]
///                      (training: the input batch, value and gradient of each A and H; evaluation: the
///                      values),
///   confusion_bytes = 8·classes².
model_cost estimate_cost(const std::vector<std::size_t>& sizes, std::size_t batch, int optimizer_state,
                         std::size_t eval_columns = 1000);

/// Bytes of memory this process can use: the machine's physical memory, or a smaller cgroup limit or
/// process limit (ulimit -v, ulimit -d).
double memory_limit();

}  // namespace xgrad::app
