// The playground's engine (see playground.hpp) and, when compiled with em++, its embind glue.
#include "playground.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>
#include <xtensor/xview.hpp>

#include <xgrad/blas.hpp>
#include <xgrad/dot.hpp>
#include <xgrad/ops/activation.hpp>
#include <xgrad/ops/loss.hpp>
#include <xgrad/ops/softmax.hpp>

// The lecture's worked examples, computed by the same headers the example programs and their tests use.
#include "forward_pass.hpp"
#include "softmax_loss.hpp"

namespace xgrad::web {

namespace {

// ---------------------------------------------------------------- JSON text

/// A JSON string literal (UTF-8 passes through; quotes, backslashes and control characters are escaped).
std::string quote(std::string_view s) {
    std::string r = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            r += '\\';
            r += ch;
        } else if (c == '\n') {
            r += "\\n";
        } else if (c < 0x20) {
            r += fmt::format("\\u{:04x}", c);
        } else {
            r += ch;
        }
    }
    return r + "\"";
}

/// A number with every digit a double carries (null for NaN and ±∞, which JSON cannot hold).
std::string num(double v) {
    return std::isfinite(v) ? fmt::format("{:.17g}", v) : std::string("null");
}

/// {"rows": r, "cols": c, "data": [row-major entries]}.
std::string matrix_json(const matrix<double>& m) {
    std::string s = fmt::format("{{\"rows\":{},\"cols\":{},\"data\":[", m.shape()[0], m.shape()[1]);
    for (std::size_t k = 0; k < m.size(); ++k) {
        if (k) s += ',';
        s += num(m.data()[k]);
    }
    return s + "]}";
}

/// Appends `item` to a comma-separated list.
void append(std::string& list, const std::string& item) {
    if (!list.empty()) list += ',';
    list += item;
}

std::string error_json(const std::string& what) {
    return "{\"error\":" + quote(what) + "}";
}

/// Runs `f` and answers its JSON, or {"error": …} for anything it throws.
template <class F>
std::string answer(F&& f) {
    try {
        return f();
    } catch (const std::exception& e) {
        return error_json(e.what());
    }
}

std::vector<std::size_t> parse_sizes(const std::string& text) {
    std::vector<std::size_t> sizes;
    std::size_t p = 0;
    while (p < text.size()) {
        std::size_t q = text.find(',', p);
        if (q == std::string::npos) q = text.size();
        std::string word = text.substr(p, q - p);
        word.erase(std::remove(word.begin(), word.end(), ' '), word.end());
        if (!word.empty()) {
            std::size_t used = 0;
            long v = 0;
            try {
                v = std::stol(word, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != word.size() || v < 1 || v > 256)
                throw graph_error(fmt::format("hidden layers: '{}' is not a size from 1 to 256", word));
            sizes.push_back(static_cast<std::size_t>(v));
        }
        p = q + 1;
    }
    if (sizes.size() > 6) throw graph_error("hidden layers: at most 6");
    return sizes;
}

/// Class index with the largest logit in column j (for one logit row: 1 when it is positive).
std::size_t predicted(const matrix<double>& logits, std::size_t j) {
    const std::size_t c = logits.shape()[0];
    if (c == 1) return logits(0, j) > 0 ? 1 : 0;
    std::size_t best = 0;
    for (std::size_t i = 1; i < c; ++i) {
        if (logits(i, j) > logits(best, j)) best = i;
    }
    return best;
}

std::string_view kind_of(const node_info<double>& inf) {
    return inf.inputs.empty() ? inf.op : std::string_view("op");
}

/// The trace's text split into the header, one block per visited node ("#id …" and its rule lines) and the
/// leaves' gradients.
std::string trace_json(const std::string& text) {
    std::vector<std::string> lines;
    for (std::size_t p = 0; p < text.size();) {
        std::size_t q = text.find('\n', p);
        if (q == std::string::npos) q = text.size();
        lines.push_back(text.substr(p, q - p));
        p = q + 1;
    }
    std::string header, steps, leaves;
    bool in_leaves = false, open = false;
    for (const auto& line : lines) {
        if (line.rfind("backward from", 0) == 0) {
            header = line;
        } else if (line.rfind("gradients left", 0) == 0) {
            if (open) steps += "]}";
            open = false;
            in_leaves = true;
            leaves += quote(line);
        } else if (in_leaves) {
            append(leaves, quote(line));
        } else if (!line.empty() && line[0] == '#') {
            if (open) steps += "]},";
            steps += fmt::format("{{\"id\":{},\"lines\":[{}", std::stoul(line.substr(1)), quote(line));
            open = true;
        } else if (open) {
            steps += ',';
            steps += quote(line);
        }
    }
    if (open) steps += "]}";
    return fmt::format("{{\"header\":{},\"steps\":[{}],\"leaves\":[{}]}}", quote(header), steps, leaves);
}

std::string figures_json(const std::vector<::lecture::figure>& figs, std::size_t from, std::size_t to) {
    std::string s = "[";
    for (std::size_t k = from; k < std::min(to, figs.size()); ++k) {
        const auto& f = figs[k];
        const char* v = f.v == ::lecture::verdict::agrees      ? "agrees"
                        : f.v == ::lecture::verdict::truncated ? "agrees only if cut off"
                                                               : "differs";
        if (k > from) s += ',';
        s += fmt::format(
            "{{\"what\":{},\"slide\":{},\"computed\":{},\"shown\":{},\"verdict\":{},\"note\":{}}}",
            quote(f.what), quote(f.slide), num(f.computed), quote(::lecture::shown(f)), quote(v),
            quote(f.note));
    }
    return s + "]";
}

}  // namespace

// ---------------------------------------------------------------- playground

playground::playground() = default;
playground::~playground() = default;

void playground::build(const settings& s) {
    if (s.points < 10 || s.points > 5000) throw data_error("points: from 10 to 5000");
    if (s.batch < 1) throw data_error("batch: at least 1");
    if (!(s.test_fraction >= 0 && s.test_fraction <= 0.9)) throw data_error("test fraction: from 0 to 0.9");
    const auto n = static_cast<std::size_t>(s.points);
    const auto seed = static_cast<std::uint64_t>(s.seed);
    data::dataset<double> all;
    if (s.dataset == "circle") {
        all = data::make_circle<double>(n, s.noise, seed);
    } else if (s.dataset == "xor") {
        all = data::make_xor<double>(n, s.noise, seed);
    } else if (s.dataset == "gauss") {
        all = data::make_gauss<double>(n, s.noise, seed);
    } else if (s.dataset == "spiral") {
        all = data::make_spiral<double>(n, static_cast<std::size_t>(std::max(s.classes, 2)), s.noise, seed);
    } else {
        throw data_error(fmt::format("unknown data set '{}' (circle, xor, gauss, spiral)", s.dataset));
    }
    auto [train, test] = data::split(all, s.test_fraction, seed + 1);
    if (s.loss == "bce_with_logits" && all.classes != 2)
        throw graph_error(fmt::format("bce_with_logits needs 2 classes, the data set has {}", all.classes));
    if (s.loss != "softmax_cross_entropy" && s.loss != "bce_with_logits" && s.loss != "mse")
        throw graph_error(
            fmt::format("unknown loss '{}' (softmax_cross_entropy, bce_with_logits, mse)", s.loss));
    const auto act = nn::parse_activation(s.activation);

    std::vector<std::size_t> sizes{2};
    for (auto h : parse_sizes(s.hidden)) sizes.push_back(h);
    sizes.push_back(s.loss == "bce_with_logits" ? 1 : all.classes);
    rng g(seed + 2);
    auto model = nn::mlp<double>(sizes, act, g);
    std::vector<nn::linear<double>*> layers;
    for (std::size_t i = 0; i < model->size(); i += 2) {
        auto& l = dynamic_cast<nn::linear<double>&>((*model)[i]);
        const std::size_t k = layers.size() + 1;
        l.weight().set_name(fmt::format("W{}", k));  // the lecture's names: W1, b1, A1, H1, …
        l.bias().set_name(fmt::format("b{}", k));
        layers.push_back(&l);
    }
    std::unique_ptr<optim::optimizer<double>> opt;
    if (s.optimizer == "sgd") {
        opt = std::make_unique<optim::sgd<double>>(model->parameters(), s.learning_rate);
    } else if (s.optimizer == "momentum") {
        opt = std::make_unique<optim::sgd<double>>(model->parameters(), s.learning_rate, 0.9);
    } else if (s.optimizer == "adam") {
        opt = std::make_unique<optim::adam<double>>(model->parameters(), s.learning_rate);
    } else {
        throw graph_error(fmt::format("unknown optimizer '{}' (sgd, momentum, adam)", s.optimizer));
    }

    // Everything checked: commit.
    m_graph.release();
    m_eval.release();
    m_view.release();
    m_names.reset();
    m_settings = s;
    m_train = std::move(train);
    m_test = std::move(test);
    m_train_t = one_hot(m_train.y, m_train.classes);
    m_test_t = one_hot(m_test.y, m_test.classes);
    m_model = std::move(model);
    m_linear = std::move(layers);
    m_opt = std::move(opt);
    m_batches = std::make_unique<data::batcher<double>>(m_train, static_cast<std::size_t>(s.batch), seed + 3);
    m_step = 0;
    m_diverged = false;
    const std::size_t shown = std::min<std::size_t>(static_cast<std::size_t>(s.batch), m_train.size());
    m_view_x = xt::view(m_train.x, xt::all(), xt::range(0, shown));
    m_view_y = xt::view(m_train.y, xt::all(), xt::range(0, shown));
    m_view_t = one_hot(m_view_y, m_train.classes);
    m_view_is_model = false;
}

std::string playground::reset(const settings& s) {
    return answer([&] {
        build(s);
        auto points = [](const data::dataset<double>& ds) {
            std::string x1, x2, label;
            for (std::size_t j = 0; j < ds.size(); ++j) {
                append(x1, num(ds.x(0, j)));
                append(x2, num(ds.x(1, j)));
                append(label, std::to_string(static_cast<int>(ds.y(0, j))));
            }
            return fmt::format("{{\"x1\":[{}],\"x2\":[{}],\"label\":[{}]}}", x1, x2, label);
        };
        std::string sizes = std::to_string(m_linear.front()->in_features());
        for (const auto* l : m_linear) append(sizes, std::to_string(l->out_features()));
        return fmt::format(
            "{{\"classes\":{},\"sizes\":[{}],\"parameters\":{},\"model\":{},\"train\":{},\"test\":{}}}",
            m_train.classes, sizes, m_model->parameter_count(), quote(m_model->describe()), points(m_train),
            points(m_test));
    });
}

playground::recorded playground::record(graph<double>& g, const matrix<double>& x, const matrix<double>& y,
                                        const matrix<double>& targets) {
    var<double> h = g.borrow(x, "X");
    var<double> a;
    for (std::size_t l = 0; l < m_linear.size(); ++l) {
        a = (*m_linear[l])(h).named(fmt::format("A{}", l + 1));  // A = W·H + b
        if (l + 1 < m_linear.size()) h = (*m_model)[2 * l + 1](a).named(fmt::format("H{}", l + 1));
    }
    var<double> loss;
    if (m_settings.loss == "softmax_cross_entropy") {
        loss = softmax_cross_entropy(a, g.borrow(y, "Y"));
    } else if (m_settings.loss == "bce_with_logits") {
        loss = bce_with_logits(a, g.borrow(y, "Y"));
    } else {
        loss = mse(softmax(a).named("P"), g.borrow(targets, "T"));
    }
    return {a, loss.named("L")};
}

std::string playground::evaluate_json(const data::dataset<double>& ds, const matrix<double>& targets) {
    if (ds.size() == 0) return "null";
    m_eval.clear();
    no_grad guard;
    const auto r = record(m_eval, ds.x, ds.y, targets);
    const matrix<double>& z = r.logits.value();
    std::size_t ok = 0;
    for (std::size_t j = 0; j < ds.size(); ++j) ok += predicted(z, j) == static_cast<std::size_t>(ds.y(0, j));
    return fmt::format("{{\"loss\":{},\"accuracy\":{}}}", num(r.loss.item()),
                       num(static_cast<double>(ok) / static_cast<double>(ds.size())));
}

std::string playground::train(int steps) {
    return answer([&] {
        if (!m_model) throw graph_error("train: call reset first");
        std::string losses;
        for (int s = 0; s < steps && !m_diverged; ++s) {
            if (!m_batches->next()) {
                m_batches->start_epoch();
                m_batches->next();
            }
            m_graph.clear();
            m_model->zero_grad();
            if (m_settings.loss == "mse") m_batch_t = one_hot(m_batches->y(), m_train.classes);
            const auto r = record(m_graph, m_batches->x(), m_batches->y(), m_batch_t);
            const double l = r.loss.item();
            if (!std::isfinite(l)) {  // stop before the update: the weights stay finite
                m_diverged = true;
                break;
            }
            m_graph.backward(r.loss);
            m_opt->step();
            ++m_step;
            if (!losses.empty()) losses += ',';
            losses += num(l);
        }
        return fmt::format(
            "{{\"step\":{},\"epoch\":{},\"losses\":[{}],\"diverged\":{},\"train\":{},\"test\":{}}}", m_step,
            m_batches->epoch(), losses, m_diverged ? "true" : "false", evaluate_json(m_train, m_train_t),
            evaluate_json(m_test, m_test_t));
    });
}

std::string playground::boundary(int resolution) {
    return answer([&] {
        if (!m_model) throw graph_error("boundary: call reset first");
        if (resolution < 2 || resolution > 200) throw graph_error("boundary: resolution from 2 to 200");
        const auto n = static_cast<std::size_t>(resolution);
        matrix<double> grid({2, n * n});
        for (std::size_t r = 0; r < n; ++r) {
            for (std::size_t c = 0; c < n; ++c) {
                grid(0, r * n + c) = -6.0 + 12.0 * (static_cast<double>(c) + 0.5) / static_cast<double>(n);
                grid(1, r * n + c) = 6.0 - 12.0 * (static_cast<double>(r) + 0.5) / static_cast<double>(n);
            }
        }
        m_eval.clear();
        no_grad guard;
        var<double> h = m_eval.borrow(grid, "X");
        var<double> a;
        for (std::size_t l = 0; l < m_linear.size(); ++l) {
            a = (*m_linear[l])(h);
            if (l + 1 < m_linear.size()) h = (*m_model)[2 * l + 1](a);
        }
        const bool binary = a.rows() == 1;
        const matrix<double> p = binary ? sigmoid(a).value() : softmax(a).value();
        const std::size_t k = binary ? 2 : p.shape()[0];
        std::string s;
        for (std::size_t c = 0; c < k; ++c) {
            for (std::size_t j = 0; j < n * n; ++j) {
                const double v = binary ? (c == 0 ? 1 - p(0, j) : p(0, j)) : p(c, j);
                if (!s.empty()) s += ',';
                s += fmt::format("{:.3g}", v);
            }
        }
        return fmt::format("{{\"resolution\":{},\"extent\":6,\"classes\":{},\"p\":[{}]}}", n, k, s);
    });
}

std::string playground::graph_json(const std::string& title) {
    m_names.emplace(m_view);
    const tensor_names<double>& nm = *m_names;
    std::string nodes;
    std::uint32_t root = 0;
    for (std::uint32_t i = 0; i < nm.size(); ++i) {
        const auto& inf = nm.info(i);
        std::string inputs;
        for (std::size_t k = 0; k < inf.inputs.size(); ++k)
            inputs += fmt::format("{}{}", k ? "," : "", inf.inputs[k]);
        if (i) nodes += ',';
        nodes += fmt::format(
            "{{\"id\":{},\"name\":{},\"op\":{},\"kind\":{},\"rows\":{},\"cols\":{},\"expression\":{},"
            "\"user_named\":{},\"requires_grad\":{},\"grad_name\":{},\"inputs\":[{}]}}",
            i, quote(nm.name(i)), quote(inf.op), quote(kind_of(inf)), inf.shape[0], inf.shape[1],
            quote(nm.expression(i)), nm.user_named(i) ? "true" : "false",
            inf.requires_grad ? "true" : "false", quote(nm.own_grad_name(i)), inputs);
        if (!inf.inputs.empty() && nm.consumers(i).empty()) root = i;
    }
    dot_options o;
    o.title = title;
    o.values = true;
    o.gradients = true;
    return fmt::format("{{\"title\":{},\"root\":{},\"nodes\":[{}],\"trace\":{},\"dot\":{}}}", quote(title),
                       root, nodes, trace_json(m_trace), quote(to_dot(m_view, o)));
}

std::string playground::run_inspect() {
    m_view.clear();
    m_model->zero_grad();
    const auto r = record(m_view, m_view_x, m_view_y, m_view_t);
    {
        backward_trace<double> trace(m_view, nullptr);
        m_view.backward(r.loss);
        trace.leaves();
        m_trace = trace.text();
    }
    m_view_step = m_step;
    m_view_is_model = true;
    return graph_json(fmt::format("{} on the first {} training examples, after {} steps", m_model->describe(),
                                  m_view_x.shape()[1], m_step));
}

std::string playground::inspect() {
    return answer([&] {
        if (!m_model) throw graph_error("inspect: call reset first");
        return run_inspect();
    });
}

std::string playground::node(int id) {
    return answer([&] {
        // Training since the last inspection changed the parameters (and zeroed their gradients): look again.
        if (m_view_is_model && m_view_step != m_step) run_inspect();
        if (!m_names || id < 0 || static_cast<std::size_t>(id) >= m_names->size())
            throw graph_error(fmt::format("node: no node #{} in the inspected graph", id));
        const tensor_names<double>& nm = *m_names;
        const auto u = static_cast<std::uint32_t>(id);
        const auto& inf = nm.info(u);
        const bool leaf = inf.inputs.empty();
        const std::string formula = leaf ? fmt::format("{}  ({})", nm.name(u), inf.op)
                                         : (nm.user_named(u) || nm.name(u) != nm.expression(u)
                                                ? fmt::format("{} = {}", nm.name(u), nm.expression(u))
                                                : nm.expression(u));
        auto clause_json = [&](const rule_clause& c, std::uint32_t at) {
            const std::string input =
                c.input >= 0 ? std::to_string(nm.info(at).inputs[static_cast<std::size_t>(c.input)]) : "null";
            return fmt::format("{{\"node\":{},\"input\":{},\"text\":{},\"shapes\":{}}}", at, input,
                               quote(c.text), quote(c.shapes));
        };
        std::string rule;
        for (const auto& c : nm.clauses(u)) append(rule, clause_json(c, u));
        std::string from;  // the clauses of the ops that read this tensor: how its gradient is formed
        for (const auto& [consumer, k] : nm.consumers(u)) {
            for (const auto& c : nm.clauses(consumer)) {
                if (c.input == k) append(from, clause_json(c, consumer));
            }
        }
        const std::string grad = inf.requires_grad ? matrix_json(m_view.grad_of(u)) : "null";
        return fmt::format(
            "{{\"id\":{},\"name\":{},\"op\":{},\"kind\":{},\"formula\":{},\"grad_name\":{},\"rule\":[{}],"
            "\"gradient_from\":[{}],\"value\":{},\"grad\":{},\"value_norm\":{},\"grad_norm\":{}}}",
            u, quote(nm.name(u)), quote(inf.op), quote(kind_of(inf)), quote(formula),
            quote(nm.own_grad_name(u)), rule, from, matrix_json(m_view.value_of(u)), grad,
            num(frobenius_norm(m_view.value_of(u))),
            inf.requires_grad ? num(frobenius_norm(m_view.grad_of(u))) : "null");
    });
}

std::string playground::lecture(const std::string& name) {
    return answer([&] {
        m_view.release();
        m_names.reset();
        m_view_is_model = false;
        auto traced = [&](const var<double>& root) {
            backward_trace<double> trace(m_view, nullptr);
            m_view.backward(root);
            trace.leaves();
            m_trace = trace.text();
        };
        if (name == "forward_pass") {
            // Seed 002, "Neural Networks": x = ⟨0.2, 0.5, −0.9⟩ through three sigmoid neurons and the output
            // one.
            const auto r = ::lecture::run_forward_pass();
            auto X = m_view.constant(r.X, "X");
            auto W1 = m_view.variable(r.W1, "W1"), b1 = m_view.variable(r.b1, "b1");
            auto W2 = m_view.variable(r.W2, "W2"), b2 = m_view.variable(r.b2, "b2");
            auto A1 = add_bias(matmul(W1, X), b1).named("A1");
            auto H1 = sigmoid(A1).named("H1");
            auto A2 = add_bias(matmul(W2, H1), b2).named("A2");
            auto H2 = sigmoid(A2).named("H2");
            traced(H2);
            return fmt::format(
                "{{\"name\":\"forward_pass\",\"title\":{},\"figures\":{},\"graph\":{}}}",
                quote("The 3-3-1 forward pass of seed 002: x = ⟨0.2, 0.5, −0.9⟩, the slide's weights, bias "
                      "0.1"),
                figures_json(r.figures, 0, r.figures.size()),
                graph_json("A1 = W1·X + b1, H1 = σ(A1), A2 = W2·H1 + b2, H2 = σ(A2); backward from H2"));
        }
        if (name == "softmax" || name == "cross_entropy") {
            const auto r = ::lecture::run_softmax_example();
            // The figures: the softmax's (t, Σt, H) first, then the losses' (those naming L or log).
            std::size_t split = 0;
            while (split < r.figures.size() && r.figures[split].what.find("log") == std::string::npos)
                ++split;
            auto A2 = m_view.variable(r.A2, "A2");
            if (name == "softmax") {
                // The slide's two steps t = e^A, H = t/Σt, then the cross-entropy for ⟨1,0,0⟩ on H.
                auto t = exp(A2).named("t");
                auto St = sum(t).named("Σt");
                auto H = (t / St).named("H2");
                auto L = cross_entropy(H, m_view.constant(r.T1, "T")).named("L");
                traced(L);
                return fmt::format("{{\"name\":\"softmax\",\"title\":{},\"figures\":{},\"graph\":{}}}",
                                   quote("Softmax of A2 = [6, −2, 3] (seed 002) in the slide's two steps"),
                                   figures_json(r.figures, 0, split),
                                   graph_json("t = exp(A2), Σt = sum(t), H2 = t/Σt, L = cross-entropy(H2, T) "
                                              "for T = ⟨1,0,0⟩; backward gives dA2 = H2 − T"));
            }
            auto L = softmax_cross_entropy(A2, m_view.constant(r.T3, "T")).named("L");
            traced(L);
            return fmt::format(
                "{{\"name\":\"cross_entropy\",\"title\":{},\"figures\":{},\"dA2_target1\":{},\"dA2_target3\":"
                "{},"
                "\"graph\":{}}}",
                quote("Cross-entropy of softmax([6, −2, 3]) for the targets ⟨1,0,0⟩ and ⟨0,0,1⟩ (seed 002)"),
                figures_json(r.figures, split, r.figures.size()), matrix_json(r.dA2_1), matrix_json(r.dA2_3),
                graph_json("L = softmax_cross_entropy(A2, T) for T = ⟨0,0,1⟩, fused; dA2 = H2 − T"));
        }
        throw graph_error(
            fmt::format("lecture: no example '{}' (forward_pass, softmax, cross_entropy)", name));
    });
}

settings parse_settings(const std::vector<std::string>& words) {
    settings s;
    for (const auto& w : words) {
        const auto eq = w.find('=');
        if (eq == std::string::npos) throw graph_error(fmt::format("'{}': expected key=value", w));
        const std::string key = w.substr(0, eq), value = w.substr(eq + 1);
        if (key == "dataset") {
            s.dataset = value;
        } else if (key == "noise") {
            s.noise = std::stod(value);
        } else if (key == "points") {
            s.points = std::stoi(value);
        } else if (key == "classes") {
            s.classes = std::stoi(value);
        } else if (key == "hidden") {
            s.hidden = value;
        } else if (key == "activation") {
            s.activation = value;
        } else if (key == "loss") {
            s.loss = value;
        } else if (key == "optimizer") {
            s.optimizer = value;
        } else if (key == "lr") {
            s.learning_rate = std::stod(value);
        } else if (key == "batch") {
            s.batch = std::stoi(value);
        } else if (key == "test") {
            s.test_fraction = std::stod(value);
        } else if (key == "seed") {
            s.seed = std::stoi(value);
        } else {
            throw graph_error(fmt::format("unknown setting '{}'", key));
        }
    }
    return s;
}

}  // namespace xgrad::web

#ifdef __EMSCRIPTEN__
#include <emscripten/bind.h>

#include <xgrad/version.hpp>

namespace {
std::string version_string() {
    return XGRAD_VERSION_STRING;
}
}  // namespace

EMSCRIPTEN_BINDINGS(xgrad_playground) {
    using xgrad::web::playground;
    using xgrad::web::settings;
    emscripten::value_object<settings>("Settings")
        .field("dataset", &settings::dataset)
        .field("noise", &settings::noise)
        .field("points", &settings::points)
        .field("classes", &settings::classes)
        .field("hidden", &settings::hidden)
        .field("activation", &settings::activation)
        .field("loss", &settings::loss)
        .field("optimizer", &settings::optimizer)
        .field("learning_rate", &settings::learning_rate)
        .field("batch", &settings::batch)
        .field("test_fraction", &settings::test_fraction)
        .field("seed", &settings::seed);
    emscripten::class_<playground>("Playground")
        .constructor<>()
        .function("reset", &playground::reset)
        .function("train", &playground::train)
        .function("boundary", &playground::boundary)
        .function("inspect", &playground::inspect)
        .function("node", &playground::node)
        .function("lecture", &playground::lecture)
        .function("steps", &playground::steps);
    emscripten::function("blasCore", &xgrad::blas_core);
    emscripten::function("version", &version_string);
}
#endif
