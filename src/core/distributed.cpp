#include "xgrad/distributed.hpp"

#include <algorithm>
#include <limits>
#include <span>
#include <unordered_map>

#include <fmt/format.h>

#include "xgrad/detail/finite.hpp"
#include "xgrad/error.hpp"

namespace xgrad::dist {

shard shard_of(std::size_t m, int rank, int size) {
    if (size < 1 || rank < 0 || rank >= size) {
        throw argument_error(fmt::format("shard_of: rank {} is not one of the {} ranks", rank, size));
    }
    const auto r = static_cast<std::size_t>(rank), n = static_cast<std::size_t>(size);
    // ⌊m·r/N⌋ without overflow for any m: m = qN + s  →  ⌊m·r/N⌋ = q·r + ⌊s·r/N⌋.
    const auto at = [&](std::size_t k) { return (m / n) * k + (m % n) * k / n; };
    return {at(r), at(r + 1) - at(r)};
}

std::size_t communicator::block_offset(std::span<const std::size_t> counts, std::size_t total,
                                       const char* what) const {
    if (counts.size() != static_cast<std::size_t>(size())) {
        throw argument_error(
            fmt::format("{}: {} block sizes for a group of {} ranks", what, counts.size(), size()));
    }
    std::size_t at = 0, sum = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
        if (r == static_cast<std::size_t>(rank())) at = sum;
        sum += counts[r];
    }
    if (sum != total) {
        throw argument_error(
            fmt::format("{}: the blocks hold {} elements but the buffer has {}", what, sum, total));
    }
    return at;
}

void communicator::check_block(std::size_t got, std::size_t want, const char* what) {
    if (got != want) {
        throw argument_error(
            fmt::format("{}: this rank's block has {} elements but its output has {}", what, want, got));
    }
}

namespace {

template <class T>
std::span<T> elements_of(parameter<T>& p) {
    return {p.value().data(), p.value().size()};
}

}  // namespace

template <class T>
void broadcast_model(communicator& comm, nn::module<T>& model, int root) {
    if (comm.size() == 1) return;
    for (auto& [name, p] : model.named_state()) comm.broadcast(elements_of(*p), root);
}

template <class T>
void broadcast_optimizer_state(communicator& comm, optim::optimizer<T>& opt, int root) {
    if (comm.size() == 1) return;
    if (auto* s = dynamic_cast<optim::sgd<T>*>(&opt)) {
        if (!s->velocity().empty()) comm.broadcast(s->velocity(), root);
    } else if (auto* a = dynamic_cast<optim::adam<T>*>(&opt)) {
        comm.broadcast(a->first_moment(), root);
        comm.broadcast(a->second_moment(), root);
        std::uint64_t t = a->steps();
        comm.broadcast(std::span<std::uint64_t>(&t, 1), root);
        a->set_steps(static_cast<std::size_t>(t));
    } else {
        throw argument_error(fmt::format(
            "broadcast_optimizer_state: optimizer '{}' is neither sgd nor adam; broadcast its state yourself",
            opt.name()));
    }
    std::vector<double> lr{static_cast<double>(opt.learning_rate())};
    comm.broadcast(std::span<double>(lr), root);
    opt.set_learning_rate(static_cast<T>(lr[0]));
}

template <class T>
void average_buffers(communicator& comm, nn::module<T>& model) {
    if (comm.size() == 1) return;
    const auto buffers = model.named_buffers();
    std::vector<T> flat;
    for (auto& [name, p] : buffers) flat.insert(flat.end(), p->value().begin(), p->value().end());
    if (flat.empty()) return;
    comm.allreduce_sum(std::span<T>(flat));
    const T inv = T(1) / static_cast<T>(comm.size());
    std::size_t at = 0;
    for (auto& [name, p] : buffers) {
        for (auto& v : p->value()) v = flat[at++] * inv;
    }
}

// ---------------------------------------------------------------- gradient_reducer

template <class T>
struct gradient_reducer<T>::impl {
    struct bucket {
        std::vector<std::size_t> params;  // indices into params, in packing order
        std::vector<T> buf;               // empty: one parameter, summed in place in its gradient
        std::size_t pending = 0;          // parameters not final yet (overlap)
        bool started = false;
        int handle = -1;
    };
    communicator* comm;
    std::vector<parameter<T>*> params;
    std::vector<bucket> buckets;
    std::vector<std::size_t> bucket_of;  // per parameter
    std::size_t elements = 0;
    double scale = 1;
    std::size_t next_to_start = 0;
    // overlap: per parameter, its first leaf on the tape, and the parameters in decreasing leaf order
    std::unordered_map<const T*, std::size_t> by_address;
    std::vector<std::size_t> first_leaf, order;
    std::size_t order_pos = 0;

    /// The span the bucket's sum runs on: its buffer, or its one parameter's gradient (summed in place).
    std::span<T> data_of(bucket& b) {
        if (!b.buf.empty()) return std::span<T>(b.buf);
        matrix<T>& g = params[b.params.front()]->grad_for_writing();
        return std::span<T>(g.data(), g.size());
    }
    void pack(bucket& b) {
        const T s = static_cast<T>(scale);
        if (b.buf.empty()) {  // in place: only the scale, if any
            if (s != T(1)) {
                for (T& v : data_of(b)) v *= s;
            }
            return;
        }
        T* out = b.buf.data();
        for (std::size_t k : b.params) {
            const matrix<T>& g = params[k]->grad();
            const T* in = g.data();
            const std::size_t n = g.size();
            for (std::size_t i = 0; i < n; ++i) out[i] = s * in[i];
            out += n;
        }
    }
    void unpack(bucket& b) {
        if (b.buf.empty()) return;
        const T* in = b.buf.data();
        for (std::size_t k : b.params) {
            matrix<T>& g = params[k]->grad_for_writing();
            std::copy(in, in + g.size(), g.data());
            in += g.size();
        }
    }
    /// Starts the buckets that are ready, in bucket order (every rank starts them in the same order).
    void start_ready() {
        while (next_to_start < buckets.size() && buckets[next_to_start].pending == 0) {
            bucket& b = buckets[next_to_start++];
            pack(b);
            b.handle = comm->start_allreduce_sum(data_of(b));
            b.started = true;
        }
    }
    void finish_all() {
        for (auto& b : buckets) b.pending = 0;
        start_ready();
        for (auto& b : buckets) {
            comm->wait(b.handle);
            b.handle = -1;
            unpack(b);
        }
    }
    void reset() {
        for (auto& b : buckets) {
            b.pending = b.params.size();
            b.started = false;
        }
        next_to_start = 0;
    }
};

template <class T>
gradient_reducer<T>::gradient_reducer(communicator& comm, std::vector<parameter<T>*> params,
                                      std::size_t bucket_bytes)
    : m(std::make_unique<impl>()) {
    m->comm = &comm;
    m->params = std::move(params);
    m->bucket_of.assign(m->params.size(), 0);
    const std::size_t limit = std::max<std::size_t>(bucket_bytes / sizeof(T), 1);
    // Parameters in reverse order: backward finishes the last layers first. A parameter of at least a quarter
    // of the bucket size gets a bucket of its own; so does one that would pass the size.
    std::vector<std::size_t> sizes;  // elements per bucket
    for (std::size_t j = m->params.size(); j-- > 0;) {
        const std::size_t n = m->params[j]->value().size();
        const bool large = 4 * n >= limit;
        if (m->buckets.empty() || large || sizes.back() + n > limit ||
            (m->buckets.back().params.size() == 1 && 4 * sizes.back() >= limit)) {
            m->buckets.emplace_back();
            sizes.push_back(0);
        }
        m->buckets.back().params.push_back(j);
        sizes.back() += n;
        m->bucket_of[j] = m->buckets.size() - 1;
        m->elements += n;
        m->by_address[m->params[j]->value().data()] = j;
    }
    // A bucket of one parameter is summed in place in its gradient (no copies); the others through a buffer.
    for (std::size_t k = 0; k < m->buckets.size(); ++k) {
        if (m->buckets[k].params.size() > 1) m->buckets[k].buf.resize(sizes[k]);
    }
}

template <class T>
gradient_reducer<T>::~gradient_reducer() = default;

template <class T>
std::size_t gradient_reducer<T>::buckets() const noexcept {
    return m->buckets.size();
}

template <class T>
std::size_t gradient_reducer<T>::elements() const noexcept {
    return m->elements;
}

template <class T>
void gradient_reducer<T>::reduce(double scale) {
    if (m->comm->size() == 1 && scale == 1) return;
    m->scale = scale;
    // Blocking sums, bucket by bucket: MPI's blocking allreduce is its fastest (Open MPI 4.1 on shared
    // memory: MPI_Iallreduce + MPI_Wait took twice as long for the MLP's 814 KB; docs/distributed.md).
    for (auto& b : m->buckets) {
        m->pack(b);
        m->comm->allreduce_sum(m->data_of(b));
        m->unpack(b);
    }
}

template <class T>
void gradient_reducer<T>::backward(graph<T>& g, const var<T>& root, double scale, bool overlap) {
    // With no gradient accumulated before, backward starts from the seed `scale` instead of 1, so that the
    // gradients come out scaled and the sums need no scaling pass (the buckets summed in place: no pass at
    // all). Accumulated gradients (gradient accumulation) are scaled after backward, as reduce does.
    bool seeded = root.shape() == shape2{1, 1};
    for (const parameter<T>* p : m->params) seeded = seeded && !p->has_grad();
    matrix<T> seed({1, 1});
    seed(0, 0) = static_cast<T>(scale);
    const auto run_backward = [&] {
        if (seeded) {
            g.backward(root, seed);
        } else {
            g.backward(root);
        }
    };
    if (m->comm->size() == 1 || !overlap) {
        run_backward();
        reduce(seeded ? 1.0 : scale);
        return;
    }
    m->scale = seeded ? 1.0 : scale;
    m->reset();
    // Each parameter's first leaf on the tape: its gradient is final once backward has visited every node
    // after that leaf (an op's inputs come before it on the tape).
    constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
    m->first_leaf.assign(m->params.size(), none);
    for (std::size_t id = 0, n = g.size(); id < n; ++id) {
        const auto it = m->by_address.find(g.value_of(static_cast<std::uint32_t>(id)).data());
        if (it != m->by_address.end() && m->first_leaf[it->second] == none) m->first_leaf[it->second] = id;
    }
    m->order.clear();
    for (std::size_t k = 0; k < m->params.size(); ++k) {
        if (m->first_leaf[k] != none) m->order.push_back(k);
    }
    std::sort(m->order.begin(), m->order.end(),
              [&](std::size_t a, std::size_t b) { return m->first_leaf[a] > m->first_leaf[b]; });
    m->order_pos = 0;
    impl* state = m.get();
    typename graph<T>::backward_observer previous = g.current_backward_observer();
    g.set_backward_observer([state, &previous](const graph<T>& gr, std::uint32_t id) {
        if (previous) previous(gr, id);
        // Nodes id … end are done: a leaf at ℓ is final when ℓ + 1 ≥ id.
        while (state->order_pos < state->order.size() &&
               state->first_leaf[state->order[state->order_pos]] + 1 >= id) {
            --state->buckets[state->bucket_of[state->order[state->order_pos++]]].pending;
        }
        state->start_ready();
    });
    try {
        run_backward();
    } catch (...) {
        g.set_backward_observer(std::move(previous));
        m->finish_all();  // the other ranks wait for this rank's sums
        throw;
    }
    g.set_backward_observer(std::move(previous));
    m->finish_all();
}

// ---------------------------------------------------------------- sharded_optimizer (ZeRO stage 1)

namespace {

/// The flat state buffers of an optimizer that updates in parts (sgd's velocity, adam's moments).
template <class T>
std::vector<std::span<T>> state_of(optim::optimizer<T>& opt) {
    if (auto* s = dynamic_cast<optim::sgd<T>*>(&opt)) {
        if (s->velocity().empty()) return {};
        return {s->velocity()};
    }
    if (auto* a = dynamic_cast<optim::adam<T>*>(&opt)) return {a->first_moment(), a->second_moment()};
    throw argument_error(fmt::format(
        "sharded_optimizer: optimizer '{}' is neither sgd nor adam; gather its state yourself", opt.name()));
}

}  // namespace

template <class T>
struct sharded_optimizer<T>::impl {
    struct bucket {
        std::size_t first = 0, last = 0;  // parameters [first, last) of the optimizer
        std::size_t begin = 0, end = 0;   // their flat elements
        std::vector<std::size_t> counts;  // sharded: per rank, its shard's part of [begin, end)
        std::size_t mine_at = 0;          // sharded: where this rank's part starts, relative to begin
        bool sharded = false;             // one large parameter; else small ones, summed whole and replicated
    };
    communicator* comm;
    optim::optimizer<T>* opt;
    std::vector<bucket> buckets;
    shard own;
    std::vector<T> small;  // the replicated buckets' gradients, then one flag per parameter (1: not finite)
    std::size_t small_elements = 0;
    std::size_t bad = 0;  // reduce's verdict: the first parameter whose sum is not finite, or params().size()

    parameter<T>& param(std::size_t k) { return *opt->params()[k]; }
    /// f(k, offset in parameter k, count, offset in [lo, hi)) for each parameter's part of the flat [lo, hi).
    template <class F>
    void pieces(std::size_t lo, std::size_t hi, F&& f) {
        for (std::size_t k = 0; k < opt->params().size(); ++k) {
            const std::size_t a = std::max(lo, opt->state_offset(k)),
                              b = std::min(hi, opt->state_offset(k + 1));
            if (a < b) f(k, a - opt->state_offset(k), b - a, a - lo);
        }
    }
};

template <class T>
sharded_optimizer<T>::sharded_optimizer(communicator& comm, optim::optimizer<T>& opt,
                                        std::size_t bucket_bytes)
    : m(std::make_unique<impl>()) {
    if (!opt.can_update_in_parts()) {
        throw argument_error(fmt::format(
            "sharded_optimizer: optimizer '{}' cannot update its parameters in parts (sgd and adam can)",
            opt.name()));
    }
    state_of(opt);  // (refuses an optimizer whose state it could not gather)
    m->comm = &comm;
    m->opt = &opt;
    const std::size_t count = opt.params().size(), total = opt.state_offset(count);
    const int n = comm.size();
    m->own = shard_of(total, comm.rank(), n);
    const std::size_t limit = std::max<std::size_t>(bucket_bytes / sizeof(T), 1);
    // Parameters in order (the shards are contiguous in this order): one of at least a quarter of the bucket
    // size is a sharded bucket of its own; the others share replicated buckets.
    for (std::size_t k = 0; k < count; ++k) {
        const std::size_t size = opt.state_offset(k + 1) - opt.state_offset(k);
        const bool large = 4 * size >= limit;
        auto* last = m->buckets.empty() ? nullptr : &m->buckets.back();
        if (last == nullptr || large || last->sharded || last->end - last->begin + size > limit) {
            m->buckets.emplace_back();
            m->buckets.back().first = k;
            m->buckets.back().begin = opt.state_offset(k);
            m->buckets.back().sharded = large;
        }
        m->buckets.back().last = k + 1;
        m->buckets.back().end = opt.state_offset(k + 1);
    }
    for (auto& b : m->buckets) {
        if (!b.sharded) {
            m->small_elements += b.end - b.begin;
            continue;
        }
        for (int r = 0; r < n; ++r) {
            const shard s = shard_of(total, r, n);
            const std::size_t lo = std::max(b.begin, s.begin), hi = std::min(b.end, s.begin + s.count);
            b.counts.push_back(lo < hi ? hi - lo : 0);
            if (r == comm.rank()) b.mine_at = lo < hi ? lo - b.begin : 0;
        }
    }
    m->small.resize(m->small_elements + count);
    m->bad = count;
}

template <class T>
sharded_optimizer<T>::~sharded_optimizer() = default;

template <class T>
shard sharded_optimizer<T>::own() const noexcept {
    return m->own;
}

template <class T>
std::size_t sharded_optimizer<T>::buckets() const noexcept {
    return m->buckets.size();
}

template <class T>
void sharded_optimizer<T>::reduce(double scale) {
    const T s = static_cast<T>(scale);
    const auto me = static_cast<std::size_t>(m->comm->rank());
    const std::size_t count = m->opt->params().size();
    T* flags = m->small.data() + m->small_elements;
    std::fill(flags, flags + count, T(0));
    // The sharded buckets: reduce-scatter in the gradient itself (this rank's part of the sums lands in its
    // place; the rest of the gradient is left unspecified), and checked.
    for (auto& b : m->buckets) {
        if (!b.sharded) continue;
        matrix<T>& g = m->param(b.first).grad_for_writing();
        if (s != T(1)) {
            for (T& v : std::span<T>(g.data(), g.size())) v *= s;
        }
        const std::size_t mine = b.counts[me];
        m->comm->reduce_scatter_sum_in_place(std::span<T>(g.data(), g.size()), b.counts);
        if (xgrad::detail::any_non_finite(g.data() + b.mine_at, mine)) flags[b.first] = T(1);
    }
    // The replicated buckets (small parameters) and the flags: one allreduce. Every rank then has the whole
    // sums of the small parameters (and updates them whole) and every rank's flags.
    T* out = m->small.data();
    for (auto& b : m->buckets) {
        if (b.sharded) continue;
        for (std::size_t k = b.first; k < b.last; ++k) {
            const matrix<T>& g = m->param(k).grad_for_writing();
            const T* in = g.data();
            for (std::size_t i = 0, size = g.size(); i < size; ++i) out[i] = s * in[i];
            out += g.size();
        }
    }
    m->comm->allreduce_sum(std::span<T>(m->small));
    const T* in = m->small.data();
    m->bad = count;
    for (auto& b : m->buckets) {
        if (b.sharded) continue;
        for (std::size_t k = b.first; k < b.last; ++k) {
            matrix<T>& g = m->param(k).grad_for_writing();
            std::copy_n(in, g.size(), g.data());
            in += g.size();
            if (m->bad == count && xgrad::detail::any_non_finite(g.data(), g.size())) m->bad = k;
        }
    }
    for (std::size_t k = 0; k < count; ++k) {
        if (flags[k] != T(0)) m->bad = std::min(m->bad, k);
    }
}

template <class T>
void sharded_optimizer<T>::backward(graph<T>& g, const var<T>& root, double scale) {
    bool seeded = root.shape() == shape2{1, 1};
    for (const parameter<T>* p : m->opt->params()) seeded = seeded && !p->has_grad();
    if (seeded) {
        matrix<T> seed({1, 1});
        seed(0, 0) = static_cast<T>(scale);
        g.backward(root, seed);
    } else {
        g.backward(root);
    }
    reduce(seeded ? 1.0 : scale);
}

template <class T>
std::size_t sharded_optimizer<T>::first_non_finite() const noexcept {
    return m->bad;
}

template <class T>
void sharded_optimizer<T>::step() {
    const auto me = static_cast<std::size_t>(m->comm->rank());
    for (auto& b : m->buckets) {  // this rank's part of each sharded bucket, every replicated bucket whole
        if (!b.sharded) {
            m->opt->update(b.begin, b.end);
        } else if (b.counts[me] > 0) {
            m->opt->update(b.begin + b.mine_at, b.begin + b.mine_at + b.counts[me]);
        }
    }
    for (auto& b : m->buckets) {
        if (!b.sharded) continue;
        matrix<T>& w = m->param(b.first).value();
        m->comm->all_gather(std::span<T>(w.data(), w.size()), b.counts);  // in place
    }
    m->opt->end_step();
}

template <class T>
void sharded_optimizer<T>::gather_state() {
    // Each rank's state is current in its shard of the sharded buckets and in all of the replicated ones
    // (where every rank's copy is the same): gathering the shards of the whole flat state gives all of it.
    const std::size_t total = m->opt->state_offset(m->opt->params().size());
    std::vector<std::size_t> counts;
    for (int r = 0, n = m->comm->size(); r < n; ++r) counts.push_back(shard_of(total, r, n).count);
    for (std::span<T> s : state_of(*m->opt)) m->comm->all_gather(s, counts);
}

template void broadcast_model(communicator&, nn::module<float>&, int);
template void broadcast_model(communicator&, nn::module<double>&, int);
template void broadcast_optimizer_state(communicator&, optim::optimizer<float>&, int);
template void broadcast_optimizer_state(communicator&, optim::optimizer<double>&, int);
template void average_buffers(communicator&, nn::module<float>&);
template void average_buffers(communicator&, nn::module<double>&);
template class gradient_reducer<float>;
template class gradient_reducer<double>;
template class sharded_optimizer<float>;
template class sharded_optimizer<double>;

}  // namespace xgrad::dist
