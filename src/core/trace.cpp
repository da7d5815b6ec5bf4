// Names for the tensors of a graph, each op's rule (op_rule) with those names filled in, and the backward
// trace.
#include "xgrad/trace.hpp"

#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "xgrad/op.hpp"

namespace xgrad {

namespace {

// Characters that make a user's name compound: it needs parentheses as an operand, and its gradient is d(…).
constexpr std::string_view k_compound_marks[] = {" ", "·", "+", "−", "-", "*", "/",
                                                 "⊙", "⊘", "ᵀ", "(", ",", "²", "^"};

bool is_simple(const std::string& name) {
    for (auto mark : k_compound_marks) {
        if (name.find(mark) != std::string::npos) return false;
    }
    return !name.empty();
}

std::string pad(const std::string& s, std::size_t width) {
    const std::size_t w = display_width(s);
    return w >= width ? s + " " : s + std::string(width - w, ' ');
}

}  // namespace

std::size_t display_width(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

template <class T>
double frobenius_norm(const matrix<T>& m) {
    double s = 0;
    for (std::size_t k = 0; k < m.size(); ++k) {
        const double v = static_cast<double>(m.data()[k]);
        s += v * v;
    }
    return std::sqrt(s);
}

// ---------------------------------------------------------------- tensor_names

template <class T>
tensor_names<T>::tensor_names(const graph<T>& g) {
    const std::size_t n = g.size();
    m_info.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) m_info.push_back(g.info(i));
    m_name.resize(n);
    m_expr.resize(n);
    m_binds.assign(n, binding::atom);
    m_user.assign(n, false);
    m_alias.assign(n, -1);
    m_consumers.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        for (std::size_t k = 0; k < m_info[i].inputs.size(); ++k)
            m_consumers[m_info[i].inputs[k]].emplace_back(i, static_cast<int>(k));
    }
    for (std::uint32_t i = 0; i < n; ++i) {
        const auto& inf = m_info[i];
        m_expr[i] = inf.inputs.empty() ? std::string(inf.op) : build_expression(i);
        if (!inf.name.empty()) {
            m_name[i] = std::string(inf.name);
            m_user[i] = true;
            m_binds[i] = is_simple(m_name[i]) ? binding::atom : binding::loose;
        } else if (!inf.inputs.empty() && display_width(m_expr[i]) <= 18) {
            m_name[i] = m_expr[i];
            if (inf.rule != nullptr && !inf.rule->forward.empty()) m_binds[i] = inf.rule->binds;
        } else {
            m_name[i] = fmt::format("{}#{}", inf.op, i);
        }
    }
    // An unnamed tensor read by exactly one op that hands the gradient on unchanged borrows its name.
    for (std::uint32_t i = 0; i < n; ++i) {
        if (m_user[i] || m_consumers[i].size() != 1) continue;
        const auto [c, k] = m_consumers[i].front();
        if (m_info[c].rule == nullptr) continue;
        for (const gradient_rule& gr : m_info[c].rule->gradients) {
            if (gr.input != k) continue;
            if (gr.formula == "{dy}" || (gr.formula == "sum_to({dy})" && m_info[i].shape == m_info[c].shape))
                m_alias[i] = c;
        }
    }
}

template <class T>
formula_name tensor_names<T>::operand(std::uint32_t id) const {
    return {m_name[id], m_binds[id]};
}

template <class T>
std::string tensor_names<T>::build_expression(std::uint32_t id) const {
    const auto& inf = m_info[id];
    if (inf.rule != nullptr && !inf.rule->forward.empty()) {
        formula_names names;
        for (auto in : inf.inputs) names.inputs.push_back(operand(in));
        return fill_formula(inf.rule->forward, names);
    }
    std::string f = std::string(inf.op) + "(";  // a call needs no parentheses around its arguments
    for (std::size_t k = 0; k < inf.inputs.size(); ++k) f += (k ? ", " : "") + m_name[inf.inputs[k]];
    return f + ")";
}

template <class T>
std::string tensor_names<T>::own_grad_name(std::uint32_t id) const {
    const std::string& s = m_name.at(id);
    return is_simple(s) ? fmt::format("d{}", s) : fmt::format("d({})", s);
}

template <class T>
std::string tensor_names<T>::grad_name(std::uint32_t id) const {
    std::uint32_t at = id;
    while (m_alias.at(at) >= 0) at = static_cast<std::uint32_t>(m_alias[at]);
    return own_grad_name(at);
}

template <class T>
std::vector<rule_clause> tensor_names<T>::clauses(std::uint32_t id, bool all_inputs) const {
    const auto& inf = m_info.at(id);
    std::vector<rule_clause> out;
    if (inf.inputs.empty()) return out;
    if (inf.rule == nullptr) {
        out.push_back({-1, fmt::format("({} states no backward rule)", inf.op), to_string(inf.shape)});
        return out;
    }
    formula_names names, shapes;
    names.output = operand(id);
    names.output_grad = grad_name(id);
    shapes.output.text = to_string(inf.shape);
    for (auto in : inf.inputs) {
        names.inputs.push_back(operand(in));
        shapes.inputs.push_back({to_string(m_info[in].shape)});
    }
    for (const gradient_rule& gr : inf.rule->gradients) {
        if (gr.input < 0 || static_cast<std::size_t>(gr.input) >= inf.inputs.size()) continue;
        const std::uint32_t in = inf.inputs[static_cast<std::size_t>(gr.input)];
        if (!all_inputs && !m_info[in].requires_grad) continue;
        rule_clause c;
        c.input = gr.input;
        c.text = own_grad_name(in) + " = " + fill_formula(gr.formula, names);
        if (!gr.shapes.empty()) {
            c.shapes = fill_formula(gr.shapes, shapes);
        } else if (m_info[in].shape == inf.shape) {
            c.shapes = to_string(inf.shape);
        } else {
            c.shapes = fmt::format("{} → {}", to_string(inf.shape), to_string(m_info[in].shape));
        }
        out.push_back(std::move(c));
    }
    return out;
}

// ---------------------------------------------------------------- backward_trace

template <class T>
backward_trace<T>::backward_trace(graph<T>& g, std::FILE* out, bool all_inputs)
    : m_graph(&g), m_out(out), m_all_inputs(all_inputs) {
    g.set_backward_observer([this](const graph<T>& gr, std::uint32_t id) { visit(gr, id); });
}

template <class T>
backward_trace<T>::~backward_trace() {
    m_graph->set_backward_observer({});
}

template <class T>
void backward_trace<T>::emit(const std::string& line) {
    m_text += line;
    m_text += '\n';
    if (m_out != nullptr) {
        std::fputs(line.c_str(), m_out);
        std::fputc('\n', m_out);
    }
}

template <class T>
void backward_trace<T>::begin(const graph<T>& g, std::uint32_t root) {
    m_names.clear();
    m_names.emplace_back(g);
    const tensor_names<T>& nm = m_names.front();
    m_root = root;
    m_reached.assign(nm.size(), false);
    m_reached[root] = true;
    for (std::uint32_t i = root + 1; i-- > 0;) {
        const auto& inf = nm.info(i);
        if (!m_reached[i] || !inf.requires_grad) continue;
        for (auto in : inf.inputs) {
            if (nm.info(in).requires_grad) m_reached[in] = true;
        }
    }
    emit(
        fmt::format("backward from {} (#{}, {}); per op: its rule with your names, the shapes, ‖·‖ = the "
                    "gradient's Frobenius norm",
                    nm.name(root), root, to_string(nm.info(root).shape)));
}

template <class T>
void backward_trace<T>::visit(const graph<T>& g, std::uint32_t id) {
    // Within one backward the engine visits ids in decreasing order, each reachable from the root; anything
    // else starts a new backward (its first visit is its root).
    if (m_last < 0 || static_cast<std::int64_t>(id) >= m_last || m_names.empty() ||
        id >= m_names.front().size() || g.size() != m_names.front().size() || !m_reached[id])
        begin(g, id);
    m_last = id;
    const tensor_names<T>& nm = m_names.front();
    const auto& inf = nm.info(id);
    const std::string head = nm.user_named(id) || nm.name(id) != nm.expression(id)
                                 ? fmt::format("{} = {}", nm.name(id), nm.expression(id))
                                 : nm.expression(id);
    emit(fmt::format("#{} {}{}{}", pad(std::to_string(id), 3), pad(std::string(inf.op), 17), pad(head, 44),
                     to_string(inf.shape)));
    for (const auto& c : nm.clauses(id, m_all_inputs)) {
        std::string line = "      " + pad(c.text, 36) + pad(c.shapes, 26);
        if (c.input >= 0) {
            const std::uint32_t in = inf.inputs[static_cast<std::size_t>(c.input)];
            if (nm.info(in).requires_grad) {
                line += fmt::format("‖·‖ = {:.4g}", frobenius_norm(g.grad_of(in)));
                std::size_t more = 0;
                for (const auto& [consumer, k] : nm.consumers(in)) {
                    (void)k;
                    if (consumer < id && m_reached[consumer]) ++more;
                }
                if (more > 0)
                    line += fmt::format("  (so far: {} more use{} to add)", more, more == 1 ? "" : "s");
            } else {
                line += "(not needed: no gradient)";
            }
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        emit(line);
    }
}

template <class T>
void backward_trace<T>::leaves() {
    if (m_names.empty()) return;
    const tensor_names<T>& nm = m_names.front();
    std::string skipped;
    emit("gradients left on the leaves:");
    for (std::uint32_t i = 0; i < nm.size() && i <= m_root; ++i) {
        const auto& inf = nm.info(i);
        if (!inf.inputs.empty() || !m_reached[i] || !inf.requires_grad) continue;
        const matrix<T>& gr = m_graph->grad_of(i);
        std::string line = "      " + pad(nm.own_grad_name(i), 10) + pad(to_string(inf.shape), 10) +
                           pad(fmt::format("‖·‖ = {:.4g}", frobenius_norm(gr)), 18);
        if (gr.size() <= 6) {
            line += "[";
            for (std::size_t k = 0; k < gr.size(); ++k)
                line += fmt::format("{}{:.4g}", k ? ", " : "", static_cast<double>(gr.data()[k]));
            line += "]";
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        emit(line);
    }
    for (std::uint32_t i = 0; i < nm.size() && i <= m_root; ++i) {
        const auto& inf = nm.info(i);
        if (inf.inputs.empty() && !inf.requires_grad) {
            bool used = false;
            for (const auto& [c, k] : nm.consumers(i)) used = used || (c <= m_root && m_reached[c]);
            if (used) skipped += (skipped.empty() ? "" : ", ") + nm.name(i);
        }
    }
    if (!skipped.empty()) emit("      (no gradient for constants: " + skipped + ")");
}

template <class T>
std::string trace_backward(graph<T>& g, const var<T>& root, std::FILE* out) {
    backward_trace<T> t(g, out);
    g.backward(root);
    t.leaves();
    return t.text();
}

#define XGRAD_INSTANTIATE_TRACE(T)                                                \
    template class tensor_names<T>;                                               \
    template class backward_trace<T>;                                             \
    template std::string trace_backward<T>(graph<T>&, const var<T>&, std::FILE*); \
    template double frobenius_norm<T>(const matrix<T>&);

XGRAD_INSTANTIATE_TRACE(float)
XGRAD_INSTANTIATE_TRACE(double)

}  // namespace xgrad
