// The tape engine: recording leaves and ops, the reverse walk, contract checks and anomaly mode.
#include "xgrad/graph.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "xgrad/broadcast.hpp"
#include "xgrad/op.hpp"

namespace xgrad {

namespace detail {

namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() noexcept {
    return t_grad_enabled;
}

// ---------------------------------------------------------------- the registry of live graphs
//
// Slots are handed out under a mutex (graph construction and destruction only) and read without one: the
// chunks of entries are allocated once and never freed or moved, so graph_slot_at (graph.hpp) is two loads.
// Epochs come from one counter for all graphs; a handle's epoch therefore never matches another graph.

namespace {

constexpr std::uint32_t slot_chunk_size = 1u << graph_slot_chunk_bits;  // entries per chunk
constexpr std::uint32_t slot_chunk_count = graph_slot_chunk_count;

std::atomic<std::uint64_t> g_next_epoch{1};

struct slot_registry {
    std::mutex mutex;
    std::vector<std::uint32_t> free;  // released slots, reused last-in first-out
    std::uint32_t used = 0;           // slots handed out so far
};

slot_registry& registry() {
    static slot_registry* r = new slot_registry;  // never destroyed: a static graph may outlive it
    return *r;
}

std::uint64_t next_epoch() noexcept {
    return g_next_epoch.fetch_add(1, std::memory_order_relaxed);
}

struct registration {
    std::uint32_t slot;
    std::uint64_t epoch;
};

registration register_graph(void* g) {
    slot_registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    std::uint32_t slot;
    if (!r.free.empty()) {
        slot = r.free.back();
        r.free.pop_back();
    } else {
        if (r.used == slot_chunk_count * slot_chunk_size) {
            throw graph_error(fmt::format("graph: too many graphs alive at once (the limit is {})",
                                          slot_chunk_count * slot_chunk_size));
        }
        slot = r.used;
        if ((slot & (slot_chunk_size - 1)) == 0) {
            graph_slot_chunks[slot >> graph_slot_chunk_bits].store(new graph_slot[slot_chunk_size],
                                                                   std::memory_order_release);
        }
        ++r.used;
    }
    // The first epoch is drawn after the slot was taken, so it is larger than every epoch of the slot's
    // previous holders: their handles are recognised as older (var::owner).
    graph_slot& e = graph_slot_at(slot);
    const std::uint64_t epoch = next_epoch();
    e.first_epoch.store(epoch, std::memory_order_relaxed);
    e.epoch.store(epoch, std::memory_order_relaxed);
    e.graph.store(g, std::memory_order_release);
    return {slot, epoch};
}

void unregister_graph(std::uint32_t slot) noexcept {
    graph_slot& e = graph_slot_at(slot);
    e.graph.store(nullptr, std::memory_order_release);
    e.epoch.store(0, std::memory_order_release);
    slot_registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    try {
        r.free.push_back(slot);
    } catch (...) {  // out of memory: the slot is simply never reused
    }
}

}  // namespace

std::atomic<graph_slot*> graph_slot_chunks[graph_slot_chunk_count];  // constant-initialized to null

void throw_default_constructed() {
    throw graph_error("var: this handle was default-constructed and refers to no graph");
}

void throw_destroyed(std::string_view what, std::uint32_t id) {
    throw graph_error(fmt::format(
        "{}: stale handle (tensor #{} was recorded on a graph that has since been destroyed)", what, id));
}

template <class T>
void node<T>::destroy_op_slow() {
    if (fn_on_heap) {
        delete fn;
    } else {
        fn->~op<T>();
    }
    fn = nullptr;
    fn_on_heap = false;
}

std::string_view kind_name(node_kind k) {
    switch (k) {
        case node_kind::constant:
            return "constant";
        case node_kind::variable:
            return "variable";
        case node_kind::parameter:
            return "parameter";
        case node_kind::op:
            return "op";
    }
    return "?";
}

}  // namespace detail

no_grad::no_grad() noexcept : m_previous(detail::t_grad_enabled) {
    detail::t_grad_enabled = false;
}
no_grad::~no_grad() {
    detail::t_grad_enabled = m_previous;
}

// ---------------------------------------------------------------- parameter

template <class T>
parameter<T>::parameter(matrix<T> value, std::string name) : m_name(std::move(name)) {
    m_slot.value = std::move(value);
}

template <class T>
const matrix<T>& parameter<T>::zeros() const {
    // Zero means "no contribution yet": materialise it for readers without marking it delivered.
    detail::ensure_shape(m_slot.grad, shape_of(m_slot.value));
    std::fill(m_slot.grad.begin(), m_slot.grad.end(), T(0));
    return m_slot.grad;
}

template <class T>
matrix<T>& parameter<T>::grad_for_writing() {
    static_cast<void>(grad());  // zeros when nothing was accumulated
    m_slot.has_grad = true;
    return m_slot.grad;
}

// ---------------------------------------------------------------- var

template <class T>
const matrix<T>& var<T>::grad() const {
    detail::node<T>& n = owner().checked(*this, "grad");
    detail::slot<T>& s = *n.data;
    if (!s.has_grad) {
        detail::ensure_shape(s.grad, shape_of(n.value()));
        std::fill(s.grad.begin(), s.grad.end(), T(0));
    }
    return s.grad;
}

template <class T>
T var<T>::item() const {
    const matrix<T>& v = value();
    if (v.size() != 1) {
        throw graph_error(fmt::format("item: tensor{} is {}, not 1×1",
                                      name().empty() ? "" : fmt::format(" '{}'", name()),
                                      to_string(shape_of(v))));
    }
    return v(0, 0);
}

template <class T>
var<T> var<T>::named(std::string_view name) const {
    owner().checked(*this, "named").name.assign(name);
    return *this;
}

// ---------------------------------------------------------------- graph

template <class T>
graph<T>::graph() {
    const auto r = detail::register_graph(this);
    m_slot = r.slot;
    m_epoch = m_first_epoch = r.epoch;
}

template <class T>
graph<T>::~graph() {
    detail::unregister_graph(m_slot);
}

template <class T>
const detail::node<T>& graph<T>::checked(const var<T>& v, const char* what) const {
    // Epochs are unique across graphs: a match means this graph recorded the tensor in this recording.
    if (v.m_epoch != m_epoch || v.m_slot != m_slot) throw_unchecked(v, what);
    return *m_nodes[v.m_id];
}

template <class T>
void graph<T>::throw_unchecked(const var<T>& v, const char* what) const {
    if (v.m_epoch == 0) {
        throw graph_error(
            fmt::format("{}: this handle was default-constructed and refers to no graph", what));
    }
    const detail::graph_slot& s = detail::graph_slot_at(v.m_slot);
    const bool gone = s.graph.load(std::memory_order_acquire) == nullptr ||
                      v.m_epoch < s.first_epoch.load(std::memory_order_relaxed);
    if (gone) detail::throw_destroyed(what, v.m_id);
    if (v.m_slot != m_slot) throw graph_error(fmt::format("{}: the tensor belongs to another graph", what));
    throw graph_error(fmt::format(
        "{}: stale handle (tensor #{} was recorded before its graph was cleared; record the step again)",
        what, v.m_id));
}

template <class T>
detail::node<T>& graph<T>::checked(const var<T>& v, const char* what) {
    return const_cast<detail::node<T>&>(std::as_const(*this).checked(v, what));
}

template <class T>
void graph<T>::grow_tape() {
    m_nodes.push_back(std::make_unique<detail::node<T>>());
}

template <class T>
void graph<T>::reserve_inputs(std::size_t count) {
    m_inputs.reserve(std::max(2 * m_inputs.capacity(), m_inputs.size() + count));
}

// Inlined into the recording functions below (they are the only callers); the slow paths are calls.
template <class T>
[[gnu::always_inline]] inline detail::node<T>& graph<T>::claim() {
    if (m_size == m_nodes.size()) [[unlikely]]
        grow_tape();
    detail::node<T>& n = *m_nodes[m_size];
    n.destroy_op();  // a null test: clear(), abandon_op() and finish_op()'s failure path leave no op
    n.data = &n.own;
    n.val = &n.own.value;
    n.own.has_grad = false;
    n.in_begin = static_cast<std::uint32_t>(m_inputs.size());
    n.in_count = 0;
    n.name.clear();
    n.param_name = nullptr;
    n.where = std::source_location{};
    n.requires_grad = false;
    return n;
}

template <class T>
var<T> graph<T>::commit(detail::node<T>& n) {
    const auto id = static_cast<std::uint32_t>(m_size++);
    (void)n;
    return var<T>(m_slot, id, m_epoch);
}

namespace {
/// True for shapes every matrix can have (both extents < 2²⁴): the leaves' check without a call.
template <class E>
bool small_shape(const E& s) noexcept {
    return ((s[0] | s[1]) >> 24) == 0;
}
}  // namespace

template <class T>
void graph<T>::check_leaf_shape(const char* what, const shape2& s, std::string_view name) const {
    if (!detail::element_count(s, sizeof(T))) {
        throw argument_error(fmt::format("{}: the matrix{} {}", what,
                                         name.empty() ? std::string() : fmt::format(" '{}'", name),
                                         detail::too_large(s, sizeof(T))));
    }
}

template <class T>
var<T> graph<T>::leaf(detail::node_kind kind, const matrix<T>* copy_from, std::string_view name) {
    if (!small_shape(copy_from->shape())) [[unlikely]] {
        check_leaf_shape(kind == detail::node_kind::constant ? "constant" : "variable", shape_of(*copy_from),
                         name);
    }
    detail::node<T>& n = claim();
    n.kind = kind;
    if (!name.empty()) n.name.assign(name);
    n.requires_grad = kind != detail::node_kind::constant;
    if (copy_from != nullptr) {
        detail::ensure_shape(n.own.value, shape_of(*copy_from));
        std::copy(copy_from->data(), copy_from->data() + copy_from->size(), n.own.value.data());
    }
    return commit(n);
}

template <class T>
var<T> graph<T>::constant(const matrix<T>& value, std::string_view name) {
    return leaf(detail::node_kind::constant, &value, name);
}

template <class T>
var<T> graph<T>::borrow(const matrix<T>& value, std::string_view name) {
    if (!small_shape(value.shape())) [[unlikely]]
        check_leaf_shape("borrow", shape_of(value), name);
    detail::node<T>& n = claim();
    n.kind = detail::node_kind::constant;
    if (!name.empty()) n.name.assign(name);
    n.val = &value;
    return commit(n);
}

template <class T>
var<T> graph<T>::variable(const matrix<T>& value, std::string_view name) {
    return leaf(detail::node_kind::variable, &value, name);
}

template <class T>
var<T> graph<T>::param(parameter<T>& p, std::string_view name) {
    if (!small_shape(p.value().shape())) [[unlikely]]
        check_leaf_shape("param", p.shape(), name.empty() ? std::string_view(p.name()) : name);
    detail::node<T>& n = claim();
    n.kind = detail::node_kind::parameter;
    n.data = &p.storage();
    n.val = &n.data->value;
    if (!name.empty()) n.name.assign(name);  // else the node shows the parameter's own name
    n.param_name = &p.name();
    n.requires_grad = true;
    return commit(n);
}

template <class T>
template <class Get>
detail::node<T>& graph<T>::begin_op_with(Get handle, std::size_t count, const std::source_location& loc) {
    // One pass over the inputs: each handle is checked and its id appended. The claimed node is not on the
    // tape until commit(), so a bad handle leaves the tape as it was (the appended ids are dropped).
    detail::node<T>& n = claim();  // n.in_begin: where this op's ids go
    if (m_inputs.capacity() - m_inputs.size() < count) [[unlikely]]
        reserve_inputs(count);
    bool any = false;
    for (std::size_t i = 0; i < count; ++i) {
        const var<T>& v = handle(i);
        if (v.m_epoch != m_epoch || v.m_slot != m_slot) [[unlikely]] {
            m_inputs.resize(n.in_begin);
            throw_unchecked(v, "op input");
        }
        any = m_nodes[v.m_id]->requires_grad || any;
        m_inputs.push_back(v.m_id);  // no reallocation
    }
    n.kind = detail::node_kind::op;
    n.where = loc;
    n.requires_grad = any && detail::grad_enabled();
    n.in_count = static_cast<std::uint32_t>(count);
    return n;
}

template <class T>
detail::node<T>& graph<T>::begin_op(const var<T>* inputs, std::size_t count,
                                    const std::source_location& loc) {
    return begin_op_with([inputs](std::size_t i) -> const var<T>& { return inputs[i]; }, count, loc);
}

template <class T>
detail::node<T>& graph<T>::begin_op(const detail::input_ref<T>* inputs, std::size_t count,
                                    const std::source_location& loc) {
    return begin_op_with([inputs](std::size_t i) -> const var<T>& { return *inputs[i].handle; }, count, loc);
}

template <class T>
void graph<T>::abandon_op(detail::node<T>& n) noexcept {
    n.fn = nullptr;  // the constructor threw: nothing to destroy
    m_inputs.resize(n.in_begin);
}

template <class T>
var<T> graph<T>::finish_op(detail::node<T>& n) {
    forward_context<T> ctx(*this, n);
    try {
        n.out_written = false;
        n.fn->forward(ctx);
        if (!n.out_written) ctx.fail("forward wrote no output (the contract: call ctx.output(shape) once)");
        if (m_anomaly) check_finite(n.own.value, n, "forward output");
    } catch (...) {
        n.destroy_op();
        m_inputs.resize(n.in_begin);
        throw;
    }
    return commit(n);
}

template <class T>
void graph<T>::check_finite(const matrix<T>& m, const detail::node<T>& n, std::string_view what) const {
    const T* p = m.data();
    const std::size_t cols = m.shape()[1];
    for (std::size_t k = 0; k < m.size(); ++k) {
        if (!std::isfinite(p[k])) {
            std::string_view opname = n.fn ? n.fn->name() : std::string_view("leaf");
            throw numeric_error(detail::op_message(
                opname,
                fmt::format("anomaly: {} {} is {} at element ({}, {}) of {}{}", opname, what, p[k], k / cols,
                            k % cols, to_string(shape_of(m)),
                            n.label().empty() ? std::string() : fmt::format(" (tensor '{}')", n.label())),
                n.where));
        }
    }
}

// Inlined into backward's loop; what is unusual (a broken contract, anomaly mode) is one call out.
template <class T>
[[gnu::always_inline]] inline void graph<T>::run_backward(detail::node<T>& n) {
    const std::size_t count = n.in_count;
    if (m_delivered.size() < count) [[unlikely]]
        m_delivered.resize(count);  // new flags are zero
    unsigned char* delivered = m_delivered.data();
    backward_context<T> ctx(*this, n, delivered);
    try {
        n.fn->backward(ctx);
    } catch (...) {
        std::fill_n(delivered, count, 0);
        throw;
    }
    const std::uint32_t* ids = m_inputs.data() + n.in_begin;
    for (std::size_t i = 0; i < count; ++i) {
        const detail::node<T>& in = *m_nodes[ids[i]];
        if (delivered[i] != 0) {
            const auto& want = in.val->shape();
            const auto& got = in.data->grad.shape();
            if (want[0] == got[0] && want[1] == got[1] && !m_anomaly) [[likely]] {
                delivered[i] = 0;
                continue;
            }
        } else if (!in.requires_grad) {
            continue;
        }
        check_delivery(n, i);
        delivered[i] = 0;
    }
}

template <class T>
void graph<T>::check_delivery(const detail::node<T>& n, std::size_t i) {
    const detail::node<T>& in = *m_nodes[input_id(n, i)];
    try {
        if (m_delivered[i] == 0) {
            throw op_contract_error(detail::op_message(
                n.fn->name(),
                fmt::format(
                    "backward delivered no gradient for input {}{}, which needs one (the contract: one "
                    "gradient per input that needs one; deliver zeros explicitly if it is zero)",
                    i, in.label().empty() ? "" : fmt::format(" ('{}')", in.label())),
                n.where));
        }
        const shape2 want = shape_of(in.value());
        const shape2 got = shape_of(in.data->grad);
        if (want != got) {
            throw op_contract_error(detail::op_message(
                n.fn->name(),
                fmt::format("backward left a gradient of shape {} for input {}, whose shape is {}",
                            to_string(got), i, to_string(want)),
                n.where));
        }
        if (m_anomaly) check_finite(in.data->grad, n, fmt::format("backward gradient for input {}", i));
    } catch (...) {
        std::fill_n(m_delivered.begin(), n.in_count, 0);  // all zero again for the next op
        throw;
    }
}

template <class T>
void graph<T>::backward(const var<T>& root) {
    const detail::node<T>& r = checked(root, "backward");
    const shape2 s = shape_of(r.value());
    if (s[0] != 1 || s[1] != 1) {
        throw graph_error(
            fmt::format("backward: the root{} is {}, not a scalar; pass the seed d(root) explicitly: "
                        "backward(root, seed)",
                        r.label().empty() ? "" : fmt::format(" '{}'", r.label()), to_string(s)));
    }
    detail::ensure_shape(m_seed, {1, 1});
    m_seed(0, 0) = T(1);
    backward(root, m_seed);
}

template <class T>
void graph<T>::backward(const var<T>& root, const matrix<T>& seed) {
    detail::node<T>& r = checked(root, "backward");
    if (shape_of(seed) != shape_of(r.value())) {
        throw graph_error(fmt::format("backward: the seed is {} but the root is {}",
                                      to_string(shape_of(seed)), to_string(shape_of(r.value()))));
    }
    if (!r.requires_grad) {
        throw graph_error(
            "backward: the root does not depend on any variable or parameter (nothing requires a gradient)");
    }
    seed_root(r, seed);
    for (std::size_t i = root.id() + 1; i-- > 0;) {
        detail::node<T>& n = *m_nodes[i];
        if (n.kind != detail::node_kind::op || !n.requires_grad || !n.own.has_grad) continue;
        run_backward(n);
        if (m_observer) m_observer(*this, static_cast<std::uint32_t>(i));
    }
}

template <class T>
void graph<T>::seed_root(detail::node<T>& r, const matrix<T>& seed) {
    // Interior gradients start from zero on every backward; leaf gradients accumulate.
    // (all of them, also those recorded after the root, so no tensor shows a previous backward's gradient).
    // claim() and a replayed forward start every op node without one, so only a second backward of a
    // recording or a replay has any to reset.
    if (m_backward_ran) {
        for (std::size_t i = 0; i < m_size; ++i) {
            if (m_nodes[i]->kind == detail::node_kind::op) m_nodes[i]->own.has_grad = false;
        }
    }
    m_backward_ran = true;
    detail::slot<T>& rs = *r.data;
    detail::ensure_shape(rs.grad, shape_of(seed));
    if (rs.has_grad) {
        rs.grad += seed;
    } else {
        const T* from = seed.data();
        T* to = rs.grad.data();
        for (std::size_t k = 0, size = seed.size(); k < size; ++k) to[k] = from[k];
        rs.has_grad = true;
    }
}

template <class T>
void graph<T>::zero_grad() {
    for (std::size_t i = 0; i < m_size; ++i) {
        if (m_nodes[i]->kind == detail::node_kind::variable) m_nodes[i]->own.has_grad = false;
    }
}

template <class T>
void graph<T>::clear() {
    for (std::size_t i = 0; i < m_size; ++i) m_nodes[i]->destroy_op();
    m_size = 0;
    m_backward_ran = false;
    m_inputs.clear();
    m_epoch = detail::next_epoch();
    detail::graph_slot_at(m_slot).epoch.store(m_epoch, std::memory_order_release);
}

template <class T>
void graph<T>::release() {
    clear();
    m_nodes.clear();
    m_nodes.shrink_to_fit();
    m_inputs.shrink_to_fit();
}

template <class T>
const matrix<T>& graph<T>::value_of(std::uint32_t id) const {
    if (id >= m_size) throw graph_error(fmt::format("value_of: no node #{} (the tape has {})", id, m_size));
    return m_nodes[id]->value();
}

template <class T>
const matrix<T>& graph<T>::grad_of(std::uint32_t id) const {
    if (id >= m_size) throw graph_error(fmt::format("grad_of: no node #{} (the tape has {})", id, m_size));
    const detail::node<T>& n = *m_nodes[id];
    detail::slot<T>& s = *n.data;
    if (!s.has_grad) {
        detail::ensure_shape(s.grad, shape_of(n.value()));
        std::fill(s.grad.begin(), s.grad.end(), T(0));
    }
    return s.grad;
}

template <class T>
node_info<T> graph<T>::info(std::uint32_t id) const {
    if (id >= m_size) throw graph_error(fmt::format("info: no node #{} (the tape has {})", id, m_size));
    const detail::node<T>& n = *m_nodes[id];
    node_info<T> r{id,
                   n.fn ? n.fn->name() : detail::kind_name(n.kind),
                   n.fn ? n.fn->describe() : nullptr,
                   n.label(),
                   shape_of(n.value()),
                   {},
                   n.where,
                   n.requires_grad,
                   n.data->has_grad};
    for (std::size_t i = 0; i < n.in_count; ++i) r.inputs.push_back(input_id(n, i));
    return r;
}

// ---------------------------------------------------------------- recording (replay)
//
// A replay runs the captured nodes' ops again: the handles were checked, the nodes claimed and the leaves
// registered when the step was recorded, and nothing of that changes while the graph is neither cleared
// nor extended (both checked through the epoch and the size). What can change is outside the graph: the
// shapes of borrowed matrices and parameters, checked before anything is written.

template <class T>
recording<T> graph<T>::capture(const var<T>& root, std::source_location loc) {
    checked(root, "capture");
    return recording<T>(*this, root, loc);
}

template <class T>
recording<T>::recording(graph<T>& g, const var<T>& root, const std::source_location& loc)
    : m_graph(&g), m_root(root), m_epoch(g.m_epoch), m_size(g.m_size), m_slot(g.m_slot), m_where(loc) {
    for (std::size_t i = 0; i < g.m_size; ++i) {
        detail::node<T>& n = *g.m_nodes[i];
        const auto id = static_cast<std::uint32_t>(i);
        if (n.kind == detail::node_kind::op) {
            m_ops.push_back({&n, id});
        } else if (n.kind == detail::node_kind::variable) {
            m_variables.push_back(&n);
        } else if (n.kind == detail::node_kind::parameter || n.val != &n.own.value) {  // param or borrow
            const auto& s = n.val->shape();
            m_leaves.push_back({n.val, s[0], s[1], id});
        }
    }
    for (std::size_t i = root.id() + 1; i-- > 0;) {
        detail::node<T>& n = *g.m_nodes[i];
        if (n.kind == detail::node_kind::op && n.requires_grad)
            m_back.push_back({&n, static_cast<std::uint32_t>(i)});
    }
}

template <class T>
bool recording<T>::valid() const noexcept {
    return m_epoch != 0 && detail::graph_slot_at(m_slot).epoch.load(std::memory_order_acquire) == m_epoch &&
           m_graph->m_size == m_size;
}

template <class T>
[[gnu::always_inline]] inline void recording<T>::check(const char* what,
                                                       const std::source_location& loc) const {
    if (!valid()) [[unlikely]]
        refuse(what, loc);
    for (const leaf_entry& l : m_leaves) {
        const auto& s = l.value->shape();
        if (s[0] != l.rows || s[1] != l.cols) [[unlikely]]
            refuse(what, loc);
    }
}

template <class T>
void recording<T>::refuse(const char* what, const std::source_location& loc) const {
    const std::string where =
        fmt::format("called at {}; recording captured at {}", format_location(loc), format_location(m_where));
    if (m_epoch == 0) {
        throw graph_error(
            fmt::format("recording::{}: this recording is empty (make one with graph::capture) ({})", what,
                        format_location(loc)));
    }
    const detail::graph_slot& s = detail::graph_slot_at(m_slot);
    if (s.graph.load(std::memory_order_acquire) == nullptr ||
        m_epoch < s.first_epoch.load(std::memory_order_relaxed)) {
        throw graph_error(
            fmt::format("recording::{}: the graph of this recording has been destroyed ({})", what, where));
    }
    if (s.epoch.load(std::memory_order_acquire) != m_epoch) {
        throw graph_error(
            fmt::format("recording::{}: the graph was cleared after the capture, so the recorded tape is "
                        "gone (record the "
                        "step again and capture it) ({})",
                        what, where));
    }
    if (m_graph->m_size != m_size) {
        throw graph_error(fmt::format(
            "recording::{}: the graph has {} nodes but had {} at the capture: ops recorded after the capture "
            "would not be replayed (record them before capturing, or on another graph) ({})",
            what, m_graph->m_size, m_size, where));
    }
    for (const leaf_entry& l : m_leaves) {
        const shape2 now = shape_of(*l.value), then{l.rows, l.cols};
        if (now == then) continue;
        const detail::node<T>& n = m_graph->node_at(l.id);
        const bool param = n.kind == detail::node_kind::parameter;
        throw graph_error(fmt::format(
            "recording::{}: {} {}(tensor #{}) is {} but was {} at the capture; every op was recorded for the "
            "old shape (record the step again and capture it) ({})",
            what, param ? "parameter" : "borrowed matrix",
            n.label().empty() ? std::string() : fmt::format("'{}' ", n.label()), l.id, to_string(now),
            to_string(then), where));
    }
    if (!m_forward_ok) {
        throw graph_error(fmt::format(
            "recording::{}: the last forward threw, so the tape holds values of two different steps (run "
            "forward again first) ({})",
            what, where));
    }
    throw graph_error(fmt::format("recording::{}: refused ({})", what, where));
}

template <class T>
void recording<T>::forward(std::source_location loc) {
    check("forward", loc);
    forward_checked(loc);
}

template <class T>
void recording<T>::backward(std::source_location loc) {
    check("backward", loc);
    backward_checked(loc);
}

template <class T>
void recording<T>::run(std::source_location loc) {
    check("run", loc);  // once: nothing outside can change between the forward and the backward
    forward_checked(loc);
    backward_checked(loc);
}

template <class T>
[[gnu::always_inline]] inline void recording<T>::forward_checked(const std::source_location& loc) {
    graph<T>& g = *m_graph;
    m_forward_ok = false;
    const detail::call_site_scope scope(loc);  // an op that fails names the replay's caller too
    for (detail::node<T>* v : m_variables) v->own.has_grad = false;  // as a variable recorded anew
    for (const op_entry& e : m_ops) {
        detail::node<T>& n = *e.node;
        n.own.has_grad = false;
        n.out_written = false;
        forward_context<T> ctx(g, n);
        n.fn->forward(ctx);
        if (!n.out_written) [[unlikely]]
            ctx.fail("forward wrote no output (the contract: call ctx.output(shape) once)");
        if (g.m_anomaly) [[unlikely]]
            g.check_finite(n.own.value, n, "forward output");
    }
    g.m_backward_ran = false;  // every op node is without a gradient again
    m_forward_ok = true;
}

template <class T>
[[gnu::always_inline]] inline void recording<T>::backward_checked(const std::source_location& loc) {
    if (!m_forward_ok) [[unlikely]]
        refuse("backward", loc);
    graph<T>& g = *m_graph;
    detail::node<T>& r = g.node_at(m_root.id());
    const auto& rs = r.val->shape();
    if (rs[0] != 1 || rs[1] != 1 || !r.requires_grad) [[unlikely]] {
        g.backward(m_root);  // throws the eager backward's error
        return;
    }
    detail::slot<T>& root = *r.data;
    const auto& gs = root.grad.shape();
    if (!g.m_backward_ran && !root.has_grad && gs[0] == 1 && gs[1] == 1) [[likely]] {
        root.grad.data()[0] = T(1);  // seed_root's work after a forward: d(root) = 1
        root.has_grad = true;
        g.m_backward_ran = true;
    } else {
        detail::ensure_shape(g.m_seed, {1, 1});
        g.m_seed(0, 0) = T(1);
        g.seed_root(r, g.m_seed);
    }
    for (const op_entry& e : m_back) {
        detail::node<T>& n = *e.node;
        if (!n.own.has_grad) continue;
        g.run_backward(n);
        if (g.m_observer) g.m_observer(g, e.id);
    }
}

// ---------------------------------------------------------------- contexts

template <class T>
std::string forward_context<T>::input_name(std::size_t i) const {
    const auto& n = *m_nodes[m_ids[i]];
    return n.label().empty() ? fmt::format("input {}", i) : fmt::format("'{}'", n.label());
}

namespace detail {
/// "'A' is [2×0], 'B' is [0×3]" — the inputs of an op, for messages.
template <class T>
std::string describe_inputs(const forward_context<T>& ctx) {
    std::string s;
    for (std::size_t i = 0; i < ctx.num_inputs(); ++i) {
        s += fmt::format("{}{} is {}", i ? ", " : "", ctx.input_name(i), to_string(ctx.input_shape(i)));
    }
    return s;
}

/// Refuses a buffer shape whose size overflows, naming the op and its inputs' shapes.
template <class T>
[[noreturn]] void refuse_size(const forward_context<T>& ctx, const shape2& shape, const char* what) {
    ctx.fail(fmt::format("the {} {} (inputs: {})", what, too_large(shape, sizeof(T)), describe_inputs(ctx)));
}
}  // namespace detail

template <class T>
void forward_context<T>::check_size(const shape2& shape, const char* what) const {
    if (!detail::element_count(shape, sizeof(T))) detail::refuse_size(*this, shape, what);
}

template <class T>
matrix<T>& forward_context<T>::save(std::size_t k, const shape2& shape) {
    if (!detail::element_count(shape, sizeof(T))) detail::refuse_size(*this, shape, "saved buffer");
    if (k == 0 && !m_node.saved.empty()) [[likely]] {  // the common case, without the deque's size and index
        detail::ensure_shape(m_node.saved.front(), shape);
        return m_node.saved.front();
    }
    if (m_node.saved.size() <= k) m_node.saved.resize(k + 1);
    detail::ensure_shape(m_node.saved[k], shape);
    return m_node.saved[k];
}

template <class T>
void forward_context<T>::fail(std::string_view message) const {
    throw shape_error(detail::op_message(op_name(), message, m_node.where));
}

template <class T>
void forward_context<T>::expect_same_shape(std::size_t i, std::size_t j) const {
    const shape2 a = input_shape(i), b = input_shape(j);
    if (a != b) {
        fail(fmt::format("shapes differ: {} is {} but {} is {}", input_name(i), to_string(a), input_name(j),
                         to_string(b)));
    }
}

template <class T>
shape2 forward_context<T>::expect_broadcast(std::size_t i, std::size_t j) const {
    const shape2 a = input_shape(i), b = input_shape(j);
    auto s = broadcast_shapes(a, b);
    if (!s) {
        fail(fmt::format("shapes do not broadcast: {} is {} and {} is {} (each dimension must match or be 1)",
                         input_name(i), to_string(a), input_name(j), to_string(b)));
    }
    return *s;
}

template <class T>
void backward_context<T>::refuse_target(std::size_t i) const {
    if (i >= m_node.in_count) {
        fail(fmt::format("backward delivered a gradient for input {}, but the op has {} input(s)", i,
                         m_node.in_count));
    }
    if (!m_nodes[m_ids[i]]->requires_grad) {
        fail(fmt::format(
            "backward delivered a gradient for input {}, which needs none (check needs_grad({}))", i, i));
    }
    fail(fmt::format("backward delivered two gradients for input {}", i));
}

template <class T>
matrix<T>& backward_context<T>::workspace(std::size_t k, const shape2& shape) {
    if (!detail::element_count(shape, sizeof(T)))
        fail(fmt::format("the workspace {}", detail::too_large(shape, sizeof(T))));
    if (m_node.saved.size() <= k) m_node.saved.resize(k + 1);
    detail::ensure_shape(m_node.saved[k], shape);
    return m_node.saved[k];
}

template <class T>
void backward_context<T>::fail(std::string_view message) const {
    throw op_contract_error(detail::op_message(op_name(), message, m_node.where));
}

template <class T>
void backward_context<T>::check_delivery_shape(std::size_t i, std::size_t dims, std::size_t rows,
                                               std::size_t cols) const {
    if (i >= m_node.in_count) {
        fail(fmt::format("backward delivered a gradient for input {}, but the op has {} input(s)", i,
                         m_node.in_count));
    }
    const shape2 want = shape_of(input(i));
    if (dims != 2 || rows != want[0] || cols != want[1]) {
        fail(fmt::format("backward delivered a gradient of shape {} for input {}, whose shape is {}{}",
                         dims == 2 ? to_string({rows, cols}) : fmt::format("(rank {})", dims), i,
                         to_string(want), " (un-broadcast it with sum_to first)"));
    }
}

// ---------------------------------------------------------------- broadcast

std::optional<shape2> broadcast_shapes(const shape2& a, const shape2& b) noexcept {
    shape2 r{};
    for (int d = 0; d < 2; ++d) {
        if (a[d] == b[d] || b[d] == 1) {
            r[d] = a[d];
        } else if (a[d] == 1) {
            r[d] = b[d];
        } else {
            return std::nullopt;
        }
    }
    return r;
}

// ---------------------------------------------------------------- instantiations

#define XGRAD_INSTANTIATE(T)           \
    template struct detail::node<T>;   \
    template class parameter<T>;       \
    template class var<T>;             \
    template class graph<T>;           \
    template class recording<T>;       \
    template class forward_context<T>; \
    template class backward_context<T>;

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad
