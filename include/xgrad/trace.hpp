/// @file trace.hpp
/// @brief Watching backward: the names traces and pictures give tensors, each op's backward rule with those
/// names filled in, and an opt-in trace that prints, node by node in the order backward visits them, the op,
/// its rule, the shapes and the norm of every gradient it delivers.
///
///   xgrad::trace_backward(g, C);          // instead of g.backward(C): runs it and prints
///
///   backward from C (#11, [1×1]); per op: its rule with your names, the shapes, ‖·‖ = the gradient's …
///   #11  bce_with_logits  C = bce_with_logits(A2, Y)                  [1×1]
///         dA2 = (σ(A2) − Y)/m                 [1×1] → [1×5]             ‖·‖ = 0.2384
///   #10  add_bias         A2 = W2·H1 + b2                             [1×5]
///         d(W2·H1) = dA2                      [1×5]                     ‖·‖ = 0.2384
///         db2 = Σ_columns dA2                 [1×5] → [1×1]             ‖·‖ = 0.1817
///   #9   matmul           W2·H1                                       [1×5]
///         dW2 = dA2·H1ᵀ                       [1×5]·[5×4] → [1×4]       ‖·‖ = 0.1988
///         dH1 = W2ᵀ·dA2                       [4×1]·[1×5] → [4×5]       ‖·‖ = 0.3557
///   …
///
/// Names: a tensor keeps the name the user gave it (var::named, or the name passed to constant, borrow,
/// variable or param — a parameter's own name by default). An unnamed op output is called by the expression
/// that made it, in lecture notation ("W2·H1", "σ(A1)", "Xᵀ"), or "matmul#7" when that would be long. The
/// gradient of tensor N is dN. An unnamed tensor whose gradient is handed on unchanged from its only
/// consumer (the W2·H1 inside A2 = W2·H1 + b2) borrows that consumer's gradient name, so the next rule reads
/// dW2 = dA2·H1ᵀ as on the slide.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/graph.hpp"
#include "xgrad/op.hpp"

namespace xgrad {

/// One clause of an op's backward rule (op_rule, op.hpp) — the gradient of one input — with the tensors'
/// names filled in.
struct rule_clause {
    int input = -1;      ///< which input's gradient the clause gives; −1 for an op that states no rule
    std::string text;    ///< "dW2 = dA2·H1ᵀ"
    std::string shapes;  ///< "[1×5]·[5×4] → [1×4]" (matmul), "[1×5] → [1×1]", or "[4×5]"
};

/// The names traces and pictures use for the tensors of a graph (see the file comment), computed once for
/// the graph as it is now. Recompute after recording more nodes or after graph::clear().
template <class T>
class tensor_names {
public:
    explicit tensor_names(const graph<T>& g);

    /// Number of nodes described (the graph's size when constructed).
    std::size_t size() const noexcept { return m_info.size(); }
    const node_info<T>& info(std::uint32_t id) const { return m_info.at(id); }

    /// The name to print: the user's, else an expression ("W2·H1") or "op#id".
    const std::string& name(std::uint32_t id) const { return m_name.at(id); }
    /// True when the user named the tensor.
    bool user_named(std::uint32_t id) const { return m_user.at(id); }
    /// The op applied to its inputs' names ("W2·H1 + b2", "σ(A1)", "bce_with_logits(A2, Y)"); for a leaf,
    /// its kind ("parameter", "constant", "variable").
    const std::string& expression(std::uint32_t id) const { return m_expr.at(id); }
    /// The gradient's own name: "dW2", or "d(W2·H1)" for a compound name.
    std::string own_grad_name(std::uint32_t id) const;
    /// The gradient's name in rules: own_grad_name, or the name it borrows (see the file comment).
    std::string grad_name(std::uint32_t id) const;
    /// The ops reading tensor `id`: (consumer id, input index), once per use, in creation order.
    const std::vector<std::pair<std::uint32_t, int>>& consumers(std::uint32_t id) const {
        return m_consumers.at(id);
    }

    /// Node `id`'s backward rule, one clause per input, names and shapes filled in (fill_formula). Inputs
    /// that need no gradient (data, targets) are left out unless `all_inputs`. Empty for leaves.
    std::vector<rule_clause> clauses(std::uint32_t id, bool all_inputs = false) const;

private:
    std::string build_expression(std::uint32_t id) const;
    formula_name operand(std::uint32_t id) const;

    std::vector<node_info<T>> m_info;
    std::vector<std::string> m_name, m_expr;
    std::vector<binding> m_binds;  // how tightly each name binds (a user's compound name: loose)
    std::vector<bool> m_user;
    std::vector<std::int64_t> m_alias;  // node whose gradient name this one borrows, or −1
    std::vector<std::vector<std::pair<std::uint32_t, int>>> m_consumers;
};

/// Prints each op as backward visits it: its forward expression and shape, then one line per input
/// gradient with the rule, the shapes and the gradient's Frobenius norm. Installs itself with
/// graph::set_backward_observer for as long as it lives (only one observer per graph: a later one
/// replaces it). Every backward on the graph is traced; names are recomputed at the start of each.
///
///   xgrad::backward_trace<double> trace(g);   // prints to stdout
///   g.backward(C);
///   trace.leaves();                           // the gradients left on parameters and variables
template <class T>
class backward_trace {
public:
    /// `out`: where lines go as they are produced (nullptr: only keep them, see text()).
    explicit backward_trace(graph<T>& g, std::FILE* out = stdout, bool all_inputs = false);
    ~backward_trace();
    backward_trace(const backward_trace&) = delete;
    backward_trace& operator=(const backward_trace&) = delete;

    /// Prints the gradient each leaf that needs one received in the last traced backward.
    void leaves();
    /// Everything printed so far.
    const std::string& text() const noexcept { return m_text; }

private:
    void visit(const graph<T>& g, std::uint32_t id);
    void begin(const graph<T>& g, std::uint32_t root);
    void emit(const std::string& line);

    graph<T>* m_graph;
    std::FILE* m_out;
    bool m_all_inputs;
    std::string m_text;
    std::vector<tensor_names<T>> m_names;  // 0 or 1 element (tensor_names has no default state)
    std::vector<bool> m_reached;           // nodes the current backward reaches
    std::int64_t m_last = -1;              // last node visited; −1 before any
    std::uint32_t m_root = 0;
};

/// g.backward(root) with a trace (header, one block per op, then the leaves' gradients) written to `out`
/// (nullptr: not written). Returns the trace's text.
template <class T>
std::string trace_backward(graph<T>& g, const var<T>& root, std::FILE* out = stdout);

/// Frobenius norm √(Σ x²) of a matrix, as traces print it.
template <class T>
double frobenius_norm(const matrix<T>& m);

/// Number of terminal columns a UTF-8 string takes (one per code point; for aligning traces).
std::size_t display_width(const std::string& s);

}  // namespace xgrad
