/// @file data.hpp
/// @brief Data sets in the lecture's layout, in memory: TensorFlow-Playground-style synthetic 2-D sets,
/// feature scaling, a train/validation split and a mini-batch iterator. Reading them from files (IDX, CSV)
/// is the I/O layer's job: io/loaders.hpp.
///
/// Examples are columns: a data set's X is [features × n] and its labels Y are a [1 × n] row of integer
/// class indices stored as T — exactly what softmax_cross_entropy accepts (one_hot turns them into a
/// [classes × n] matrix). Every function here is instantiated for float and double; T defaults to float.
///
/// Everything that reads a file or checks an argument throws data_error, whose message starts with the
/// file (or the function) and says what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xgrad/config.hpp"
#include "xgrad/error.hpp"
#include "xgrad/init.hpp"

namespace xgrad {

/// A data file that cannot be read or is malformed, or an invalid argument to a data function.
class data_error : public error {
public:
    using error::error;
};

namespace data {

using xgrad::data_error;  ///< also reachable as data::data_error

/// A labelled data set: x [features × n] (one example per column), y [1 × n] class indices in
/// [0, classes) stored as T. A table loaded without labels has y [0 × n] and classes = 0.
template <class T = float>
struct dataset {
    matrix<T> x;                             ///< [features × n]
    matrix<T> y;                             ///< [1 × n] labels (or [0 × n]: unlabelled)
    std::size_t classes = 0;                 ///< labels lie in [0, classes)
    std::vector<std::string> class_names;    ///< optional, classes entries when set
    std::vector<std::string> feature_names;  ///< optional (a CSV header), features() entries when set
    std::size_t size() const { return x.shape()[1]; }      ///< n, the number of examples (columns)
    std::size_t features() const { return x.shape()[0]; }  ///< the number of rows of x
};

// ---------------------------------------------------------------------------------------------------
// Synthetic 2-D sets in the style of the TensorFlow Playground (playground.tensorflow.org)
//
// x is [2 × n], y [1 × n]; the columns are shuffled (classes interleaved). The same (n, noise, seed)
// gives bit-identical data on every platform (drawn from xgrad::rng, whose uniform and Gaussian mappings are
// written out, not std::*_distribution, whose output is implementation-defined). `noise` is the Playground's
// slider as a fraction, typically in [0, 0.5]; 0 gives clean classes.

/// Two classes, n/2 each: class 1 inside radius 2.5 (r ~ U[0, 2.5]), class 0 on the ring r ~ U[3.5, 5];
/// each label is that of the point moved by noise·U[−5, 5]² (the point itself is stored unmoved).
template <class T = float>
dataset<T> make_circle(std::size_t n, double noise, std::uint64_t seed);

/// Two classes: x₁, x₂ ~ U[−5, 5] pushed 0.3 away from the axes; label 1 when x₁·x₂ ≥ 0 for the point
/// moved by noise·U[−5, 5]², else 0.
template <class T = float>
dataset<T> make_xor(std::size_t n, double noise, std::uint64_t seed);

/// Two Gaussian clusters, n/2 each: class 1 around (2, 2), class 0 around (−2, −2), each coordinate
/// N(centre, σ²) with variance σ² = 0.5 + 7·noise (0.5 … 4 for noise 0 … 0.5).
template <class T = float>
dataset<T> make_gauss(std::size_t n, double noise, std::uint64_t seed);

/// `arms` interleaved spirals (arms ≥ 2; 2 or 3 usual), n/arms points each: point i of arm k is
/// r (sin t, cos t) + noise·U[−1, 1]², r = 5·i/m, t = 1.75·2π·i/m + 2πk/arms (m points on the arm);
/// label k.
template <class T = float>
dataset<T> make_spiral(std::size_t n, std::size_t arms, double noise, std::uint64_t seed);

// ---------------------------------------------------------------------------------------------------
// Scaling, splitting, batching

/// How a standardizer maps each feature row.
enum class scaling {
    standard,  ///< z = (x − mean) / std   (population std; a constant feature gets std 1)
    min_max,   ///< z = (x − min) / (max − min)   (into [0, 1]; a constant feature gets max − min = 1)
};

/// Per-feature (per-row) affine scaling z = (x − offset) / scale, fitted on one matrix (the training
/// set) and applied to others (validation, test) so all see the same transformation.
template <class T = float>
class standardizer {
public:
    explicit standardizer(scaling method = scaling::standard) : m_method(method) {}

    /// offset, scale [features × 1] from x [features × n]: mean and std, or min and max − min, of each
    /// row (computed in double). Throws data_error, naming the feature and leaving the standardizer as it
    /// was, for an x without columns, a value that is not finite, or statistics T cannot hold.
    standardizer& fit(const matrix<T>& x);
    /// x ← (x − offset) / scale, row by row, in place (computed in double). x must have the fitted number
    /// of rows. Throws data_error naming the feature, the example and the value, and leaves x unchanged, if
    /// a result is not finite in T.
    void apply(matrix<T>& x) const;
    /// x ← x · scale + offset, in place: undoes apply (checked like apply).
    void invert(matrix<T>& x) const;

    bool fitted() const { return m_offset.size() != 0; }
    scaling method() const { return m_method; }
    const matrix<T>& offset() const { return m_offset; }  ///< [features × 1] mean or min
    const matrix<T>& scale() const { return m_scale; }    ///< [features × 1] std or max − min (never 0)

private:
    void check(const matrix<T>& x, const char* what) const;
    void check_stats(std::size_t feature, T lo, T hi, double offset, double scale) const;
    template <class F>
    void map(matrix<T>& x, const char* what, F&& f) const;
    scaling m_method;
    matrix<T> m_offset, m_scale;
};

/// The data set restricted to the given columns, in that order: x[:, columns], y[:, columns]
/// (classes and names kept). Throws data_error for a column ≥ size().
template <class T = float>
dataset<T> subset(const dataset<T>& ds, std::span<const std::size_t> columns);

/// {train, validation}: the n columns in a seeded random order, the first round(n · validation_fraction)
/// to validation and the rest to train (disjoint, together all of ds; deterministic for a seed).
/// validation_fraction must be in [0, 1].
template <class T = float>
std::pair<dataset<T>, dataset<T>> split(const dataset<T>& ds, double validation_fraction, std::uint64_t seed);

/// The columns split takes for n examples: {train, validation}, each in the order split gives them.
std::pair<std::vector<std::size_t>, std::vector<std::size_t>> split_columns(std::size_t n,
                                                                            double validation_fraction,
                                                                            std::uint64_t seed);

/// The example-major copy of ds.x a shuffling batcher reads ([n × features]: example j is row j), made once
/// so that several batchers over the same data set (the threads of fit_threads, train_threads.hpp) share it
/// instead of each holding its own (batcher::share_examples).
template <class T = float>
std::shared_ptr<const std::vector<T>> example_major(const dataset<T>& ds);

/// Mini-batches as column blocks: batch k of an epoch is x[:, p[kB … kB+B−1]], y[:, …] for a fresh
/// random permutation p of the columns (or the identity without shuffling); the last batch holds the
/// n mod B remaining examples when B does not divide n.
///
///     data::batcher<float> b(train, 64, seed);
///     for (int epoch = 0; epoch < epochs; ++epoch) {
///         b.start_epoch();
///         while (b.next()) step(b.x(), b.y());   // [features × B], [1 × B]
///     }
///
/// The batches are written into buffers owned by the batcher: one pair for full batches and one for the
/// short last batch, each allocated on first use, so after the first epoch next() allocates nothing and
/// x().data() is the same pointer for every full batch. The references returned by x() and y() stay
/// valid, but their contents are overwritten by the next call to next(). The batcher reads `ds` in place:
/// the data set must outlive it and not change size. A shuffling batcher keeps its own example-major copy of
/// x ([n × features], made by its first next(): as much memory again as ds.x), so each example of a random
/// batch is one contiguous read; values written into ds.x after that are not seen.
template <class T = float>
class batcher {
public:
    /// batch_size ≥ 1 (larger than n means one batch of all n). shuffle = false keeps the column order
    /// (for evaluation); the seed then does not matter.
    batcher(const dataset<T>& ds, std::size_t batch_size, std::uint64_t seed, bool shuffle = true);
    batcher(dataset<T>&&, std::size_t, std::uint64_t, bool = true) = delete;  // would dangle

    /// Begins an epoch: draws the next permutation (deterministic sequence for a seed).
    void start_epoch();
    /// Fills x() and y() with the next batch; false (buffers untouched) once the epoch is exhausted.
    /// The first call on a new batcher starts the first epoch by itself.
    bool next();

    const matrix<T>& x() const { return m_batch_full ? m_x_full : m_x_tail; }  ///< [features × b]
    const matrix<T>& y() const { return m_batch_full ? m_y_full : m_y_tail; }  ///< [labels rows × b]
    /// The columns of the data set in the current batch, in batch order.
    std::span<const std::size_t> indices() const {
        return std::span<const std::size_t>(m_order).subspan(m_begin, m_count);
    }

    /// Reads the examples from `rows`, example_major(ds) of this batcher's data set, instead of making its
    /// own copy (throws data_error if its size is not n × features).
    void share_examples(std::shared_ptr<const std::vector<T>> rows);
    /// Data parallelism: from now on x() and y() hold only part `rank` of `ranks` of each batch (the columns
    /// dist::shard_of(count, rank, ranks) of it, ⌊count·rank/ranks⌋ … ⌊count·(rank+1)/ranks⌋ − 1, possibly
    /// none); the batches themselves (order, sizes, global_count) are those of the unsharded batcher.
    void set_shard(std::size_t rank, std::size_t ranks);
    /// Examples in the current batch, of all ranks (x() has only this rank's part of them when sharded).
    std::size_t global_count() const { return m_count; }

    std::size_t batch_size() const { return m_batch; }
    std::size_t batches_per_epoch() const { return (m_ds->size() + m_batch - 1) / m_batch; }
    std::size_t epoch() const { return m_epoch; }  ///< epochs started so far

private:
    const dataset<T>* m_ds;
    std::size_t m_batch;
    bool m_shuffle;
    rng m_rng;
    std::vector<std::size_t> m_order;              // this epoch's permutation of the columns
    std::shared_ptr<const std::vector<T>> m_rows;  // shuffling: x transposed, [n × features] (example rows)
    std::size_t m_begin = 0, m_count = 0, m_epoch = 0;
    std::size_t m_rank = 0, m_ranks = 1;  // set_shard
    bool m_started = false, m_batch_full = true;
    matrix<T> m_x_full, m_y_full, m_x_tail, m_y_tail;
};

}  // namespace data
}  // namespace xgrad