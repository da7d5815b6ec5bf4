/// @file op_registry.hpp
/// @brief Every op, listed: its rule (op.hpp), its family, its documentation and an example that records it.
///
/// The built-in ops register here (each family from its own src/core/ops/<family>.cpp), and user ops can do
/// the same through the same interface:
///
///   xgrad::op_registry::global().add({.rule = &softplus_op<double>::rule, .family = "mine",
///                                     .example = [](xgrad::example_inputs& in) {
///                                         return softplus(in.variable(3, 4, -5.0, 5.0));
///                                     }});
///   auto c = xgrad::check_op(*xgrad::op_registry::global().find("softplus"));   // c.ok, c.report
///
/// check_op runs the example's backward and fails when the inputs that received a gradient are not exactly
/// the inputs the rule has a clause for, then gradchecks the example. docs/ops.md is generated from the
/// registry (tests/docs/ops_doc.cpp), and fill_formula is how traces and that page fill in a rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "xgrad/gradcheck.hpp"
#include "xgrad/graph.hpp"
#include "xgrad/init.hpp"
#include "xgrad/op.hpp"

namespace xgrad {

// ---------------------------------------------------------------- examples

/// The leaves an op's example records on: inputs with random values (fixed seed, so an example records the
/// same values every time it runs).
class example_inputs {
public:
    /// Leaves on `g`. With `given` (gradcheck's variables), variable() returns those, in order, instead of
    /// making new ones (the values drawn for them are discarded, so constants stay the same).
    explicit example_inputs(graph<double>& g, std::uint64_t seed = 1,
                            std::span<const var<double>> given = {});

    /// An input that requires a gradient: [rows×cols], entries uniform in [lo, hi). Make its shape
    /// non-square (rows ≠ cols) so that a transposed gradient cannot pass as right.
    var<double> variable(std::size_t rows, std::size_t cols, double lo = -1.0, double hi = 1.0);
    /// An input that requires a gradient, holding `value` (a non-square shape, as above).
    var<double> variable(const matrix<double>& value);
    /// An input that requires none (labels, data).
    var<double> constant(const matrix<double>& value);
    /// [rows×cols], entries uniform in [lo, hi) — values for constants.
    matrix<double> uniform(std::size_t rows, std::size_t cols, double lo = -1.0, double hi = 1.0);
    /// A [1×m] row of integer labels in [0, classes).
    matrix<double> labels(std::size_t classes, std::size_t m);
    /// A [c×m] matrix whose columns are probability distributions (positive, summing to 1).
    matrix<double> distributions(std::size_t c, std::size_t m);

    graph<double>& owner() noexcept { return *m_graph; }
    /// The variables made so far, in order.
    const std::vector<var<double>>& variables() const noexcept { return m_variables; }

private:
    graph<double>* m_graph;
    rng m_rng;
    std::span<const var<double>> m_given;
    std::vector<var<double>> m_variables;
};

/// An example: records the op on inputs made with `in` and returns the op's output.
using op_example = var<double> (*)(example_inputs& in);

// ---------------------------------------------------------------- the registry

/// How docs/ops.md shows an op. Formulas use the placeholders of gradient_rule; the page fills them with
/// the names below.
struct op_doc {
    std::string_view calls = {};  ///< markdown: "`add(A, B)`, `A + B`"; empty: `name(A, B)`
    std::string_view inputs[max_rule_inputs] = {"A", "B", "C", "D", "E", "F", "G", "H"};  ///< {x0}, {x1}, …
    std::string_view output = "Y";                                                        ///< {y}
    /// Optional shapes ("p×n", per input, and of the output) for clauses with a shape template.
    std::string_view input_shapes[max_rule_inputs] = {};
    std::string_view output_shape = {};
    std::string_view definition = {};  ///< the forward value when `forward` is a name: "1/(1 + e^(−{x0}))"
    std::string_view note = {};        ///< after the rule: "relu′(0) = 0"
    std::string_view saves = "—";      ///< what it keeps for backward beyond its inputs and output
};

/// One registered op.
struct op_entry {
    /// Name, forward formula and backward rule. Null for a function composed from other ops, which has no
    /// rule of its own (then set `name`).
    const op_rule* rule = nullptr;
    std::string_view name = {};    ///< when `rule` is null; otherwise rule->name
    std::string_view family = {};  ///< "activation", … (the built-ins' families are their header names)
    op_doc doc = {};
    op_example example = nullptr;  ///< required

    std::string_view op_name() const noexcept { return rule != nullptr ? rule->name : name; }
};

/// The ops known to docs and checks. The built-in ops are registered the first time global() is called.
class op_registry {
public:
    op_registry() = default;
    op_registry(const op_registry&) = delete;
    op_registry& operator=(const op_registry&) = delete;

    /// The process-wide registry.
    static op_registry& global();

    /// Registers `e`. Registering the same rule again does nothing; another op of the same name, or an entry
    /// without an example or name, throws xgrad::error.
    void add(const op_entry& e);

    /// Registers ops of a family whose rule, doc and example are static members of Op<double>: `rule`,
    /// `doc` (optional) and `example`.
    template <template <class> class... Op>
    void add_ops(std::string_view family) {
        (add(entry_of<Op<double>>(family)), ...);
    }

    /// Every entry, in registration order (a copy: the registry may grow meanwhile).
    std::vector<op_entry> entries() const;
    /// The entry named `name`, or nullptr. The pointer stays valid until the registry is destroyed.
    const op_entry* find(std::string_view name) const;

private:
    template <class Op>
    static op_entry entry_of(std::string_view family) {
        op_entry e{.rule = &Op::rule, .family = family, .example = &Op::example};
        if constexpr (requires { Op::doc; }) e.doc = Op::doc;
        return e;
    }

    mutable std::mutex m_mutex;
    std::deque<op_entry> m_entries;  // a deque: find()'s pointers stay valid as it grows
};

/// Registers ops at start-up from a user's .cpp or header (same effect as op_registry::global().add_ops):
///   XGRAD_REGISTER_OPS("mine", softplus_op, hinge_op)
#define XGRAD_REGISTER_OPS(family, ...)                                                    \
    [[maybe_unused]] static const bool XGRAD_DETAIL_CAT(xgrad_registered_ops_, __LINE__) = \
        (::xgrad::op_registry::global().add_ops<__VA_ARGS__>(family), true);

// ---------------------------------------------------------------- the check

/// What check_op found.
struct op_check_result {
    bool ok = false;
    std::string report;  ///< what was compared, and what differed
};

/// Checks a registered op against its rule:
///  1. the example records the op (its output is the op's, with the rule's name) on non-square inputs;
///  2. the rule's formulas are well formed (rule_problems);
///  3. after backward from the example's output, the inputs that received a gradient are exactly the inputs
///     with a clause in the rule;
///  4. gradcheck on the example's variables passes (double; `options` for tolerances).
/// A composed function (no rule) gets step 4 only.
op_check_result check_op(const op_entry& entry, const gradcheck_options& options = {});

}  // namespace xgrad
