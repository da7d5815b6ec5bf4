// The pictures of a run: the training chart and the decision regions of a 2-D classifier, as SVG.
#include "app/charts.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "app/arguments.hpp"
#include "app/svg.hpp"
#include "xgrad/io/file.hpp"
#include "xgrad/ops/softmax.hpp"

namespace xgrad::app {

using dataset = data::dataset<float>;

/// The epochs that get an x tick label: 1, then the multiples of a step of 1, 2 or 5 × 10^k chosen so that
/// neighbouring labels are at least `min_gap` pixels apart (`unit`: pixels per epoch), whatever the count.
std::vector<std::size_t> epoch_ticks(std::size_t n, double unit, double min_gap) {
    if (n <= 1) return {1};
    std::size_t step = 1;
    for (std::size_t base = 1;; base *= 10) {
        bool found = false;
        for (const std::size_t m : {std::size_t(1), std::size_t(2), std::size_t(5)}) {
            if (static_cast<double>(base * m) * unit >= min_gap) {
                step = base * m;
                found = true;
                break;
            }
        }
        if (found || base > n) break;
    }
    std::vector<std::size_t> ticks{1};
    for (std::size_t e = step; e <= n; e += step) {
        if (static_cast<double>(e - 1) * unit >= min_gap) ticks.push_back(e);
    }
    return ticks;
}

void write_chart_svg(const std::filesystem::path& path, const std::vector<train::epoch_stats>& h,
                     std::string_view title) {
    // The legend has a row of its own between the title and the plot, so it never covers a curve.
    const double W = 720, H = 420, left = 60, right = 60, top = 64, bottom = 50;
    const double pw = W - left - right, ph = H - top - bottom;
    const std::size_t n = h.size();
    double max_loss = 0;
    for (const auto& s : h) max_loss = std::max({max_loss, s.loss, s.val_loss});
    if (max_loss <= 0) max_loss = 1;
    const double unit = n <= 1 ? pw : pw / double(n - 1);  // pixels per epoch
    auto px = [&](double epoch) { return left + (n <= 1 ? pw / 2 : unit * (epoch - 1)); };
    auto py_loss = [&](double v) { return top + ph * (1 - v / max_loss); };
    auto py_acc = [&](double a) { return top + ph * (1 - a); };
    std::string svg = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
        "fill=\"white\"/>\n"
        "<text x=\"{2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{3}</text>\n",
        W, H, W / 2, xml_escape(printable(title, 400)));
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n",
                       left, top, pw, ph);
    for (int k = 0; k <= 4; ++k) {  // grid and both axes' ticks
        const double y = top + ph * k / 4.0;
        svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#eee\"/>\n", left,
                           y, left + pw, y);
        svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#c0392b\">{:.3g}</text>\n",
                           left - 6, y + 4, max_loss * (1 - k / 4.0));
        svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" fill=\"#2471a3\">{:.0f}%</text>\n", left + pw + 6,
                           y + 4, 100 * (1 - k / 4.0));
    }
    // x tick labels at least the widest label (7 px a digit at 12 px) plus 14 px apart: they never overlap.
    const double label_width = 7.0 * static_cast<double>(std::to_string(std::max<std::size_t>(n, 1)).size());
    const std::size_t first = n ? static_cast<std::size_t>(h.front().epoch) : 1;
    for (const std::size_t k : epoch_ticks(n, unit, label_width + 14)) {
        svg += fmt::format(
            "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#888\"/>"
            "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
            px(double(k)), top + ph, top + ph + 4, top + ph + 18, first + k - 1);
    }
    svg +=
        fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">epoch</text>\n", left + pw / 2, H - 10);
    // Markers only while they are far enough apart to tell the lines apart (at most 25 epochs).
    const bool markers = n <= 25;
    auto polyline = [&](auto value, auto ymap, const char* color, const char* dash) {
        std::string pts;
        for (std::size_t k = 0; k < n; ++k) {
            const double v = value(h[k]);
            if (v >= 0) pts += fmt::format("{:.1f},{:.1f} ", px(double(k + 1)), ymap(v));
        }
        if (pts.empty()) return std::string();
        std::string out = fmt::format(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" "
            "stroke-dasharray=\"{}\"/>\n",
            pts, color, markers ? 2 : 1.5, dash);
        for (std::size_t k = 0; markers && k < n; ++k) {
            const double v = value(h[k]);
            if (v >= 0)
                out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n",
                                   px(double(k + 1)), ymap(v), color);
        }
        return out;
    };
    svg += polyline([](const train::epoch_stats& s) { return s.loss; }, py_loss, "#c0392b", "");
    svg += polyline([](const train::epoch_stats& s) { return s.val_loss; }, py_loss, "#c0392b", "6,4");
    svg += polyline([](const train::epoch_stats& s) { return s.train_accuracy; }, py_acc, "#2471a3", "");
    svg += polyline([](const train::epoch_stats& s) { return s.val_accuracy; }, py_acc, "#2471a3", "6,4");
    struct entry {
        const char *text, *color, *dash;
    };
    const entry legend[] = {{"training loss", "#c0392b", ""},
                            {"validation loss", "#c0392b", "6,4"},
                            {"training accuracy", "#2471a3", ""},
                            {"validation accuracy", "#2471a3", "6,4"}};
    // The axes' names, along them.
    svg += fmt::format(
        "<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\" "
        "fill=\"#c0392b\">loss</text>\n"
        "<text transform=\"translate({},{}) rotate(90)\" text-anchor=\"middle\" "
        "fill=\"#2471a3\">accuracy</text>\n",
        16, top + ph / 2, W - 14, top + ph / 2);
    double lx = left;
    const double ly = top - 16;
    for (const entry& e : legend) {
        svg += fmt::format(
            "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{2:.1f}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\" "
            "stroke-dasharray=\"{4}\"/><text x=\"{5:.1f}\" y=\"{6}\">{7}</text>\n",
            lx, ly, lx + 26, e.color, e.dash, lx + 32, ly + 4, e.text);
        lx += 32 + 6.5 * static_cast<double>(std::string_view(e.text).size()) + 16;
    }
    svg += "</svg>\n";

    io::write_atomically(path, svg);
}

namespace {

/// Class colours: the Playground's orange and blue for two classes, then more.
constexpr const char* k_class_colours[] = {"#f59322", "#0877bd", "#2e9e44", "#c0392b",
                                           "#8e44ad", "#7f8c8d", "#b7950b", "#16a085"};

std::string blend_with_white(const char* hex, double amount) {
    unsigned r = 0, g = 0, b = 0;
    std::sscanf(hex + 1, "%02x%02x%02x", &r, &g, &b);
    auto mix = [amount](unsigned c) {
        return static_cast<unsigned>(255 - amount * (255 - static_cast<double>(c)) + 0.5);
    };
    return fmt::format("#{:02x}{:02x}{:02x}", mix(r), mix(g), mix(b));
}

}  // namespace

/// Writes an SVG of the model's decision regions over the plane of a 2-feature data set, with the training
/// points (white rim) and the test points (dark rim) on top, like the TensorFlow Playground. The shade of a
/// region is the model's confidence (the largest softmax output), in 6 steps.
void write_boundary_svg(const std::filesystem::path& path, nn::module<float>& net, const boundary_data& s,
                        std::string_view title, double test_accuracy) {
    const std::size_t classes = s.train.classes;
    double lo[2] = {1e300, 1e300}, hi[2] = {-1e300, -1e300};
    for (const dataset* d : {&s.train, &s.validation, &s.test}) {
        for (std::size_t j = 0; j < d->size(); ++j) {
            for (int a = 0; a < 2; ++a) {
                lo[a] = std::min(lo[a], static_cast<double>(d->x(a, j)));
                hi[a] = std::max(hi[a], static_cast<double>(d->x(a, j)));
            }
        }
    }
    // A square window (equal scales on both axes) around all the points, with a margin.
    const double cx = (lo[0] + hi[0]) / 2, cy = (lo[1] + hi[1]) / 2;
    const double half = 0.55 * std::max({hi[0] - lo[0], hi[1] - lo[1], 1e-9});
    const double x0 = cx - half, y0 = cy - half, span = 2 * half;
    const double size = 480, left = 50, top = 50;
    auto px = [&](double x) { return left + size * (x - x0) / span; };
    auto py = [&](double y) { return top + size * (1 - (y - y0) / span); };

    // The model on a grid of cell centres.
    const std::size_t G = boundary_grid;
    const double cell = size / static_cast<double>(G);
    matrix<float> grid({2, G * G});
    for (std::size_t r = 0; r < G; ++r) {
        for (std::size_t c = 0; c < G; ++c) {
            grid(0, r * G + c) =
                static_cast<float>(x0 + span * (static_cast<double>(c) + 0.5) / static_cast<double>(G));
            grid(1, r * G + c) =
                static_cast<float>(y0 + span * (1 - (static_cast<double>(r) + 0.5) / static_cast<double>(G)));
        }
    }
    matrix<float> prob;
    {
        no_grad ng;
        graph<float> g;
        prob = softmax(net(g.borrow(grid, "X"))).value();
    }
    const int levels = 6;
    auto shade = [&](std::size_t k) {  // (class, level) of grid point k
        std::size_t best = 0;
        for (std::size_t i = 1; i < classes; ++i)
            if (prob(i, k) > prob(best, k)) best = i;
        const double chance = 1.0 / static_cast<double>(classes);
        const double conf = (static_cast<double>(prob(best, k)) - chance) / (1 - chance);
        const int level = std::clamp(static_cast<int>(conf * levels), 0, levels - 1);
        return std::pair<std::size_t, int>{best, level};
    };
    // One path per (class, level), made of rectangles: runs along a row, stacked while the rows below repeat
    // them exactly.
    struct block {
        std::size_t c0, c1, r0, r1, shade;
    };
    std::vector<block> blocks;
    std::vector<std::size_t> open, still_open;  // blocks ending on the previous row
    for (std::size_t r = 0; r < G; ++r) {
        still_open.clear();
        std::size_t c = 0;
        while (c < G) {
            const auto sh = shade(r * G + c);
            std::size_t e = c + 1;
            while (e < G && shade(r * G + e) == sh) ++e;
            const std::size_t id = sh.first * levels + static_cast<std::size_t>(sh.second);
            bool extended = false;
            for (std::size_t k : open) {
                if (blocks[k].c0 == c && blocks[k].c1 == e && blocks[k].shade == id) {
                    blocks[k].r1 = r + 1;
                    still_open.push_back(k);
                    extended = true;
                    break;
                }
            }
            if (!extended) {
                blocks.push_back({c, e, r, r + 1, id});
                still_open.push_back(blocks.size() - 1);
            }
            c = e;
        }
        open.swap(still_open);
    }
    std::vector<std::string> runs(classes * levels);
    for (const auto& b : blocks) {
        const double w = cell * static_cast<double>(b.c1 - b.c0), h = cell * static_cast<double>(b.r1 - b.r0);
        runs[b.shade] +=
            fmt::format("M{:.1f} {:.1f}h{:.1f}v{:.1f}h-{:.1f}z", left + cell * static_cast<double>(b.c0),
                        top + cell * static_cast<double>(b.r0), w, h, w);
    }
    const double W = left + size + 170, H = top + size + 50;
    std::string svg = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
        "fill=\"white\"/>\n"
        "<text x=\"{2}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{3}</text>\n",
        W, H, left + size / 2, xml_escape(printable(title, 400)));
    for (std::size_t k = 0; k < classes; ++k) {
        const char* colour = k_class_colours[k % std::size(k_class_colours)];
        for (int l = 0; l < levels; ++l) {
            const std::string& d = runs[k * levels + static_cast<std::size_t>(l)];
            if (d.empty()) continue;
            svg += fmt::format("<path fill=\"{}\" d=\"{}\"/>\n",
                               blend_with_white(colour, 0.12 + 0.5 * (l + 0.5) / levels), d);
        }
    }
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n",
                       left, top, size, size);
    // Axis ticks at whole numbers (the features are standardized).
    for (int a = 0; a < 2; ++a) {
        const double from = a == 0 ? x0 : y0;
        for (int t = static_cast<int>(std::ceil(from)); t <= static_cast<int>(std::floor(from + span)); ++t) {
            if (a == 0) {
                svg += fmt::format(
                    "<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>\n", px(t),
                    top + size + 16, t);
            } else {
                svg +=
                    fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"#555\">{}</text>\n",
                                left - 6, py(t) + 4, t);
            }
        }
    }
    auto feature = [&](int a) {
        return a < static_cast<int>(s.train.feature_names.size()) ? s.train.feature_names[a]
                                                                  : fmt::format("x{}", a + 1);
    };
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{} (standardized)</text>\n",
                       left + size / 2, top + size + 36, xml_escape(printable(feature(0))));
    svg += fmt::format(
        "<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">{} (standardized)</text>\n",
        left - 32, top + size / 2, xml_escape(printable(feature(1))));
    // Points: training with a white rim, test with a dark one.
    auto points = [&](const dataset& d, const char* rim) {
        std::vector<std::string> by_class(classes);
        for (std::size_t j = 0; j < d.size(); ++j) {
            const auto k = static_cast<std::size_t>(d.y(0, j));
            by_class[k] +=
                fmt::format("<circle cx=\"{:.0f}\" cy=\"{:.0f}\" r=\"2.6\"/>", px(d.x(0, j)), py(d.x(1, j)));
        }
        for (std::size_t k = 0; k < classes; ++k) {
            svg += fmt::format("<g fill=\"{}\" stroke=\"{}\" stroke-width=\"0.7\">{}</g>\n",
                               k_class_colours[k % std::size(k_class_colours)], rim, by_class[k]);
        }
    };
    points(s.train, "white");
    points(s.test, "#222");
    // Legend.
    double ly = top + 10;
    const double lx = left + size + 18;
    for (std::size_t k = 0; k < classes; ++k, ly += 20) {
        const std::string name = k < s.class_names.size() ? s.class_names[k] : fmt::format("class {}", k);
        svg += fmt::format(
            "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"{}\" "
            "y=\"{}\">{}</text>\n",
            lx, ly, k_class_colours[k % std::size(k_class_colours)], lx + 20, ly + 11,
            xml_escape(printable(name)));
    }
    ly += 10;
    svg += fmt::format(
        "<circle cx=\"{0}\" cy=\"{1}\" r=\"3\" fill=\"#999\" stroke=\"white\"/><text x=\"{2}\" "
        "y=\"{3}\">training "
        "point</text>\n<circle cx=\"{0}\" cy=\"{4}\" r=\"3\" fill=\"#999\" stroke=\"#222\"/><text x=\"{2}\" "
        "y=\"{5}\">test "
        "point</text>\n",
        lx + 7, ly + 7, lx + 20, ly + 11, ly + 27, ly + 31);
    ly += 56;
    svg += fmt::format(
        "<text x=\"{}\" y=\"{}\">shade: confidence</text>\n<text x=\"{}\" y=\"{}\">test accuracy "
        "{:.1f}%</text>\n",
        lx, ly, lx, ly + 20, 100 * test_accuracy);
    svg += "</svg>\n";
    io::write_atomically(path, svg);
}

}  // namespace xgrad::app
