/// @file distributed.hpp
/// @brief Data parallelism over a communicator (communicator.hpp): N processes train one model as one
/// process would with N× the batch. Each global batch is split into N slices (shard_of); every rank runs
/// forward and backward on its slice; gradient_reducer averages the gradients over the global batch, in
/// flat buckets (one allreduce per bucket, not per tensor), optionally while backward still runs; every
/// rank then makes the same optimizer step. broadcast_model makes the ranks start equal.
///
///   xgrad::dist::broadcast_model(comm, net, opt);                  // rank 0's weights and state everywhere
///   xgrad::dist::gradient_reducer<float> reducer(comm, net.parameters());
///   for each global batch of M examples:  (this rank's slice: m = shard_of(M, rank, size).count columns)
///       opt.zero_grad(); loss = mean loss over the slice;
///       reducer.backward(g, loss, double(m) / M);                // backward + Σ_r (m_r/M)·∇_r over ranks
///       opt.step();
///
/// train::fit does all of this when fit_options::communicator is set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "xgrad/communicator.hpp"
#include "xgrad/graph.hpp"
#include "xgrad/nn.hpp"
#include "xgrad/optim.hpp"

namespace xgrad::dist {

/// A rank's part of m items: [begin, begin + count) with begin = ⌊m·r/N⌋, end = ⌊m·(r+1)/N⌋ (the slices of
/// the N ranks are disjoint, in rank order, cover all m, and differ in size by at most 1).
struct shard {
    std::size_t begin = 0, count = 0;
};
shard shard_of(std::size_t m, int rank, int size);

/// Sets every parameter and buffer (batch_norm's running statistics) of `model` to root's values.
template <class T>
void broadcast_model(communicator& comm, nn::module<T>& model, int root = 0);

/// Sets the optimizer's state (sgd's velocity; adam's moments and step count) to root's.
template <class T>
void broadcast_optimizer_state(communicator& comm, optim::optimizer<T>& opt, int root = 0);

/// broadcast_model and broadcast_optimizer_state.
template <class T>
void broadcast_model(communicator& comm, nn::module<T>& model, optim::optimizer<T>& opt, int root = 0) {
    broadcast_model(comm, model, root);
    broadcast_optimizer_state(comm, opt, root);
}

/// Replaces every buffer of `model` (e.g. running statistics, which each rank updates from its own slices)
/// by its mean over the ranks: b ← (1/N) Σ_r b_r.
template <class T>
void average_buffers(communicator& comm, nn::module<T>& model);

/// Averages the gradients of `params` over the ranks, weighted by each rank's share of the global batch:
///   ∇ ← Σ_r s_r·∇_r   with s_r = m_r / M (the mean over the global batch's M examples when each ∇_r is the
/// mean over the rank's m_r examples).
/// The gradients are packed into flat buckets of about `bucket_bytes` (parameters in reverse order, as
/// backward finishes them) and each bucket is summed with one allreduce.
template <class T>
class gradient_reducer {
public:
    gradient_reducer(communicator& comm, std::vector<parameter<T>*> params,
                     std::size_t bucket_bytes = std::size_t(1) << 20);
    ~gradient_reducer();
    gradient_reducer(const gradient_reducer&) = delete;
    gradient_reducer& operator=(const gradient_reducer&) = delete;

    /// After this rank's backward: every gradient ← Σ_r scale_r·∇_r (scale: this rank's m_r / M), one
    /// blocking allreduce per bucket.
    void reduce(double scale);
    /// g.backward(root) and reduce(scale); with overlap, each bucket's (non-blocking) allreduce starts as
    /// soon as backward has finished the gradients in it (graph::set_backward_observer; an observer set
    /// before, such as a trace's, is called too and is back in place after).
    void backward(graph<T>& g, const var<T>& root, double scale, bool overlap = false);

    std::size_t buckets() const noexcept;
    std::size_t elements() const noexcept;  ///< number of gradient entries reduced per step

private:
    struct impl;
    std::unique_ptr<impl> m;
};

}  // namespace xgrad::dist
