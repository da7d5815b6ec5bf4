/// @file train.hpp
/// @brief The training loop for classifiers: mini-batches, softmax cross-entropy, an optimizer, per-epoch
/// loss and accuracy reported through callbacks, and evaluation with a confusion matrix. Showing progress and
/// drawing charts is the application's job (the xgrad command does both).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "xgrad/data.hpp"
#include "xgrad/nn.hpp"
#include "xgrad/optim.hpp"

namespace xgrad::train {

/// What one epoch did.
struct epoch_stats {
    int epoch = 0;              ///< 1-based
    double loss = 0;            ///< mean training loss over the epoch's examples
    double train_accuracy = 0;  ///< fraction of training examples classified right during the epoch
    double val_accuracy = -1;   ///< on the validation set after the epoch; −1 without one
    double val_loss = -1;
    double learning_rate = 0;
    double seconds = 0;              ///< wall time of the epoch (training and validation)
    double examples_per_second = 0;  ///< training examples ÷ training time
};

/// Accuracy, loss and confusion matrix on a data set.
struct evaluation {
    double accuracy = 0;
    double loss = 0;
    std::size_t examples = 0;
    std::size_t classes = 0;
    /// confusion[t][p]: examples of true class t predicted as p.
    std::vector<std::vector<std::size_t>> confusion;
};

/// Where an epoch is, after each mini-batch (for progress displays).
struct batch_progress {
    int epoch = 0;              ///< 1-based
    int epochs = 0;             ///< of the run
    std::size_t batch = 0;      ///< batches done in this epoch (1-based)
    std::size_t batches = 0;    ///< per epoch
    double loss = 0;            ///< mean training loss of the epoch so far
    double train_accuracy = 0;  ///< of the epoch so far
};

template <class T>
struct fit_options {
    int epochs = 5;
    std::size_t batch = 64;
    std::uint64_t seed = 0;  ///< shuffling order of the mini-batches
    const data::dataset<T>* validation = nullptr;
    /// Learning rate for each epoch (0-based); empty keeps the optimizer's.
    std::function<double(int)> schedule;
    /// Check every gradient for NaN/Inf before each update (one pass over the parameters; a diverging run
    /// then stops with numeric_error naming the parameter, before any weight becomes non-finite).
    bool check_gradients = true;
    /// Called after each mini-batch's update (e.g. to draw a progress bar).
    std::function<void(const batch_progress&)> on_batch;
    /// Called after each epoch (e.g. to stop early by throwing, or to log).
    std::function<void(const epoch_stats&)> on_epoch;
};

/// Trains `model` (logits [classes × m] out of x [features × m]) with softmax cross-entropy against the
/// labels of `train`, one optimizer step per mini-batch:
///   zero_grad → record forward and loss → backward → step.
/// One graph is re-recorded every step, so its buffers are reused.
template <class T>
std::vector<epoch_stats> fit(nn::module<T>& model, optim::optimizer<T>& opt, const data::dataset<T>& train,
                             const fit_options<T>& options = {});

/// Accuracy (argmax of the logits per column against the label), mean loss and confusion matrix,
/// evaluated under no_grad in batches of `batch`.
template <class T>
evaluation evaluate(nn::module<T>& model, const data::dataset<T>& ds, std::size_t batch = 1000);

/// The confusion matrix as an aligned text table (rows: true class, columns: predicted).
std::string format_confusion(const evaluation& e, const std::vector<std::string>& class_names = {});

}  // namespace xgrad::train
