/// @file op.hpp
/// @brief The op contract: the one public interface through which built-in and user-defined ops are written.
///
/// An op is a small class derived from op<T>:
///
///   rule       — static data (op_rule): its name, its forward formula and its backward rule, one clause per
///                input, with placeholders that traces, pictures and docs/ops.md fill in (stated once);
///   describe() — returns &rule (unary_op and label_loss_op do it for you);
///   forward()  — validates input shapes (ctx.fail names the op, the shapes and the caller's file:line),
///                writes the value into ctx.output(shape), saves what backward needs with ctx.save();
///   backward() — delivers exactly one gradient per input that needs one, with ctx.accumulate(i, expr)
///                (or ctx.target(i) for kernels such as gemm that write the gradient themselves).
///
/// The engine checks the contract: a missing, duplicated, unneeded or mis-shaped gradient throws
/// op_contract_error naming the op. apply<Op>(inputs, loc, args…) records it; XGRAD_OP_FUNCTION defines
/// and instantiates the function that calls it. See docs/extending.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xnoalias.hpp>

#include "xgrad/graph.hpp"

namespace xgrad {

/// How tightly a formula binds, for parentheses: a name is put in parentheses where it binds more loosely
/// than its place in a formula accepts. A user's name with spaces or operators in it is `loose`.
enum class binding : unsigned char { loose, sum, product, atom };

/// One clause of a backward rule: the gradient of input `input` is `formula`.
///
/// Placeholders, filled with the tensors' names by traces and pictures (and with A, B, … by docs/ops.md):
///   {y}         the op's output          {x0}, {x1}, …   its inputs
///   {dy}        the gradient arriving at the output (the left-hand side, d{xK}, is implied)
/// A name that binds more loosely than an atom gets parentheses ("(A + B)ᵀ"). Where a looser name reads
/// correctly, say so: {x0:product} accepts A·B, {x0:sum} accepts A + B, {x0:any} anything (a function's
/// argument).
struct gradient_rule {
    int input = -1;            ///< which input's gradient; −1 marks an unused slot
    std::string_view formula;  ///< "{dy}·{x1}ᵀ"
    /// The shapes the trace prints beside the clause, with {y}, {xK} (shapes) and {xKᵀ} (transposed):
    /// "{y}·{x1ᵀ} → {x0}". Empty: "{y}", or "{y} → {xK}" when the shapes differ.
    std::string_view shapes;

    constexpr gradient_rule() = default;
    constexpr gradient_rule(int input_, std::string_view formula_, std::string_view shapes_ = {})
        : input(input_), formula(formula_), shapes(shapes_) {}
};

/// The most inputs an op_rule can give clauses for.
inline constexpr std::size_t max_rule_inputs = 8;

/// What an op states about itself, once, as static data beside its code: traces, graph pictures and
/// docs/ops.md derive from it, and the registry's check (op_registry.hpp) compares it with the gradients the
/// op delivers.
///
///   static constexpr op_rule rule{.name = "matmul", .forward = "{x0:product}·{x1}",
///                                 .binds = binding::product,
///                                 .gradients = {{0, "{dy}·{x1}ᵀ", "{y}·{x1ᵀ} → {x0}"},
///                                               {1, "{x0}ᵀ·{dy}", "{x0ᵀ}·{y} → {x1}"}}};
struct op_rule {
    std::string_view name = {};     ///< what errors, traces and pictures call the op: "matmul"
    std::string_view forward = {};  ///< the output as a formula of the inputs; empty: name({x0:any}, …)
    binding binds = binding::atom;  ///< how tightly `forward` binds (A·B: product)
    /// One clause per input that receives a gradient, in any order; unused slots have input −1.
    gradient_rule gradients[max_rule_inputs] = {};
};

/// A name to put into a formula, and how tightly it binds.
struct formula_name {
    std::string text;
    binding binds = binding::atom;
};

/// What the placeholders of a formula stand for.
struct formula_names {
    formula_name output;               ///< {y}
    std::vector<formula_name> inputs;  ///< {x0}, {x1}, …
    std::string output_grad;           ///< {dy}
};

/// `formula` with every placeholder replaced (see gradient_rule): {y}, {xK} by their names, in parentheses
/// where a name binds more loosely than the placeholder accepts; {dy} by the output's gradient name;
/// {xKᵀ}, {yᵀ} by the name with its two "[a×b]" dimensions swapped (for shape templates). An unknown
/// placeholder or a missing input is left as written (rule_problems reports it).
std::string fill_formula(std::string_view formula, const formula_names& names);

/// What is wrong with `rule` for an op with `inputs` inputs: unknown placeholders, clauses for inputs the
/// op does not have, two clauses for one input, an empty name. Empty when nothing is.
std::vector<std::string> rule_problems(const op_rule& rule, std::size_t inputs);

/// Base class of every op. Keep ops small (their parameters only): saved tensors live in the node
/// (ctx.save) so their buffers are reused when the same structure is recorded again.
template <class T>
class op {
public:
    using value_type = T;
    virtual ~op() = default;
    /// The op's rule (static data: name, forward formula, backward rule); nullptr when it states none.
    virtual const op_rule* describe() const { return nullptr; }
    /// Short name: "matmul", "sigmoid", … — the rule's name unless overridden.
    virtual std::string_view name() const {
        const op_rule* r = describe();
        return r != nullptr ? r->name : std::string_view("unnamed_op");
    }
    virtual void forward(forward_context<T>& ctx) = 0;
    virtual void backward(backward_context<T>& ctx) = 0;
};

/// What an op's forward sees: its inputs, and the buffers it writes.
template <class T>
class forward_context {
public:
    forward_context(graph<T>& g, detail::node<T>& n)
        : m_node(n), m_nodes(g.m_nodes.data()), m_ids(g.m_inputs.data() + n.in_begin) {}

    std::size_t num_inputs() const noexcept { return m_node.in_count; }
    const matrix<T>& input(std::size_t i) const { return m_nodes[m_ids[i]]->value(); }
    shape2 input_shape(std::size_t i) const { return shape_of(input(i)); }
    /// Whether input i will want a gradient from backward (false under no_grad).
    bool needs_grad(std::size_t i) const { return recording() && m_nodes[m_ids[i]]->requires_grad; }
    /// The user's name of input i, or "input i".
    std::string input_name(std::size_t i) const;

    /// The output buffer, shaped `shape` (its storage is reused when the graph is recorded again).
    matrix<T>& output(const shape2& shape) {
        if (((shape[0] | shape[1]) >> 24) != 0) [[unlikely]]
            check_size(shape, "output");  // below 2²⁴ × 2²⁴ any shape fits
        detail::ensure_shape(m_node.own.value, shape);
        m_node.out_written = true;
        return m_node.own.value;
    }
    /// Saved buffer k for backward, shaped `shape` (reused like the output).
    matrix<T>& save(std::size_t k, const shape2& shape);
    /// False under no_grad or when no input needs a gradient: backward will never run, skip saving.
    bool recording() const noexcept { return m_node.requires_grad; }

    /// Throws shape_error "op: message (called at file:line)": the inputs' shapes or values do not fit.
    [[noreturn]] void fail(std::string_view message) const;
    /// Throws unless inputs i and j have the same shape (message names both shapes).
    void expect_same_shape(std::size_t i, std::size_t j) const;
    /// Throws unless inputs i and j broadcast together; returns the broadcast shape.
    shape2 expect_broadcast(std::size_t i, std::size_t j) const;
    /// Where the op was called.
    const std::source_location& where() const noexcept { return m_node.where; }
    std::string_view op_name() const { return m_node.fn->name(); }

private:
    /// Throws shape_error naming the op and its inputs unless a matrix of `shape` can exist.
    void check_size(const shape2& shape, const char* what) const;

    detail::node<T>& m_node;
    const std::unique_ptr<detail::node<T>>* m_nodes;  // the tape (it does not grow while an op runs)
    const std::uint32_t* m_ids;                       // the tape positions of this op's inputs
};

/// Where a gradient kernel writes: the buffer of input i's gradient and the β to use with it —
/// 0 for the first contribution (overwrite), 1 after (add): G ← contribution + β·G.
template <class T>
struct gradient_target {
    matrix<T>& buffer;
    T beta;
};

/// The loop of a hand-written gradient kernel over the flat (row-major) index k of input i's gradient:
/// G[k] ← v(k) for the first contribution, G[k] += v(k) after. (Never write v + β·G: on a fresh buffer
/// β = 0 meets uninitialised memory, and 0·NaN is NaN.)
template <class T, class F>
void write_gradient(const gradient_target<T>& t, F&& v) {
    T* g = t.buffer.data();
    const std::size_t n = t.buffer.size();
    if (t.beta == T(0)) {
        for (std::size_t k = 0; k < n; ++k) g[k] = v(k);
    } else {
        for (std::size_t k = 0; k < n; ++k) g[k] += v(k);
    }
}

/// What an op's backward sees: d(output), the saved state, and where to deliver input gradients.
template <class T>
class backward_context {
public:
    backward_context(graph<T>& g, detail::node<T>& n, unsigned char* delivered)
        : m_node(n),
          m_nodes(g.m_nodes.data()),
          m_ids(g.m_inputs.data() + n.in_begin),
          m_delivered(delivered) {}

    std::size_t num_inputs() const noexcept { return m_node.in_count; }
    /// dY: the gradient of the root with respect to this op's output.
    const matrix<T>& grad_output() const noexcept { return m_node.own.grad; }
    /// Y: this op's output.
    const matrix<T>& output() const noexcept { return m_node.own.value; }
    const matrix<T>& input(std::size_t i) const { return m_nodes[m_ids[i]]->value(); }
    const matrix<T>& saved(std::size_t k) const { return k == 0 ? m_node.saved.front() : m_node.saved[k]; }
    /// Whether input i needs a gradient (it, or something it was computed from, requires one).
    bool needs_grad(std::size_t i) const { return m_nodes[m_ids[i]]->requires_grad; }

    /// Delivers dXᵢ = expr (added to what other ops delivered). `expr` must have input i's shape exactly;
    /// un-broadcast first with sum_to. Evaluates straight into the gradient buffer (no temporary).
    template <class E>
    void accumulate(std::size_t i, const xt::xexpression<E>& e) {
        const auto& x = e.derived_cast();
        const std::size_t dims = x.dimension();
        check_delivery_shape(i, dims, dims == 2 ? x.shape()[0] : 0, dims == 2 ? x.shape()[1] : 0);
        gradient_target<T> t = target(i);
        if (t.beta == T(0)) {
            xt::noalias(t.buffer) = x;
        } else {
            xt::noalias(t.buffer) += x;
        }
    }
    /// Claims input i's gradient buffer for a kernel that writes it itself (gemm with β, sum_to, loops).
    /// The buffer has input i's shape; write G ← contribution + beta·G.
    gradient_target<T> target(std::size_t i) {
        if (i >= m_node.in_count) [[unlikely]]
            refuse_target(i);
        detail::node<T>& in = *m_nodes[m_ids[i]];
        if (!in.requires_grad || m_delivered[i] != 0) [[unlikely]]
            refuse_target(i);
        m_delivered[i] = 1;
        detail::slot<T>& s = *in.data;
        detail::ensure_shape(s.grad, shape_of(in.value()));
        const T beta = s.has_grad ? T(1) : T(0);
        s.has_grad = true;
        return {s.grad, beta};
    }
    /// Scratch buffer k for intermediate results, shaped `shape`; shares the indices of forward's save(),
    /// so use indices that forward does not, and it is reused on the next step like every node buffer.
    matrix<T>& workspace(std::size_t k, const shape2& shape);

    [[noreturn]] void fail(std::string_view message) const;
    const std::source_location& where() const noexcept { return m_node.where; }
    std::string_view op_name() const { return m_node.fn->name(); }

private:
    void check_delivery_shape(std::size_t i, std::size_t dims, std::size_t rows, std::size_t cols) const;
    /// Throws op_contract_error: input i does not exist, needs no gradient or already has one.
    [[noreturn]] void refuse_target(std::size_t i) const;

    detail::node<T>& m_node;
    const std::unique_ptr<detail::node<T>>* m_nodes;  // the tape (it does not grow while an op runs)
    const std::uint32_t* m_ids;                       // the tape positions of this op's inputs
    unsigned char* m_delivered;
};

namespace detail {
/// apply's second half: constructs the op in the node begin_op claimed and runs its forward.
template <class Op, class... Args>
var<typename Op::value_type> construct_and_finish(graph<typename Op::value_type>& g,
                                                  node<typename Op::value_type>& n, Args&&... args) {
    using T = typename Op::value_type;
    static_assert(std::is_base_of_v<op<T>, Op>, "apply<Op>: Op must derive from xgrad::op<T>");
    try {
        if constexpr (sizeof(Op) <= inline_op_bytes && alignof(Op) <= alignof(std::max_align_t)) {
            n.fn = ::new (static_cast<void*>(n.fn_storage)) Op(std::forward<Args>(args)...);
            n.fn_on_heap = false;
        } else {
            n.fn = new Op(std::forward<Args>(args)...);
            n.fn_on_heap = true;
        }
    } catch (...) {
        engine<T>::abandon_op(g, n);
        throw;
    }
    return engine<T>::finish_op(g, n);
}
}  // namespace detail

/// Records op `Op` (constructed from `args`) applied to `inputs` (any number ≥ 1, e.g. concat's), called
/// from `loc`; returns its output.
///
///   template <class T>
///   var<T> softplus(const var<T>& x, std::source_location loc = std::source_location::current()) {
///       return xgrad::apply<softplus_op<T>>({x}, loc);
///   }
template <class Op, class... Args>
var<typename Op::value_type> apply(std::span<const var<typename Op::value_type>> inputs,
                                   const std::source_location& loc, Args&&... args) {
    using T = typename Op::value_type;
    if (inputs.empty()) throw graph_error("apply: an op needs at least one input (it names the graph)");
    graph<T>& g = inputs.front().owner();
    detail::node<T>& n = detail::engine<T>::begin_op(g, inputs.data(), inputs.size(), loc);
    return detail::construct_and_finish<Op>(g, n, std::forward<Args>(args)...);
}

/// apply<Op> with a fixed list of inputs: apply<Op>({a, b}, loc, args…). The list refers to the caller's
/// handles (alive until the end of the full expression) instead of copying them; a named
/// std::initializer_list of handles goes to the overload above.
template <class Op, class... Args>
var<typename Op::value_type> apply(std::initializer_list<detail::input_ref<typename Op::value_type>> inputs,
                                   const std::source_location& loc, Args&&... args) {
    using T = typename Op::value_type;
    if (inputs.size() == 0) throw graph_error("apply: an op needs at least one input (it names the graph)");
    graph<T>& g = inputs.begin()->handle->owner();
    detail::node<T>& n = detail::engine<T>::begin_op(g, inputs.begin(), inputs.size(), loc);
    return detail::construct_and_finish<Op>(g, n, std::forward<Args>(args)...);
}

}  // namespace xgrad

#define XGRAD_DETAIL_CAT2(a, b) a##b
#define XGRAD_DETAIL_CAT(a, b) XGRAD_DETAIL_CAT2(a, b)
#define XGRAD_DETAIL_UNPAREN(...) __VA_ARGS__

/// In a .cpp (inside the op's namespace): defines the function that records an op and instantiates it for
/// float and double — the declaration, with its defaulted `loc`, is in the header:
///
///   XGRAD_OP_FUNCTION(sigmoid, (const var<T>& a), apply<sigmoid_op<T>>({a}, loc))
///
/// defines  template <class T> var<T> sigmoid(const var<T>& a, std::source_location loc) { return …; }
/// and its explicit instantiations for var<float> and var<double> (overloads are told apart by `params`).
#define XGRAD_OP_FUNCTION(fn, params, ...)                                         \
    template <class T>                                                             \
    using XGRAD_DETAIL_CAT(xgrad_op_function_type_, __LINE__) =                    \
        ::xgrad::var<T>(XGRAD_DETAIL_UNPAREN params, std::source_location);        \
    template <class T>                                                             \
    ::xgrad::var<T> fn(XGRAD_DETAIL_UNPAREN params, std::source_location loc) {    \
        return __VA_ARGS__;                                                        \
    }                                                                              \
    template XGRAD_DETAIL_CAT(xgrad_op_function_type_, __LINE__)<float> fn<float>; \
    template XGRAD_DETAIL_CAT(xgrad_op_function_type_, __LINE__)<double> fn<double>;
