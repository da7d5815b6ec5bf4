/// @file train.hpp
/// @brief The training loop for classifiers: mini-batches, a loss (softmax cross-entropy unless you pass your
/// own), an optimizer, per-epoch loss and accuracy (or your metric) reported through callbacks, and
/// evaluation with a confusion matrix. Showing progress and
/// drawing charts is the application's job (the xgrad command does both).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <source_location>
#include <string>
#include <vector>

#include "xgrad/communicator.hpp"
#include "xgrad/data.hpp"
#include "xgrad/nn.hpp"
#include "xgrad/optim.hpp"

namespace xgrad::detail {

/// The data-parallel step of fit_threads' threads (train_threads.cpp), which share memory: instead of
/// allreduces and a full optimizer step on every thread, the threads sum the gradients and update the
/// parameters together, each its slice of the flat parameters, and copy the new weights into every replica.
/// Every call is collective (all ranks, same order).
template <class T>
class shared_update {
public:
    virtual ~shared_update() = default;
    /// After this rank's backward (none without examples): stats (this rank's loss·m_r and metric sum) ←
    /// their sums over the ranks in rank order; scale = m_r / m (this rank's share of the batch).
    virtual void exchange(int rank, double (&stats)[2], double scale) = 0;
    /// The gradient Σ_r scale_r·∇_r (in rank order); returns, on every rank alike, the index in
    /// named_parameters() of the first parameter whose summed gradient is not finite (when check), or
    /// its size() when all are.
    virtual std::size_t reduce(int rank, bool check) = 0;
    /// The optimizer's update of this rank's slice (its own replica, its own optimizer), its new weights
    /// written into every other replica; after it every replica holds all new weights.
    virtual void update(int rank) = 0;
    /// After an epoch's last step, before validation and on_epoch: the optimizer of rank 0 gets its whole
    /// state.
    virtual void end_epoch(int rank) = 0;
};

}  // namespace xgrad::detail

namespace xgrad::train {

/// A loss for fit and evaluate: the model's output [outputs × m] and the batch's labels [1 × m] → a 1×1
/// tensor, the mean over the batch's m examples (every built-in loss is; so is a label_loss_op):
///   o.loss = [](const auto& z, const auto& y) { return multiclass_hinge(z, y); };
template <class T>
using loss_function = std::function<var<T>(const var<T>& output, const var<T>& labels)>;

/// A metric for fit and evaluate: the sum over the batch's examples of a score per example (1 right, 0 wrong
/// for accuracy); fit and evaluate report its mean over the examples.
template <class T>
using metric_function = std::function<double(const matrix<T>& output, const matrix<T>& labels)>;

/// Accuracy as a metric: the number of columns whose largest output is at the label's row.
template <class T>
double count_correct(const matrix<T>& output, const matrix<T>& labels);

/// What one epoch did.
struct epoch_stats {
    int epoch = 0;    ///< 1-based
    double loss = 0;  ///< mean training loss over the epoch's examples
    double train_accuracy =
        0;                     ///< the metric's mean over the epoch's training examples (accuracy by default)
    double val_accuracy = -1;  ///< the same on the validation set after the epoch; −1 without one
    double val_loss = -1;
    double learning_rate = 0;
    double seconds = 0;              ///< wall time of the epoch (training and validation)
    double examples_per_second = 0;  ///< training examples ÷ training time
};

/// Accuracy (or the metric's mean), loss and confusion matrix on a data set.
struct evaluation {
    double accuracy = 0;  ///< the metric's mean over the examples (accuracy by default)
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
    /// Epochs already done, to resume a run: fit runs epochs first_epoch … epochs − 1 (numbered from
    /// first_epoch + 1), after drawing the shuffling orders of the epochs before, so that with the parameters
    /// and the optimizer's state (optimizer::state) restored it continues exactly as the run would have.
    int first_epoch = 0;
    /// Learning rate for each epoch (0-based); empty keeps the optimizer's.
    std::function<double(int)> schedule;
    /// Check every gradient for NaN/Inf before each update (one pass over the parameters; a diverging run
    /// then stops with numeric_error naming the parameter, before any weight becomes non-finite).
    bool check_gradients = true;
    /// Called after each mini-batch's update (e.g. to draw a progress bar).
    std::function<void(const batch_progress&)> on_batch;
    /// Called after each epoch (e.g. to stop early by throwing, or to log).
    std::function<void(const epoch_stats&)> on_epoch;
    /// The loss minimised (and reported); empty: softmax_cross_entropy(output, labels).
    loss_function<T> loss;
    /// The metric reported as train_accuracy and val_accuracy; empty: accuracy (count_correct).
    metric_function<T> metric;
    /// Data parallelism (distributed.hpp). With a communicator of N ranks, every rank calls fit with the same
    /// model, options and data; rank 0's weights and optimizer state are broadcast first; each global batch
    /// of N·batch examples (the shuffling one process gets with --batch N·batch and the same seed) is split
    /// across the ranks (dist::shard_of), the gradients are averaged over the global batch, and the
    /// reported loss, metric and validation are those of all ranks together. Null: this process alone.
    dist::communicator* communicator = nullptr;
    /// With a communicator: start each bucket's allreduce while backward still runs (non-blocking sums).
    /// Off by default: with Open MPI 4.1 on one machine a non-blocking sum took twice as long as a blocking
    /// one and progressed only inside MPI calls, so overlapping lost time (docs/distributed.md).
    bool overlap_reduction = false;
    /// With a communicator: shard the optimizer's step over the ranks (ZeRO stage 1,
    /// dist::sharded_optimizer): the gradients are reduce-scattered, each rank updates its 1/N of the flat
    /// parameters and the new weights are all-gathered, instead of an allreduce and the whole step on every
    /// rank. The same results up to the order of the sums. Only for optimizers that update in parts (sgd,
    /// adam); others step whole. The optimizer's state is gathered onto every rank at the end of each epoch
    /// (before on_epoch) and when fit ends or stops with numeric_error, so it can be saved then;
    /// overlap_reduction does not apply.
    bool shard_optimizer = false;
    /// With a communicator: the size of the gradient buckets (dist::gradient_reducer,
    /// dist::sharded_optimizer).
    std::size_t bucket_bytes = std::size_t(1) << 20;
    /// With a communicator: `batch` is the global batch, split across the ranks (dist::shard_of), instead of
    /// each rank's (fit_threads sets it, so that the thread count does not change the batches).
    bool split_batch = false;
    /// The example-major copy of the training set's x (data::example_major) for fit's batcher to read
    /// instead of making its own (fit_threads shares one among its threads). Null: fit's batcher makes one.
    std::shared_ptr<const std::vector<T>> shared_examples;
    /// Set by fit_threads: the threads' shared gradient sum and update (detail::shared_update).
    xgrad::detail::shared_update<T>* shared_update = nullptr;
};

/// Trains `model` (outputs [classes × m] out of x [features × m]) with `options.loss` — softmax
/// cross-entropy unless given — against the labels of `train`, one optimizer step per mini-batch:
///   zero_grad → record forward and loss → backward → step.
/// The model is in training mode while it trains (module::train), and back in its previous mode after.
/// One graph is re-recorded every step, so its buffers are reused. An op error inside names `loc`.
template <class T>
std::vector<epoch_stats> fit(nn::module<T>& model, optim::optimizer<T>& opt, const data::dataset<T>& train,
                             const fit_options<T>& options = {},
                             std::source_location loc = std::source_location::current());

/// Accuracy (argmax of the outputs per column against the label; or `metric`'s mean), mean loss (softmax
/// cross-entropy, or `loss`) and confusion matrix (from the argmax), evaluated under no_grad in batches of
/// `batch`, with the model in evaluation mode (module::eval; its previous mode is restored after).
/// With a communicator, each rank evaluates its slice of the examples (dist::shard_of) and every rank gets
/// the totals.
template <class T>
evaluation evaluate(nn::module<T>& model, const data::dataset<T>& ds, std::size_t batch = 1000,
                    const loss_function<T>& loss = {}, const metric_function<T>& metric = {},
                    dist::communicator* communicator = nullptr);

/// The confusion matrix as an aligned text table (rows: true class, by number and name; columns: predicted,
/// by number).
std::string format_confusion(const evaluation& e, const std::vector<std::string>& class_names = {});

}  // namespace xgrad::train
