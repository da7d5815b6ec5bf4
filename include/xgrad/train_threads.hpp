/// @file train_threads.hpp
/// @brief Data parallelism over the threads of one process: fit_threads trains a model as fit does, with
/// each mini-batch split across N threads, each of which runs forward and backward on its part with its own
/// replica of the model; the gradients are summed over the threads in a fixed order (rank 0 + rank 1 + …,
/// whichever thread adds), so a run is bit-identical for the same seed, thread count and BLAS kernel, and
/// equals the one-thread run up to float rounding. The threads talk through a thread_team, a
/// dist::communicator (communicator.hpp) over shared memory; the BLAS runs one thread per worker meanwhile.
///
///   auto make = [&](int) {            // a model of the same architecture and an optimizer of the same kind
///       xgrad::train::replica<float> r;
///       r.model = xgrad::nn::mlp<float>({784, 256, 10}, xgrad::nn::activation_kind::relu, g);
///       r.optimizer = std::make_unique<xgrad::optim::adam<float>>(r.model->parameters(), 1e-3f);
///       return r;
///   };
///   xgrad::train::fit_threads(2, *net, opt, make, train, options);   // net and opt end trained
///
/// How the threads share the step, and when threads beat BLAS threads: docs/distributed.md ("Threads of one
/// process") and docs/performance.md ("Two threads").
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <source_location>
#include <vector>

#include "xgrad/communicator.hpp"
#include "xgrad/error.hpp"
#include "xgrad/train.hpp"

namespace xgrad::dist {

/// What a thread of a thread_team throws from a collective once another thread has failed (thread_team::
/// abort): fit_threads reports the first thread's error instead.
class team_aborted : public error {
public:
    using error::error;
};

/// N threads of one process that sum, broadcast and gather through shared memory: member(r) is rank r's
/// communicator, to be used by one thread each. Every collective is two waits at a barrier (publish,
/// combine); allreduce_sum adds the ranks' values in rank order, each thread summing its own slice of the
/// elements, and allocates nothing. A thread that fails calls abort(): every collective, waiting or to come,
/// then throws team_aborted, so no thread waits forever.
class thread_team {
public:
    explicit thread_team(int size);
    ~thread_team();
    thread_team(const thread_team&) = delete;
    thread_team& operator=(const thread_team&) = delete;

    int size() const noexcept { return m_size; }
    communicator& member(int rank);

    /// Waits until all size() threads have arrived (spinning 0.02–0.3 ms, as the recent waits went, then
    /// sleeping in the kernel); throws team_aborted, before or after waiting, once the team is aborted.
    void arrive_and_wait();
    /// Wakes every waiting thread and makes every wait throw team_aborted from now on.
    void abort() noexcept;
    bool aborted() const noexcept { return m_aborted.load(std::memory_order_acquire); }
    /// Waits at the barrier completed so far (for tests: counts, not times).
    std::uint64_t barriers() const noexcept { return m_generation.load(std::memory_order_acquire); }
    /// Waits at a barrier completed by every thread_team of the process so far (for tests of fit_threads,
    /// whose team is its own: counts, not times).
    static std::uint64_t barriers_in_process() noexcept;

private:
    friend class thread_member;
    int m_size;
    alignas(64) std::atomic<int> m_arrived{0};
    alignas(64) std::atomic<std::uint32_t> m_generation{0};
    std::atomic<bool> m_aborted{false};
    alignas(64) std::atomic<std::int64_t> m_spin_ns{100'000};  // arrive_and_wait's spin budget (adapts)
    // What each rank publishes for a collective (read by the others between the two waits).
    struct slot {
        alignas(64) void* data = nullptr;
        std::size_t size = 0;
        std::uint64_t value = 0;
    };
    std::vector<slot> m_slots;
    std::vector<std::unique_ptr<communicator>> m_members;
};

}  // namespace xgrad::dist

namespace xgrad::train {

/// A model and its optimizer for one of the threads 1 … N − 1 of fit_threads (thread 0 uses the caller's).
template <class T>
struct replica {
    std::unique_ptr<nn::module<T>> model;
    std::unique_ptr<optim::optimizer<T>> optimizer;
};

/// fit (train.hpp) on `threads` threads: thread 0 trains `model` with `opt`, thread r ≥ 1 a replica from
/// make_replica(r) (the same architecture, parameters in the same order; an optimizer of the same kind and
/// settings — its weights and state are overwritten by model's and opt's before the first batch). Each
/// mini-batch of options.batch examples (the batches of fit with the same seed) is split across the threads
/// (dist::shard_of: thread r gets columns ⌊m·r/N⌋ … ⌊m·(r+1)/N⌋ − 1, maybe none), and the update uses
///   ∇ = Σ_r (m_r/m)·∇_r   (summed in rank order),
/// which is the gradient of the mean loss over the batch; every replica makes the same update. The reported
/// loss, metric and validation are the batch's and the set's. The shuffled example-major copy of `train` is
/// made once and shared. on_batch and on_epoch run on thread 0 (the caller's) only; loss, metric and
/// schedule run on every thread at once. An exception in any thread stops all of them and is rethrown here
/// (the first one thrown). options.communicator must be null. threads = 1 is fit. With sgd or adam the
/// threads share the update (each its slice of the parameters, docs/distributed.md); opt then holds the whole
/// optimizer state at the end of each epoch (when on_epoch runs) and when fit_threads returns, but not
/// after an error inside an epoch.
template <class T>
std::vector<epoch_stats> fit_threads(int threads, nn::module<T>& model, optim::optimizer<T>& opt,
                                     const std::function<replica<T>(int rank)>& make_replica,
                                     const data::dataset<T>& train, const fit_options<T>& options = {},
                                     std::source_location loc = std::source_location::current());

}  // namespace xgrad::train
