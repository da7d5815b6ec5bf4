// Graphviz pictures of a graph: DOT text, and rendering it with the dot program.
#include "xgrad/dot.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "xgrad/detail/xml.hpp"
#include "xgrad/error.hpp"
#include "xgrad/trace.hpp"

extern char** environ;

namespace xgrad {

namespace {

/// Escapes text for a Graphviz HTML-like label.
std::string html(std::string_view s) {
    return detail::xml_escape(s);
}

/// The entries when there are at most 6, else min / mean / max.
template <class T>
std::string summary(const matrix<T>& m) {
    if (m.size() == 0) return "(empty)";
    if (m.size() <= 6) {
        std::string s = "[";
        for (std::size_t k = 0; k < m.size(); ++k)
            s += fmt::format("{}{:.4g}", k ? ", " : "", static_cast<double>(m.data()[k]));
        return s + "]";
    }
    double lo = static_cast<double>(m.data()[0]), hi = lo, sum = 0;
    for (std::size_t k = 0; k < m.size(); ++k) {
        const double v = static_cast<double>(m.data()[k]);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
    }
    return fmt::format("min {:.3g}  mean {:.3g}  max {:.3g}", lo, sum / static_cast<double>(m.size()), hi);
}

/// Rows stacked in a borderless table (a little padding keeps underscores off the next line).
std::string table(const std::vector<std::string>& rows) {
    std::string t = "<table border=\"0\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"1\">";
    for (const auto& r : rows) t += "<tr><td>" + r + "</td></tr>";
    return t + "</table>";
}

}  // namespace

template <class T>
std::string to_dot(const graph<T>& g, const dot_options& o) {
    const tensor_names<T> nm(g);
    std::ostringstream d;
    d << "digraph xgrad {\n";
    d << fmt::format("  graph [rankdir={}, fontname=\"DejaVu Sans\", nodesep=0.25, ranksep=0.3",
                     o.rankdir.empty() ? std::string("TB") : o.rankdir);
    std::string title = html(o.title);  // a newline in the title starts a new line
    for (std::size_t p = title.find('\n'); p != std::string::npos; p = title.find('\n', p))
        title.replace(p, 1, "<br/>");
    if (!o.title.empty()) d << fmt::format(", labelloc=t, fontsize=16, label=<{}>", title);
    d << "];\n";
    d << "  node [fontname=\"DejaVu Sans\", fontsize=12];\n  edge [color=\"#555555\", arrowsize=0.7];\n";
    for (std::uint32_t i = 0; i < nm.size(); ++i) {
        const auto& inf = nm.info(i);
        const bool leaf = inf.inputs.empty();
        // The op, when the node is an op's output.
        if (!leaf) {
            std::vector<std::string> rows{fmt::format("<b>{}</b>", html(inf.op))};
            if (o.rules) {
                for (const auto& c : nm.clauses(i))
                    rows.push_back(
                        fmt::format("<font point-size=\"10\" color=\"#1a4f8a\">{}</font>", html(c.text)));
            }
            d << fmt::format(
                "  o{} [shape=box, style=\"rounded,filled\", fillcolor=\"#e8f0fb\", color=\"#7a9cc6\", "
                "fontsize=11, margin=\"0.08,0.03\", label=<{}>];\n",
                i, table(rows));
        }
        // The tensor.
        std::vector<std::string> rows;
        const std::string name_html = !nm.user_named(i) && !leaf ? "<i>" + html(nm.name(i)) + "</i>"
                                                                 : "<b>" + html(nm.name(i)) + "</b>";
        rows.push_back(
            fmt::format("{} <font point-size=\"10\">{}</font>", name_html, html(to_string(inf.shape))));
        if (leaf && inf.op != "parameter")
            rows.push_back(fmt::format("<font point-size=\"9\" color=\"#666666\">{}</font>", html(inf.op)));
        if (o.values)
            rows.push_back(fmt::format("<font point-size=\"9\">{}</font>", html(summary(g.value_of(i)))));
        if (o.gradients && inf.requires_grad) {
            const matrix<T>& gr = g.grad_of(i);
            const std::string s =
                gr.size() <= 6 ? summary(gr) : fmt::format("‖·‖ = {:.4g}", frobenius_norm(gr));
            rows.push_back(fmt::format("<font point-size=\"9\" color=\"#a93226\">{} {}</font>",
                                       html(nm.own_grad_name(i)), html(s)));
        }
        const std::string label = table(rows);
        std::string style;
        if (inf.op == "parameter") {
            style = "shape=box, style=filled, fillcolor=\"#fbdcb4\", color=\"#c97d1d\"";
        } else if (inf.op == "constant") {
            style = "shape=box, style=filled, fillcolor=\"#e5e8e8\", color=\"#909497\"";
        } else if (inf.op == "variable") {
            style = "shape=box, style=filled, fillcolor=\"#fcf3cf\", color=\"#b7950b\"";
        } else {
            style = "shape=ellipse";
        }
        if (nm.consumers(i).empty() && !leaf) style += ", peripheries=2";
        d << fmt::format("  t{} [{}, label=<{}>];\n", i, style, label);
        if (!leaf) {
            for (auto in : inf.inputs) d << fmt::format("  t{} -> o{};\n", in, i);
            d << fmt::format("  o{} -> t{};\n", i, i);
        }
    }
    d << "}\n";
    return d.str();
}

template std::string to_dot<float>(const graph<float>&, const dot_options&);
template std::string to_dot<double>(const graph<double>&, const dot_options&);

}  // namespace xgrad
