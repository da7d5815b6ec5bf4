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
///
/// Or, with the optimizer's step sharded over the ranks (ZeRO stage 1: each rank updates 1/N of the flat
/// parameters, then every rank gets the others' new weights; fit_options::shard_optimizer):
///   xgrad::dist::broadcast_model(comm, net, opt);
///   xgrad::dist::sharded_optimizer<float> zero(comm, opt);
///   for each global batch:  opt.zero_grad(); loss = …;  zero.backward(g, loss, double(m) / M);  zero.step();
///   before saving opt's state:  zero.gather_state();
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

/// The optimizer's step sharded over the ranks (ZeRO stage 1). The flat parameters (numbered as the
/// optimizer's state_offset) are cut into N contiguous shards, rank r's = shard_of(total, r, N). Per step:
///   reduce-scatter:  rank r's shard of the gradients ← Σ_q s_q·∇_q  (s_q = m_q / M, as gradient_reducer)
///   update:          optimizer.update(shard r) on rank r only (its state is valid only in its shard)
///   all-gather:      every rank's weights ← the owners' new weights;  end_step on every rank
/// One reduce-scatter and one all-gather move the same bytes as one ring allreduce, and each rank does 1/N of
/// the optimizer's work. A parameter of at least a quarter of `bucket_bytes` is sharded so, sent from its
/// gradient and gathered into its weights without copies. The smaller ones are summed whole with one
/// allreduce that also carries every rank's finiteness verdict, and every rank updates them whole (a few
/// KB: cheaper than two more synchronisations of the ranks per step). The optimizer must update in parts
/// (optimizer::can_update_in_parts: sgd, adam). Every call but first_non_finite is collective: every rank
/// makes the same calls in the same order.
template <class T>
class sharded_optimizer {
public:
    sharded_optimizer(communicator& comm, optim::optimizer<T>& opt,
                      std::size_t bucket_bytes = std::size_t(1) << 20);
    ~sharded_optimizer();
    sharded_optimizer(const sharded_optimizer&) = delete;
    sharded_optimizer& operator=(const sharded_optimizer&) = delete;

    /// After this rank's backward: this rank's shard of every gradient ← Σ_r scale_r·∇_r (scale: this rank's
    /// m_r / M). The gradients outside the shard are left unsummed (the step does not read them).
    void reduce(double scale);
    /// g.backward(root), seeded with `scale` when no gradient was accumulated before, and reduce.
    void backward(graph<T>& g, const var<T>& root, double scale);
    /// After reduce: the index in the optimizer's params() of the first parameter whose summed gradient is
    /// not finite in any rank's shard, or params().size() when all are finite — the same answer on every rank
    /// (reduce combined the verdicts). ∇ ∈ ℝⁿ finite ⇔ ∀i |∇ᵢ| < ∞.
    std::size_t first_non_finite() const noexcept;
    /// The optimizer's update of this rank's shard, every rank's new weights from their owners, end_step.
    void step();
    /// Every rank's optimizer state (sgd's velocity, adam's moments) ← the owners' shards: the whole state on
    /// every rank (before saving it, or before using the optimizer without sharding).
    void gather_state();

    shard own() const noexcept;  ///< this rank's flat elements [begin, begin + count)
    std::size_t buckets() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> m;
};

}  // namespace xgrad::dist
