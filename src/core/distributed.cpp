#include "xgrad/distributed.hpp"

#include <algorithm>
#include <limits>
#include <span>
#include <unordered_map>

#include <fmt/format.h>

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

template void broadcast_model(communicator&, nn::module<float>&, int);
template void broadcast_model(communicator&, nn::module<double>&, int);
template void broadcast_optimizer_state(communicator&, optim::optimizer<float>&, int);
template void broadcast_optimizer_state(communicator&, optim::optimizer<double>&, int);
template void average_buffers(communicator&, nn::module<float>&);
template void average_buffers(communicator&, nn::module<double>&);
template class gradient_reducer<float>;
template class gradient_reducer<double>;

}  // namespace xgrad::dist
