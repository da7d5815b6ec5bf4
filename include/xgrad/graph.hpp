/// @file graph.hpp
/// @brief The tape: nodes appended in creation order, walked once in reverse by backward.
///
///   tape:  [0] W1  [1] X  [2] b1  [3] matmul(0,1)  [4] add_bias(3,2)  [5] sigmoid(4)  …  [k] loss
///   backward(loss): for i = k … 0, run node i's backward if a gradient reached it.
///
/// Because an op can only read tensors that already exist, every input of node i has an index < i:
/// reverse creation order is a topological order. No recursion, no sort; a chain of any depth works.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "xgrad/config.hpp"
#include "xgrad/error.hpp"
#include "xgrad/fwd.hpp"
#include "xgrad/var.hpp"

namespace xgrad {

namespace detail {

/// A value and its gradient. `has_grad` false means "gradient is zero": the first contribution
/// overwrites the buffer instead of adding to it, so zeroing costs nothing.
template <class T>
struct slot {
    matrix<T> value;
    matrix<T> grad;
    bool has_grad = false;
};

enum class node_kind : std::uint8_t { constant, variable, parameter, op };

/// Bytes of inline storage for an op object; larger ops are allocated on the heap.
inline constexpr std::size_t inline_op_bytes = 64;

/// One entry of the tape. Nodes are never destroyed by graph::clear(): recording the same structure
/// again reuses their value, gradient and saved buffers (no allocation when shapes repeat).
template <class T>
struct node {
    slot<T> own;                        // storage for op outputs, constants and variables
    slot<T>* data = &own;               // &own, or a parameter's slot
    const matrix<T>* val = &own.value;  // the value: data->value, or a constant read in place (borrow)
    op<T>* fn = nullptr;                // the op that produced this node; null for leaves
    bool fn_on_heap = false;
    alignas(std::max_align_t) unsigned char fn_storage[inline_op_bytes];
    std::uint32_t in_begin = 0;  // inputs are m_inputs[in_begin, in_begin + in_count)
    std::uint32_t in_count = 0;
    std::deque<matrix<T>> saved;              // what backward needs beyond inputs and output (buffers reused;
                                              // a deque, so references from ctx.save(k) survive later saves)
    std::string name;                         // the user's name (named(), or a leaf's name argument)
    const std::string* param_name = nullptr;  // a parameter leaf shows its parameter's name (not copied)
    std::source_location where;
    node_kind kind = node_kind::constant;
    bool requires_grad = false;
    bool out_written = false;

    node() = default;
    node(const node&) = delete;
    node& operator=(const node&) = delete;
    ~node() { destroy_op(); }

    const matrix<T>& value() const { return *val; }
    std::string_view label() const { return param_name != nullptr && name.empty() ? *param_name : name; }
    void destroy_op() {
        if (fn != nullptr) destroy_op_slow();
    }
    void destroy_op_slow();
};

/// One input of apply<Op>({a, b}, …): a pointer to the caller's handle. A copy of a handle that was just
/// returned (in two registers, stored as two words) would be read back as one 16-byte word, which the CPU
/// cannot forward from the two stores: a stall of a dozen cycles per input.
template <class T>
struct input_ref {
    const var<T>* handle;
    input_ref(const var<T>& v) noexcept : handle(&v) {}  // NOLINT: implicit, for braced lists of handles
};

/// Grad mode of the calling thread (see no_grad).
bool grad_enabled() noexcept;

/// One entry of the process-wide registry of live graphs, which lets a var be checked without reading its
/// graph: a graph holds one slot from construction to destruction; the slot then goes to the next graph.
/// Entries are never freed, so reading one through any handle, however old, is safe.
struct graph_slot {
    std::atomic<std::uint64_t> epoch{0};        ///< the holder's current epoch; 0 while the slot is free
    std::atomic<std::uint64_t> first_epoch{0};  ///< the holder's epoch at construction
    std::atomic<void*> graph{nullptr};          ///< the holder (a graph<T>), null while the slot is free
};

inline constexpr std::uint32_t graph_slot_chunk_bits = 10;                  // 1024 entries per chunk
inline constexpr std::uint32_t graph_slot_chunk_count = 4096;               // up to 4,194,304 live graphs
extern std::atomic<graph_slot*> graph_slot_chunks[graph_slot_chunk_count];  // allocated once, never freed

/// The registry entry of `slot` (a slot some graph was given; its entry exists for good).
inline graph_slot& graph_slot_at(std::uint32_t slot) noexcept {
    return graph_slot_chunks[slot >> graph_slot_chunk_bits].load(
        std::memory_order_acquire)[slot & ((1u << graph_slot_chunk_bits) - 1)];
}

/// Throws graph_error "<what>: stale handle (…)" for tensor #id of a graph that has been destroyed.
[[noreturn]] void throw_destroyed(std::string_view what, std::uint32_t id);
/// Throws graph_error "var: this handle was default-constructed and refers to no graph".
[[noreturn]] void throw_default_constructed();

}  // namespace detail

/// A trainable tensor that outlives graphs: its value and accumulated gradient.
///
/// Each training step records a fresh graph that reads the parameter through graph::param(); backward
/// accumulates into grad(). A parameter must not move in memory while a graph that reads it is alive.
template <class T>
class parameter {
public:
    parameter() = default;
    explicit parameter(matrix<T> value, std::string name = {});

    const matrix<T>& value() const { return m_slot.value; }
    /// Mutable access for optimizers and initializers (update in place; keep the shape).
    matrix<T>& value() { return m_slot.value; }
    /// dLoss/dθ accumulated since the last zero_grad(); zeros if nothing was accumulated.
    const matrix<T>& grad() const { return m_slot.has_grad ? m_slot.grad : zeros(); }
    /// The gradient for writing in place (e.g. to replace it by its average over processes, as
    /// dist::gradient_reducer does): zeros if nothing was accumulated; marked delivered from then on.
    matrix<T>& grad_for_writing();
    /// False after zero_grad() until a backward delivers a gradient.
    bool has_grad() const noexcept { return m_slot.has_grad; }
    /// Marks the gradient as zero (O(1): the next backward overwrites instead of adding).
    void zero_grad() noexcept { m_slot.has_grad = false; }
    shape2 shape() const { return shape_of(m_slot.value); }
    const std::string& name() const noexcept { return m_name; }
    void set_name(std::string name) { m_name = std::move(name); }

private:
    friend class graph<T>;  // a parameter leaf reads and accumulates into the slot in place
    /// The gradient buffer filled with zeros (grad() before any backward delivered one).
    const matrix<T>& zeros() const;
    /// The engine's view (value, gradient, flag).
    detail::slot<T>& storage() noexcept { return m_slot; }
    mutable detail::slot<T> m_slot;
    std::string m_name;
};

struct op_rule;  // op.hpp

/// Everything the tape records about one node, for traces, pictures and tools.
template <class T>
struct node_info {
    std::uint32_t id;
    std::string_view op;    // op name, or "constant" / "variable" / "parameter" for leaves
    const op_rule* rule;    // the op's forward formula and backward rule (op.hpp); null for leaves and ops
                            // that state none
    std::string_view name;  // the user's name, if any
    shape2 shape;
    std::vector<std::uint32_t> inputs;
    std::source_location where;
    bool requires_grad;
    bool has_grad;
};

/// Record-as-you-go computation graph (a tape) over matrices of T (float or double).
///
/// Leaves are created with constant(), borrow(), variable() and param(); ops (matmul, sigmoid, …) append
/// nodes as they are called. backward(root) walks the tape once in reverse.
///
/// Gradient semantics: every backward() starts interior (op) gradients from zero, then *adds* into leaf
/// gradients (variables and parameters). Calling backward twice therefore doubles leaf gradients, as
/// PyTorch does with retain_graph; zero them with zero_grad() (this graph's variables) or
/// parameter::zero_grad().
template <class T>
class graph {
public:
    using value_type = T;

    graph();
    ~graph();
    graph(const graph&) = delete;
    graph& operator=(const graph&) = delete;

    /// A leaf holding a copy of `value`; it gets no gradient (data, targets, hyper-parameters).
    var<T> constant(const matrix<T>& value, std::string_view name = {});
    /// A leaf that reads `value` in place (no copy); `value` must outlive this graph's use of it.
    var<T> borrow(const matrix<T>& value, std::string_view name = {});
    /// A leaf that requires a gradient, owned by this graph (a copy of `value`).
    var<T> variable(const matrix<T>& value, std::string_view name = {});
    /// A leaf reading parameter `p`; gradients accumulate into p.grad(). Named after p unless `name` is
    /// given.
    var<T> param(parameter<T>& p, std::string_view name = {});

    /// Backpropagates from a 1×1 root, seeding d(root) = 1.
    void backward(const var<T>& root);
    /// Backpropagates from any root with an explicit seed d(root) of the root's shape.
    void backward(const var<T>& root, const matrix<T>& seed);

    /// Zeroes the gradients of this graph's variables (parameters are zeroed through their own zero_grad()).
    void zero_grad();
    /// Forgets every node (all handles become stale) but keeps their buffers for the next recording.
    void clear();
    /// Forgets every node and frees all buffers.
    void release();

    /// Number of nodes on the tape.
    std::size_t size() const noexcept { return m_size; }
    /// Describes node `id` (0 ≤ id < size()).
    node_info<T> info(std::uint32_t id) const;

    /// The value of node `id`.
    const matrix<T>& value_of(std::uint32_t id) const;
    /// The gradient of node `id` from the last backward (zeros if none reached it).
    const matrix<T>& grad_of(std::uint32_t id) const;

    /// Called by backward right after node `id`'s op delivered its input gradients, in the order backward
    /// visits the nodes (for traces and teaching tools; empty by default). The observer may read the graph
    /// (info, value_of, grad_of) but must not record on it.
    using backward_observer = std::function<void(const graph& g, std::uint32_t id)>;
    void set_backward_observer(backward_observer observer) { m_observer = std::move(observer); }
    /// The observer set now (empty if none), e.g. to chain it and put it back after.
    const backward_observer& current_backward_observer() const noexcept { return m_observer; }

    /// Anomaly mode: after every forward and backward, check for NaN/Inf and throw numeric_error naming the
    /// first op that produced one (and where it was called). Off by default (it reads every element).
    /// A recording's replays check too while it is on.
    void set_anomaly_mode(bool on) noexcept { m_anomaly = on; }
    bool anomaly_mode() const noexcept { return m_anomaly; }

    /// Fixes the tape as it is now into a recording that re-runs it (see recording): for a training step
    /// whose graph has the same structure every time, record it once, capture it, and replay it,
    ///
    ///   step.run()  ≡  clear(); record the same code again; backward(root)   (bit for bit),
    ///
    /// without validating handles, claiming nodes or registering leaves again. Captures nothing new: the
    /// tape's values are those of the recording just made. Throws graph_error for a stale `root`.
    recording<T> capture(const var<T>& root, std::source_location loc = std::source_location::current());

private:
    friend class var<T>;
    friend class recording<T>;
    friend class forward_context<T>;
    friend class backward_context<T>;
    friend struct detail::engine<T>;

    // ---- the engine interface: var, the op contexts and detail::engine (apply<Op>) ----
    const detail::node<T>& checked(const var<T>& v, const char* what = "access") const;
    detail::node<T>& checked(const var<T>& v, const char* what = "access");
    const detail::node<T>& node_at(std::uint32_t id) const { return *m_nodes[id]; }
    detail::node<T>& node_at(std::uint32_t id) { return *m_nodes[id]; }
    std::uint32_t input_id(const detail::node<T>& n, std::size_t i) const { return m_inputs[n.in_begin + i]; }
    /// Claims the next node for an op with these inputs (validates the handles).
    detail::node<T>& begin_op(const var<T>* inputs, std::size_t n, const std::source_location& loc);
    detail::node<T>& begin_op(const detail::input_ref<T>* inputs, std::size_t n,
                              const std::source_location& loc);
    template <class Get>
    detail::node<T>& begin_op_with(Get handle, std::size_t n, const std::source_location& loc);
    /// Runs the op's forward on the claimed node and commits it to the tape.
    var<T> finish_op(detail::node<T>& n);
    /// Drops a claimed node whose op could not be constructed.
    void abandon_op(detail::node<T>& n) noexcept;

    detail::node<T>& claim();
    void grow_tape();                        // claim()'s slow path: one more node
    void reserve_inputs(std::size_t count);  // begin_op()'s slow path: room for `count` more input ids
    var<T> commit(detail::node<T>& n);
    var<T> leaf(detail::node_kind kind, const matrix<T>* copy_from, std::string_view name);
    void check_leaf_shape(const char* what, const shape2& s, std::string_view name) const;
    [[noreturn]] void throw_unchecked(const var<T>& v, const char* what) const;
    void run_backward(detail::node<T>& n);
    /// backward's start on root node `r`: interior gradients from zero (if a backward ran since they last
    /// were), then d(root) += seed.
    void seed_root(detail::node<T>& r, const matrix<T>& seed);
    /// run_backward's slow path for input i: throws op_contract_error for a missing or mis-shaped gradient,
    /// checks it in anomaly mode.
    void check_delivery(const detail::node<T>& n, std::size_t i);
    void check_finite(const matrix<T>& m, const detail::node<T>& n, std::string_view what) const;

    // Nodes are allocated one by one and never move (handles, saved buffers and ops stay put); the vector
    // of pointers only grows, so recording a known structure again allocates nothing.
    std::vector<std::unique_ptr<detail::node<T>>> m_nodes;
    std::size_t m_size = 0;
    std::vector<std::uint32_t> m_inputs;     // flat input lists of all nodes
    std::vector<unsigned char> m_delivered;  // per input of the running op; all zero between ops
    // Handles carry (slot, epoch). Epochs come from one process-wide counter (construction and every
    // clear() draw a new one), so a handle's epoch matches only the graph and the recording it came from.
    std::uint32_t m_slot = 0;         // this graph's entry in the registry of live graphs
    std::uint64_t m_epoch = 0;        // the current recording
    std::uint64_t m_first_epoch = 0;  // the epoch drawn at construction: older handles are not ours
    bool m_anomaly = false;
    bool m_backward_ran = false;  // a backward ran since clear(): interior gradients need resetting
    matrix<T> m_seed;             // d(root) = 1 for scalar roots, kept to avoid an allocation per backward
    backward_observer m_observer;
};

/// A training step recorded once and re-run (graph::capture): forward() runs every op of the captured tape
/// again in creation order, reading the current values of its borrowed inputs (borrow) and parameters
/// (param); backward() backpropagates from the captured root as graph::backward(root) does: one reverse
/// loop, interior gradients from zero, leaf gradients accumulating. For the same values, run() gives the
/// same values and gradients as clearing the graph, recording the same code again and calling backward,
/// bit for bit, but costs only the ops' own kernels:
///
///   auto x = g.borrow(X), y = g.borrow(Y);         // X, Y: the caller's batch buffers
///   auto loss = bce_with_logits(net(x), y);
///   auto step = g.capture(loss);                   // the tape is fixed from here on
///   for (…) { write the next batch into X and Y;  opt.zero_grad();  step.run();  opt.step(); }
///   // loss.item(), the other handles of the recording and var::grad() read the last replay's results
///
/// What a replay reads and what stays as recorded:
///   * borrowed matrices and parameters are read where they are now (their buffers may have been
///     reallocated, e.g. by assigning a new batch); they must keep the shape they had at capture: a replay
///     checks every such leaf first and throws graph_error naming it, and the capture's file:line, before
///     anything is written. constant() and variable() leaves are the graph's own copies and keep their
///     values (a variable's gradient restarts from zero at each forward, as when it is recorded anew):
///     data that changes between steps goes in through borrow();
///   * each op's arguments are those of the recording: numbers stay fixed, objects passed by reference
///     are used as they are now — dropout draws a fresh mask from its rng on every replay (the same mask
///     an eager step would draw from the same rng state), batch_norm updates its running statistics on
///     every replay as an eager step does; saved state (ctx.save) is rewritten by each replayed forward;
///   * grad mode (no_grad) and training/evaluation choices are those of the recording (record another
///     graph for evaluation);
///   * the graph's backward observer (backward_trace, your own) and anomaly mode are read at each replay,
///     as by an eager backward: the observer sees every op backward visits, in the same order, with the
///     same gradients (dist::gradient_reducer::reduce after run() works; its overlapped backward(g, root)
///     runs an eager backward instead).
/// The graph must not be cleared, extended or destroyed after the capture (a replay throws graph_error
/// naming the capture's file:line); the borrowed matrices and parameters must stay alive at the same
/// addresses, as for eager recording. A forward that throws (a label out of range in a new batch, say)
/// leaves the tape in place: backward() refuses until a forward succeeds. A steady replay allocates
/// nothing.
template <class T>
class recording {
public:
    /// An empty recording (forward and backward throw graph_error); assign one from graph::capture.
    recording() = default;

    /// Re-runs the forward of every op of the tape in creation order (and clears interior gradients).
    void forward(std::source_location loc = std::source_location::current());
    /// graph::backward(root) on the last forward's values: d(root) = 1, leaf gradients accumulate.
    void backward(std::source_location loc = std::source_location::current());
    /// forward() then backward(): one step of the recorded computation and its gradients.
    void run(std::source_location loc = std::source_location::current());

    /// The captured root (its value and gradient are the last replay's).
    const var<T>& root() const noexcept { return m_root; }
    /// Number of ops a forward replays.
    std::size_t ops() const noexcept { return m_ops.size(); }
    /// Where capture() was called.
    const std::source_location& where() const noexcept { return m_where; }
    /// Whether the graph is still the one captured (alive, not cleared, not extended); leaf shapes are
    /// checked by forward() and backward().
    bool valid() const noexcept;

private:
    friend class graph<T>;
    struct op_entry {
        detail::node<T>* node;
        std::uint32_t id;
    };
    /// A leaf that reads memory outside the graph (borrow, param), and its shape at capture.
    struct leaf_entry {
        const matrix<T>* value;
        std::size_t rows, cols;
        std::uint32_t id;
    };
    recording(graph<T>& g, const var<T>& root, const std::source_location& loc);
    /// Throws graph_error unless the graph is the captured one and every outside leaf has its shape.
    void check(const char* what, const std::source_location& loc) const;
    void forward_checked(const std::source_location& loc);   // forward() after check()
    void backward_checked(const std::source_location& loc);  // backward() after check()
    [[noreturn]] void refuse(const char* what, const std::source_location& loc) const;

    graph<T>* m_graph = nullptr;
    var<T> m_root;
    std::uint64_t m_epoch = 0;
    std::size_t m_size = 0;
    std::uint32_t m_slot = 0;
    bool m_forward_ok = true;      // false after a forward that threw, until one succeeds
    std::vector<op_entry> m_ops;   // every op node, in creation order
    std::vector<op_entry> m_back;  // the op nodes up to the root that require a gradient, in reverse order
    std::vector<leaf_entry> m_leaves;
    std::vector<detail::node<T>*> m_variables;  // variable() leaves: their gradients restart at each forward
    std::source_location m_where;
};

/// While alive, ops on this thread record no history: results are constants that backward never visits
/// and ops save nothing for backward (use it for evaluation and for optimizer arithmetic).
class no_grad {
public:
    no_grad() noexcept;
    ~no_grad();
    no_grad(const no_grad&) = delete;
    no_grad& operator=(const no_grad&) = delete;

private:
    bool m_previous;
};

namespace detail {
/// What apply<Op> and the library's own checks need of a graph's tape. Not for user code: users record ops
/// through apply<Op> (op.hpp) and read nodes through graph::info, value_of and grad_of.
template <class T>
struct engine {
    static node<T>& begin_op(graph<T>& g, const var<T>* inputs, std::size_t n,
                             const std::source_location& loc) {
        return g.begin_op(inputs, n, loc);
    }
    static node<T>& begin_op(graph<T>& g, const input_ref<T>* inputs, std::size_t n,
                             const std::source_location& loc) {
        return g.begin_op(inputs, n, loc);
    }
    static var<T> finish_op(graph<T>& g, node<T>& n) { return g.finish_op(n); }
    static void abandon_op(graph<T>& g, node<T>& n) noexcept { g.abandon_op(n); }
    static const node<T>& node_at(const graph<T>& g, std::uint32_t id) { return g.node_at(id); }
};
}  // namespace detail

// ---- var<T> accessors (need the complete graph) ----

// A handle is checked through the registry, never through the graph it points at: a handle whose graph is
// gone finds its slot free, or held by a newer graph (whose first epoch is larger than the handle's).
template <class T>
graph<T>& var<T>::owner() const {
    if (m_epoch == 0) [[unlikely]]
        detail::throw_default_constructed();
    const detail::graph_slot& s = detail::graph_slot_at(m_slot);
    void* g = s.graph.load(std::memory_order_acquire);
    if (g == nullptr || m_epoch < s.first_epoch.load(std::memory_order_relaxed)) [[unlikely]]
        detail::throw_destroyed("var", m_id);
    return *static_cast<graph<T>*>(g);  // the graph that recorded this tensor (perhaps cleared since)
}
template <class T>
bool var<T>::valid() const noexcept {
    if (m_epoch == 0) return false;
    const detail::graph_slot& s = detail::graph_slot_at(m_slot);
    if (s.epoch.load(std::memory_order_acquire) != m_epoch) return false;
    return m_id < static_cast<const graph<T>*>(s.graph.load(std::memory_order_relaxed))->m_size;
}
template <class T>
const matrix<T>& var<T>::value() const {
    return owner().checked(*this, "value").value();
}
template <class T>
shape2 var<T>::shape() const {
    return shape_of(value());
}
template <class T>
bool var<T>::requires_grad() const {
    return owner().checked(*this, "requires_grad").requires_grad;
}
template <class T>
std::string_view var<T>::name() const {
    return owner().checked(*this, "name").label();
}

}  // namespace xgrad
