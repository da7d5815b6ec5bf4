/// @file predict.hpp
/// @brief Applying a trained classifier to new examples: the class probabilities and the predicted class of
/// each column, as `xgrad predict` writes them.
#pragma once

#include <cstddef>
#include <vector>

#include "xgrad/config.hpp"
#include "xgrad/nn.hpp"

namespace xgrad::train {

/// What predict returns for x [features × n].
template <class T>
struct predictions {
    matrix<T> probabilities;  ///< [classes × n]: softmax of the model's outputs, each column sums to 1
    std::vector<std::size_t> classes;  ///< [n]: the row of each column's largest output (the first, on ties)
};

/// The model's class probabilities and predicted classes for the examples (columns) of x, evaluated under
/// no_grad in evaluation mode (module::eval; its previous mode is restored after) in batches of `batch`
/// columns (as train::evaluate, whose confusion matrix counts the same classes):
///   P[:, j] = softmax(model(x[:, j])),  P_ij = exp(Z_ij − max_i Z_ij) / Σ_k exp(Z_kj − max_k Z_kj)
/// (computed in double, so no output overflows). Throws argument_error for batch 0, an x without columns or a
/// model without outputs.
template <class T>
predictions<T> predict(nn::module<T>& model, const matrix<T>& x, std::size_t batch = 1000);

}  // namespace xgrad::train
