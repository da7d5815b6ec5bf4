// The op registry: filling in rule formulas, examples' inputs, the registry itself and check_op.
#include "xgrad/op_registry.hpp"

#include <algorithm>
#include <exception>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace xgrad {

namespace detail {
// Each family registers its ops from its own file (src/core/ops/<family>.cpp), through op_registry::add_ops.
void register_linalg_ops(op_registry& r);
void register_elementwise_ops(op_registry& r);
void register_reduction_ops(op_registry& r);
void register_activation_ops(op_registry& r);
void register_softmax_ops(op_registry& r);
void register_loss_ops(op_registry& r);
void register_embedding_ops(op_registry& r);
void register_dropout_ops(op_registry& r);
void register_normalization_ops(op_registry& r);
void register_concat_ops(op_registry& r);
void register_conv_ops(op_registry& r);
}  // namespace detail

namespace {

constexpr std::string_view k_transposed = "ᵀ";

/// One placeholder of a formula: {key}, {key:accepts}, {keyᵀ}.
struct placeholder {
    std::string_view key;  // "y", "dy", "x0", …
    binding accepts = binding::atom;
    bool transposed = false;
    bool valid_suffix = true;
};

placeholder parse_placeholder(std::string_view inside) {
    placeholder p;
    if (const auto colon = inside.find(':'); colon != std::string_view::npos) {
        const std::string_view b = inside.substr(colon + 1);
        inside = inside.substr(0, colon);
        if (b == "any") {
            p.accepts = binding::loose;
        } else if (b == "sum") {
            p.accepts = binding::sum;
        } else if (b == "product") {
            p.accepts = binding::product;
        } else {
            p.valid_suffix = false;
        }
    }
    if (inside.ends_with(k_transposed)) {
        p.transposed = true;
        inside.remove_suffix(k_transposed.size());
    }
    p.key = inside;
    return p;
}

/// k for "xK", or −1.
int input_index(std::string_view key) {
    if (key.size() < 2 || key[0] != 'x' || key.size() > 4) return -1;
    int k = 0;
    for (char c : key.substr(1)) {
        if (c < '0' || c > '9') return -1;
        k = k * 10 + (c - '0');
    }
    return k;
}

/// "[a×b]" → "[b×a]"; anything else unchanged.
std::string transpose_shape(std::string_view s) {
    constexpr std::string_view times = "×";
    const auto x = s.find(times);
    if (s.size() < 2 || s.front() != '[' || s.back() != ']' || x == std::string_view::npos)
        return std::string(s);
    std::string t;
    t.reserve(s.size());
    t.append("[").append(s.substr(x + times.size(), s.size() - 1 - x - times.size())).append(times);
    t.append(s.substr(1, x - 1)).append("]");
    return t;
}

/// Calls f(placeholder, begin, end) for every {…} in `text`.
template <class F>
void for_each_placeholder(std::string_view text, F&& f) {
    for (std::size_t p = text.find('{'); p != std::string_view::npos; p = text.find('{', p + 1)) {
        const std::size_t close = text.find('}', p);
        if (close == std::string_view::npos) return;
        f(parse_placeholder(text.substr(p + 1, close - p - 1)), p, close + 1);
    }
}

std::string set_text(const std::set<int>& s) {
    if (s.empty()) return "none";
    std::vector<std::string> v;
    for (int k : s) v.push_back(fmt::format("x{}", k));
    return fmt::format("{}", fmt::join(v, ", "));
}

}  // namespace

// ---------------------------------------------------------------- filling in formulas

std::string fill_formula(std::string_view formula, const formula_names& names) {
    std::string out;
    std::size_t done = 0;
    for_each_placeholder(formula, [&](const placeholder& ph, std::size_t begin, std::size_t end) {
        out.append(formula.substr(done, begin - done));
        done = end;
        const formula_name* n = nullptr;
        formula_name grad;
        if (ph.key == "y") {
            n = &names.output;
        } else if (ph.key == "dy") {
            grad.text = names.output_grad;
            n = &grad;
        } else if (const int k = input_index(ph.key);
                   k >= 0 && static_cast<std::size_t>(k) < names.inputs.size()) {
            n = &names.inputs[static_cast<std::size_t>(k)];
        }
        if (n == nullptr || !ph.valid_suffix) {
            out.append(formula.substr(begin, end - begin));  // left as written
            return;
        }
        const std::string text = ph.transposed ? transpose_shape(n->text) : n->text;
        out += n->binds < ph.accepts ? "(" + text + ")" : text;
    });
    out.append(formula.substr(done));
    return out;
}

std::vector<std::string> rule_problems(const op_rule& rule, std::size_t inputs) {
    std::vector<std::string> problems;
    if (rule.name.empty()) problems.emplace_back("the rule has no name");
    auto check = [&](std::string_view what, std::string_view text, bool shapes) {
        for_each_placeholder(text, [&](const placeholder& ph, std::size_t begin, std::size_t end) {
            const std::string_view written = text.substr(begin, end - begin);
            const int k = input_index(ph.key);
            const bool known = ph.key == "y" || (ph.key == "dy" && what != "forward") ||
                               (k >= 0 && static_cast<std::size_t>(k) < inputs);
            if (!known) {
                problems.push_back(fmt::format("{}: {} names no tensor of an op with {} input{}", what,
                                               written, inputs, inputs == 1 ? "" : "s"));
            } else if (!ph.valid_suffix) {
                problems.push_back(
                    fmt::format("{}: {} — after ':' write any, sum or product", what, written));
            } else if (ph.transposed && !shapes) {
                problems.push_back(
                    fmt::format("{}: {} — ᵀ inside braces is for shape templates", what, written));
            }
        });
    };
    check("forward", rule.forward, false);
    std::set<int> seen;
    for (const gradient_rule& g : rule.gradients) {
        if (g.input < 0) continue;
        const std::string what = fmt::format("the clause for x{}", g.input);
        if (static_cast<std::size_t>(g.input) >= inputs) {
            problems.push_back(
                fmt::format("{}: the op has {} input{}", what, inputs, inputs == 1 ? "" : "s"));
        }
        if (!seen.insert(g.input).second) problems.push_back(what + ": given twice");
        if (g.formula.empty()) problems.push_back(what + ": empty formula");
        check(what, g.formula, false);
        check(what + " (shapes)", g.shapes, true);
    }
    return problems;
}

// ---------------------------------------------------------------- examples

example_inputs::example_inputs(graph<double>& g, std::uint64_t seed, std::span<const var<double>> given)
    : m_graph(&g), m_rng(seed), m_given(given) {}

matrix<double> example_inputs::uniform(std::size_t rows, std::size_t cols, double lo, double hi) {
    matrix<double> m({rows, cols});
    for (auto& v : m) v = m_rng.uniform(lo, hi);
    return m;
}

var<double> example_inputs::variable(std::size_t rows, std::size_t cols, double lo, double hi) {
    return variable(uniform(rows, cols, lo, hi));
}

var<double> example_inputs::variable(const matrix<double>& value) {
    const std::size_t k = m_variables.size();
    if (!m_given
             .empty()) {  // gradcheck's variables (the value was drawn all the same, so draws do not shift)
        if (k >= m_given.size() || m_given[k].shape() != shape_of(value)) {
            throw graph_error(
                fmt::format("example_inputs: variable {} of shape {} does not match the given one", k,
                            to_string(shape_of(value))));
        }
        m_variables.push_back(m_given[k]);
    } else {
        m_variables.push_back(m_graph->variable(value, fmt::format("x{}", k)));
    }
    return m_variables.back();
}

var<double> example_inputs::constant(const matrix<double>& value) {
    return m_graph->constant(value);
}

matrix<double> example_inputs::labels(std::size_t classes, std::size_t m) {
    matrix<double> y({std::size_t{1}, m});
    for (auto& v : y) v = static_cast<double>(m_rng.below(classes));
    return y;
}

matrix<double> example_inputs::distributions(std::size_t c, std::size_t m) {
    matrix<double> t = uniform(c, m, 0.1, 1.0);
    for (std::size_t j = 0; j < m; ++j) {
        double s = 0;
        for (std::size_t i = 0; i < c; ++i) s += t(i, j);
        for (std::size_t i = 0; i < c; ++i) t(i, j) /= s;
    }
    return t;
}

// ---------------------------------------------------------------- the registry

namespace {
op_registry& make_global() {
    static op_registry r;
    detail::register_linalg_ops(r);
    detail::register_elementwise_ops(r);
    detail::register_reduction_ops(r);
    detail::register_activation_ops(r);
    detail::register_softmax_ops(r);
    detail::register_loss_ops(r);
    detail::register_embedding_ops(r);
    detail::register_dropout_ops(r);
    detail::register_normalization_ops(r);
    detail::register_concat_ops(r);
    detail::register_conv_ops(r);
    return r;
}
}  // namespace

op_registry& op_registry::global() {
    static op_registry& r = make_global();
    return r;
}

void op_registry::add(const op_entry& e) {
    const std::string_view name = e.op_name();
    if (name.empty()) throw error("op_registry: an entry needs a rule with a name (or a name)");
    if (e.example == nullptr) throw error(fmt::format("op_registry: '{}' has no example", name));
    const std::lock_guard<std::mutex> lock(m_mutex);
    for (const op_entry& have : m_entries) {
        if (have.op_name() != name) continue;
        if (have.rule == e.rule && have.example == e.example) return;  // the same op again
        throw error(fmt::format("op_registry: an op named '{}' is already registered (family '{}')", name,
                                have.family));
    }
    m_entries.push_back(e);
}

std::vector<op_entry> op_registry::entries() const {
    const std::lock_guard<std::mutex> lock(m_mutex);
    return {m_entries.begin(), m_entries.end()};
}

const op_entry* op_registry::find(std::string_view name) const {
    const std::lock_guard<std::mutex> lock(m_mutex);
    for (const op_entry& e : m_entries) {
        if (e.op_name() == name) return &e;
    }
    return nullptr;
}

// ---------------------------------------------------------------- the check

op_check_result check_op(const op_entry& entry, const gradcheck_options& options) {
    op_check_result r;
    const std::string_view name = entry.op_name();
    std::vector<std::string> failures;
    std::vector<std::string> details;  // what was compared
    auto finish = [&]() {
        r.ok = failures.empty();
        r.report = fmt::format("{}: {}", name,
                               r.ok ? "ok" : "FAILED — " + fmt::format("{}", fmt::join(failures, "; ")));
        if (!details.empty()) r.report += fmt::format(" ({})", fmt::join(details, "; "));
        return r;
    };
    if (entry.example == nullptr) {
        failures.emplace_back("no example");
        return finish();
    }
    graph<double> g;
    example_inputs in(g);
    var<double> y;
    try {
        y = entry.example(in);
    } catch (const std::exception& e) {
        failures.push_back(fmt::format("the example throws: {}", e.what()));
        return finish();
    }
    for (const var<double>& v : in.variables()) {
        if (v.rows() == v.cols()) {
            failures.push_back(fmt::format("the example's variable {} is square ({}): make rows ≠ columns",
                                           v.name(), to_string(v.shape())));
        }
    }
    if (in.variables().empty()) failures.emplace_back("the example makes no variable: nothing to check");
    if (entry.rule != nullptr) {
        const node_info<double> info = g.info(y.id());
        if (info.rule != entry.rule) {
            failures.push_back(fmt::format("the example's output is made by '{}', not by this op", info.op));
            return finish();
        }
        for (std::string& p : rule_problems(*entry.rule, info.inputs.size()))
            failures.push_back(std::move(p));
        std::set<int> stated, delivered;
        for (const gradient_rule& c : entry.rule->gradients) {
            if (c.input >= 0) stated.insert(c.input);
        }
        try {
            if (y.requires_grad()) g.backward(y, matrix<double>(shape_of(y.value()), 1.0));
        } catch (const std::exception& e) {
            failures.push_back(fmt::format("backward throws: {}", e.what()));
            return finish();
        }
        for (std::size_t k = 0; k < info.inputs.size(); ++k) {
            if (g.info(info.inputs[k]).has_grad) delivered.insert(static_cast<int>(k));
        }
        details.push_back(fmt::format("gradients delivered to {}, rule clauses for {}", set_text(delivered),
                                      set_text(stated)));
        if (delivered != stated) {
            failures.push_back(
                fmt::format("backward delivered gradients to {} but the rule has clauses for {}",
                            set_text(delivered), set_text(stated)));
        }
    }
    if (!in.variables().empty()) {
        std::vector<matrix<double>> values;
        for (const var<double>& v : in.variables()) values.push_back(v.value());
        const op_example example = entry.example;
        gradcheck_result gc;
        try {
            gc = gradcheck(
                [example](std::span<const var<double>> x) {
                    example_inputs again(x[0].owner(), 1, x);
                    return example(again);
                },
                values, options);
        } catch (const std::exception& e) {
            failures.push_back(fmt::format("gradcheck throws: {}", e.what()));
            return finish();
        }
        details.push_back("gradcheck: " + gc.report);
        if (!gc.ok) failures.push_back("gradcheck failed");
    }
    return finish();
}

}  // namespace xgrad
