// Names for the tensors of a graph, backward rules with those names filled in, and the backward trace.
#include "xgrad/trace.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

namespace xgrad {

namespace {

// Characters that make a name compound (it needs parentheses as an operand, and its gradient is d(…)).
constexpr std::string_view k_compound_marks[] = {" ", "·", "+", "−", "-", "*", "/",
                                                 "⊙", "⊘", "ᵀ", "(", ",", "²", "^"};

bool is_simple(const std::string& name) {
    for (auto mark : k_compound_marks) {
        if (name.find(mark) != std::string::npos) return false;
    }
    return !name.empty();
}

/// f(…) with the parentheses closing at the end and no operator before them: needs no more parentheses.
bool is_call(const std::string& name) {
    const auto open = name.find('(');
    if (open == std::string::npos || open == 0 || name.back() != ')') return false;
    if (!is_simple(name.substr(0, open))) return false;
    int depth = 0;
    for (std::size_t i = open; i < name.size(); ++i) {
        if (name[i] == '(') ++depth;
        if (name[i] == ')' && --depth == 0 && i + 1 != name.size()) return false;
    }
    return depth == 0;
}

/// Operator precedence of a printed name: 3 atomic, 2 product, 1 sum.
int precedence_of_op(std::string_view op) {
    if (op == "matmul" || op == "mul" || op == "div" || op == "mul_scalar" || op == "rdiv_scalar") return 2;
    if (op == "add" || op == "sub" || op == "add_bias" || op == "linear" || op == "add_scalar" ||
        op == "rsub_scalar" || op == "neg")
        return 1;
    return 3;
}

std::string paren(const std::string& s) {
    return "(" + s + ")";
}

struct raw_clause {
    int input;
    std::string text;
};

/// Splits "d{x0} = …,  d{x1} = …" into one clause per input; {-1, rule} when it does not have that form.
std::vector<raw_clause> split_rule(std::string_view rule) {
    std::vector<std::pair<std::size_t, int>> starts;
    for (std::size_t p = rule.find("d{x"); p != std::string_view::npos; p = rule.find("d{x", p + 1)) {
        if (p > 0 && rule[p - 1] != ' ' && rule[p - 1] != ',') continue;
        std::size_t q = p + 3;
        int k = 0;
        bool digits = false;
        while (q < rule.size() && rule[q] >= '0' && rule[q] <= '9') {
            k = k * 10 + (rule[q] - '0');
            ++q;
            digits = true;
        }
        if (!digits || q >= rule.size() || rule[q] != '}') continue;
        ++q;
        while (q < rule.size() && rule[q] == ' ') ++q;
        if (q < rule.size() && rule[q] == '=') starts.emplace_back(p, k);
    }
    std::size_t first = rule.find_first_not_of(' ');
    if (starts.empty() || starts.front().first != first) return {{-1, std::string(rule)}};
    std::vector<raw_clause> out;
    for (std::size_t i = 0; i < starts.size(); ++i) {
        const std::size_t b = starts[i].first;
        const std::size_t e = i + 1 < starts.size() ? starts[i + 1].first : rule.size();
        std::string_view t = rule.substr(b, e - b);
        while (!t.empty() && (t.back() == ' ' || t.back() == ',')) t.remove_suffix(1);
        out.push_back({starts[i].second, std::string(t)});
    }
    return out;
}

std::string transposed(const shape2& s) {
    return to_string(shape2{s[1], s[0]});
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
        } else if (!inf.inputs.empty() && display_width(m_expr[i]) <= 18) {
            m_name[i] = m_expr[i];
        } else {
            m_name[i] = fmt::format("{}#{}", inf.op, i);
        }
    }
    // An unnamed tensor read by exactly one op that hands the gradient on unchanged borrows its name.
    for (std::uint32_t i = 0; i < n; ++i) {
        if (m_user[i] || m_consumers[i].size() != 1) continue;
        const auto [c, k] = m_consumers[i].front();
        for (const auto& rc : split_rule(m_info[c].rule)) {
            if (rc.input != k) continue;
            const std::string lhs = fmt::format("d{{x{}}} = ", k);
            if (rc.text == lhs + "d{y}" ||
                (rc.text == lhs + "sum_to(d{y})" && m_info[i].shape == m_info[c].shape))
                m_alias[i] = c;
        }
    }
}

template <class T>
std::string tensor_names<T>::build_expression(std::uint32_t id) const {
    const auto& inf = m_info[id];
    const std::string_view op = inf.op;
    auto arg = [&](std::size_t k) { return m_name[inf.inputs[k]]; };
    // Operand k of an operator binding at `prec`: parenthesised when it binds more loosely.
    auto opnd = [&](std::size_t k, int prec) {
        const std::uint32_t in = inf.inputs[k];
        const std::string& s = m_name[in];
        int p = 3;
        if (!is_simple(s) && !is_call(s)) p = m_user[in] ? 0 : precedence_of_op(m_info[in].op);
        return p < prec ? paren(s) : s;
    };
    const std::size_t n = inf.inputs.size();
    if (op == "matmul" && n == 2) return opnd(0, 2) + "·" + opnd(1, 3);
    if (op == "linear" && n == 3) return opnd(0, 2) + "·" + opnd(1, 3) + " + " + opnd(2, 2);
    if ((op == "add" || op == "add_bias") && n == 2) return opnd(0, 1) + " + " + opnd(1, 2);
    if (op == "sub" && n == 2) return opnd(0, 1) + " − " + opnd(1, 2);
    if (op == "mul" && n == 2) return opnd(0, 2) + " ⊙ " + opnd(1, 3);
    if (op == "div" && n == 2) return opnd(0, 2) + " ⊘ " + opnd(1, 3);
    if (op == "neg" && n == 1) return "−" + opnd(0, 3);
    if (op == "transpose" && n == 1) return opnd(0, 3) + "ᵀ";
    if (op == "square" && n == 1) return opnd(0, 3) + "²";
    if (op == "pow" && n == 1) return opnd(0, 3) + "^p";
    if (op == "add_scalar" && n == 1) return opnd(0, 1) + " + s";
    if (op == "mul_scalar" && n == 1) return "s·" + opnd(0, 3);
    if (op == "rsub_scalar" && n == 1) return "s − " + opnd(0, 2);
    if (op == "rdiv_scalar" && n == 1) return "s ⊘ " + opnd(0, 3);
    std::string f = op == "sigmoid" ? std::string("σ") : std::string(op);
    f += "(";
    for (std::size_t k = 0; k < n; ++k) f += (k ? ", " : "") + arg(k);
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
    const std::string_view rule =
        inf.rule.empty() ? std::string_view("(the op gives no rule text)") : inf.rule;
    // Fills {y}, {xK}, d{y}, d{xK} in a clause with names.
    auto fill = [&](const std::string& t) {
        std::string r;
        for (std::size_t p = 0; p < t.size();) {
            const bool is_d =
                t.compare(p, 2, "d{") == 0 && (p == 0 || !std::isalnum(static_cast<unsigned char>(t[p - 1])));
            const std::size_t brace = is_d ? p + 1 : p;
            if (brace < t.size() && t[brace] == '{') {
                const std::size_t close = t.find('}', brace);
                if (close != std::string::npos) {
                    const std::string key = t.substr(brace + 1, close - brace - 1);
                    std::int64_t node = -1;
                    bool is_output = false;
                    if (key == "y") {
                        node = id;
                        is_output = true;
                    } else if (key.size() > 1 && key[0] == 'x' &&
                               std::all_of(key.begin() + 1, key.end(),
                                           [](char c) { return c >= '0' && c <= '9'; })) {
                        const std::size_t k = std::stoul(key.substr(1));
                        if (k < inf.inputs.size()) node = inf.inputs[k];
                    }
                    if (node >= 0) {
                        const auto u = static_cast<std::uint32_t>(node);
                        if (is_d) {
                            r += is_output ? grad_name(u) : own_grad_name(u);
                        } else {
                            const std::string& s = m_name[u];
                            const bool enclosed = p > 0 && t[p - 1] == '(' && close + 1 < t.size() &&
                                                  (t[close + 1] == ')' || t[close + 1] == ',');
                            r += enclosed || is_simple(s) || is_call(s) ? s : paren(s);
                        }
                        p = close + 1;
                        continue;
                    }
                }
            }
            r += t[p++];
        }
        return r;
    };
    const shape2 out_shape = inf.shape;
    for (const auto& rc : split_rule(rule)) {
        rule_clause c;
        c.input = rc.input;
        c.text = fill(rc.text);
        if (rc.input < 0 || static_cast<std::size_t>(rc.input) >= inf.inputs.size()) {
            c.input = -1;
            c.shapes = to_string(out_shape);
            out.push_back(std::move(c));
            continue;
        }
        const auto& in = m_info[inf.inputs[static_cast<std::size_t>(rc.input)]];
        if (!all_inputs && !in.requires_grad) continue;
        if ((inf.op == "matmul" && inf.inputs.size() == 2) ||
            (inf.op == "linear" && inf.inputs.size() == 3 && rc.input < 2)) {
            const shape2 a = m_info[inf.inputs[0]].shape, b = m_info[inf.inputs[1]].shape;
            c.shapes = rc.input == 0
                           ? fmt::format("{}·{} → {}", to_string(out_shape), transposed(b), to_string(a))
                           : fmt::format("{}·{} → {}", transposed(a), to_string(out_shape), to_string(b));
        } else if (in.shape == out_shape) {
            c.shapes = to_string(out_shape);
        } else {
            c.shapes = fmt::format("{} → {}", to_string(out_shape), to_string(in.shape));
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
