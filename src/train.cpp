#include "xgrad/train.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "xgrad/ops/loss.hpp"

namespace xgrad::train {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Number of columns whose largest logit is at the label's row.
template <class T>
std::size_t count_correct(const matrix<T>& logits, const matrix<T>& labels,
                          std::vector<std::vector<std::size_t>>* confusion = nullptr) {
    const std::size_t c = logits.shape()[0], m = logits.shape()[1];
    std::size_t ok = 0;
    for (std::size_t j = 0; j < m; ++j) {
        std::size_t best = 0;
        for (std::size_t i = 1; i < c; ++i) {
            if (logits(i, j) > logits(best, j)) best = i;
        }
        const auto t = static_cast<std::size_t>(labels(0, j));
        ok += best == t;
        if (confusion != nullptr) ++(*confusion)[t][best];
    }
    return ok;
}

template <class T>
bool all_finite(const matrix<T>& m) {
    const T* p = m.data();
    bool ok = true;
    for (std::size_t k = 0, n = m.size(); k < n; ++k) ok &= std::isfinite(p[k]);
    return ok;
}

bool use_bar(progress_mode mode, std::FILE* out) {
    if (mode == progress_mode::bar) return true;
    if (mode != progress_mode::automatic || out == nullptr) return false;
    return ::isatty(::fileno(out)) != 0;
}

template <class T>
void check_classification(const nn::module<T>&, const data::dataset<T>& ds, const char* what) {
    if (ds.size() == 0) throw data_error(fmt::format("{}: the data set is empty", what));
    if (ds.classes < 2 || ds.y.shape()[0] != 1) {
        throw data_error(fmt::format("{}: needs a labelled data set with at least 2 classes (has {} classes)",
                                     what, ds.classes));
    }
}

}  // namespace

template <class T>
std::vector<epoch_stats> fit(nn::module<T>& model, optim::optimizer<T>& opt, const data::dataset<T>& train,
                             const fit_options<T>& o) {
    check_classification(model, train, "fit");
    if (o.epochs < 0) throw graph_error(fmt::format("fit: epochs must be ≥ 0, not {}", o.epochs));
    if (o.batch == 0) throw graph_error("fit: the batch size must be at least 1");
    const bool bar = use_bar(o.progress, o.out);
    const bool lines = o.progress != progress_mode::none && o.out != nullptr;

    data::batcher<T> batches(train, o.batch, o.seed);
    const auto named = model.named_parameters();
    const std::size_t per_epoch = batches.batches_per_epoch();
    graph<T> g;
    std::vector<epoch_stats> history;
    for (int e = 0; e < o.epochs; ++e) {
        if (o.schedule) opt.set_learning_rate(static_cast<T>(o.schedule(e)));
        const auto t0 = clock_type::now();
        double loss_sum = 0;
        std::size_t correct = 0, seen = 0, done = 0;
        batches.start_epoch();
        while (batches.next()) {
            g.clear();
            opt.zero_grad();
            const auto x = g.borrow(batches.x(), "X");
            const auto y = g.borrow(batches.y(), "Y");
            const auto z = model(x);
            const auto loss = softmax_cross_entropy(z, y);
            const std::size_t m = batches.x().shape()[1];
            const double l = static_cast<double>(loss.item());
            // A diverging run stops here, before the update, so the weights stay as they were.
            if (!std::isfinite(l)) {
                throw numeric_error(fmt::format(
                    "fit: the training loss became {} in epoch {}, batch {} (learning rate {} too large? "
                    "turn on the graph's anomaly mode to find the op); the weights are those before this "
                    "batch",
                    l, e + 1, done + 1, static_cast<double>(opt.learning_rate())));
            }
            g.backward(loss);
            if (o.check_gradients) {
                for (auto& [name, p] : named) {
                    if (!all_finite(p->grad())) {
                        throw numeric_error(fmt::format(
                            "fit: the gradient of '{}' is not finite in epoch {}, batch {} (turn on the "
                            "graph's "
                            "anomaly mode to find the op); the weights are those before this batch",
                            name, e + 1, done + 1));
                    }
                }
            }
            opt.step();
            loss_sum += l * static_cast<double>(m);
            correct += count_correct(z.value(), batches.y());
            seen += m;
            ++done;
            if (bar && (done % 16 == 0 || done == per_epoch)) {
                const int width = 30;
                const int filled = static_cast<int>(width * done / per_epoch);
                fmt::print(o.out, "\repoch {:>3}/{} [{}{}] {:3}%  loss {:.4f}  acc {:.2f}%", e + 1, o.epochs,
                           std::string(static_cast<std::size_t>(filled), '#'),
                           std::string(static_cast<std::size_t>(width - filled), '.'), 100 * done / per_epoch,
                           loss_sum / seen, 100.0 * correct / seen);
                std::fflush(o.out);
            }
        }
        const double train_seconds = seconds_since(t0);
        epoch_stats s;
        s.epoch = e + 1;
        s.loss = loss_sum / static_cast<double>(seen);
        s.train_accuracy = static_cast<double>(correct) / static_cast<double>(seen);
        s.learning_rate = static_cast<double>(opt.learning_rate());
        s.examples_per_second = static_cast<double>(seen) / train_seconds;
        if (o.validation != nullptr && o.validation->size() > 0) {
            const evaluation v = evaluate(model, *o.validation);
            s.val_accuracy = v.accuracy;
            s.val_loss = v.loss;
        }
        s.seconds = seconds_since(t0);
        history.push_back(s);
        if (lines) {
            if (bar) fmt::print(o.out, "\r");
            fmt::print(o.out,
                       "epoch {:>3}/{}  loss {:.4f}  train acc {:.2f}%{}  lr {:.3g}  {:.0f} examples/s  "
                       "{:.2f} s{}\n",
                       s.epoch, o.epochs, s.loss, 100 * s.train_accuracy,
                       s.val_accuracy >= 0 ? fmt::format("  val acc {:.2f}%", 100 * s.val_accuracy) : "",
                       s.learning_rate, s.examples_per_second, s.seconds, bar ? "          " : "");
            std::fflush(o.out);
        }
        if (o.on_epoch) o.on_epoch(s);
    }
    return history;
}

template <class T>
evaluation evaluate(nn::module<T>& model, const data::dataset<T>& ds, std::size_t batch) {
    check_classification(model, ds, "evaluate");
    evaluation r;
    r.classes = ds.classes;
    r.confusion.assign(ds.classes, std::vector<std::size_t>(ds.classes, 0));
    data::batcher<T> batches(ds, std::max<std::size_t>(batch, 1), 0, /*shuffle=*/false);
    graph<T> g;
    no_grad guard;
    std::size_t correct = 0;
    double loss_sum = 0;
    while (batches.next()) {
        g.clear();
        const auto z = model(g.borrow(batches.x()));
        if (z.rows() != ds.classes) {
            throw graph_error(fmt::format(
                "evaluate: the model has {} outputs but the data set has {} classes", z.rows(), ds.classes));
        }
        const auto loss = softmax_cross_entropy(z, g.borrow(batches.y()));
        const std::size_t m = batches.x().shape()[1];
        loss_sum += static_cast<double>(loss.item()) * static_cast<double>(m);
        correct += count_correct(z.value(), batches.y(), &r.confusion);
        r.examples += m;
    }
    r.accuracy = static_cast<double>(correct) / static_cast<double>(r.examples);
    r.loss = loss_sum / static_cast<double>(r.examples);
    return r;
}

std::string format_confusion(const evaluation& e, const std::vector<std::string>& names) {
    auto name = [&](std::size_t k) { return k < names.size() ? names[k] : std::to_string(k); };
    std::size_t w = 5, label_w = 4;
    for (std::size_t k = 0; k < e.classes; ++k) label_w = std::max(label_w, name(k).size());
    for (const auto& row : e.confusion) {
        for (auto v : row) w = std::max(w, std::to_string(v).size() + 1);
    }
    std::string s = fmt::format("{:>{}}  predicted →\n{:>{}}", "true ↓", label_w + 2, "", label_w);
    for (std::size_t p = 0; p < e.classes; ++p) s += fmt::format("{:>{}}", std::to_string(p), w);
    s += "\n";
    for (std::size_t t = 0; t < e.classes; ++t) {
        s += fmt::format("{:>{}}", name(t), label_w);
        for (std::size_t p = 0; p < e.classes; ++p) s += fmt::format("{:>{}}", e.confusion[t][p], w);
        s += "\n";
    }
    return s;
}

void write_chart_svg(const std::filesystem::path& path, const std::vector<epoch_stats>& h,
                     std::string_view title) {
    const double W = 720, H = 400, left = 60, right = 60, top = 40, bottom = 50;
    const double pw = W - left - right, ph = H - top - bottom;
    const std::size_t n = h.size();
    double max_loss = 0;
    for (const auto& s : h) max_loss = std::max({max_loss, s.loss, s.val_loss});
    if (max_loss <= 0) max_loss = 1;
    auto px = [&](double epoch) { return left + (n <= 1 ? pw / 2 : pw * (epoch - 1) / double(n - 1)); };
    auto py_loss = [&](double v) { return top + ph * (1 - v / max_loss); };
    auto py_acc = [&](double a) { return top + ph * (1 - a); };
    std::string svg = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
        "fill=\"white\"/>\n"
        "<text x=\"{2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{3}</text>\n",
        W, H, W / 2, title);
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
    const std::size_t label_every = n <= 15 ? 1 : (n + 14) / 15;  // at most ~15 epoch labels
    for (std::size_t k = 0; k < n; ++k) {
        if (k % label_every != 0 && k + 1 != n) continue;
        svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                           px(double(k + 1)), top + ph + 18, h[k].epoch);
    }
    svg +=
        fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">epoch</text>\n", left + pw / 2, H - 10);
    auto polyline = [&](auto value, auto ymap, const char* color, const char* dash) {
        std::string pts;
        for (const auto& s : h) {
            const double v = value(s);
            if (v >= 0) pts += fmt::format("{:.1f},{:.1f} ", px(s.epoch), ymap(v));
        }
        if (pts.empty()) return std::string();
        std::string out = fmt::format(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" "
            "stroke-dasharray=\"{}\"/>\n",
            pts, color, dash);
        for (const auto& s : h) {
            const double v = value(s);
            if (v >= 0)
                out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", px(s.epoch),
                                   ymap(v), color);
        }
        return out;
    };
    svg += polyline([](const epoch_stats& s) { return s.loss; }, py_loss, "#c0392b", "");
    svg += polyline([](const epoch_stats& s) { return s.val_loss; }, py_loss, "#c0392b", "5,4");
    svg += polyline([](const epoch_stats& s) { return s.train_accuracy; }, py_acc, "#2471a3", "");
    svg += polyline([](const epoch_stats& s) { return s.val_accuracy; }, py_acc, "#2471a3", "5,4");
    const double lx = left + 10, ly = top + ph - 58;
    svg += fmt::format(
        "<g transform=\"translate({},{})\"><rect width=\"170\" height=\"52\" fill=\"white\" stroke=\"#ccc\"/>"
        "<line x1=\"8\" y1=\"14\" x2=\"30\" y2=\"14\" stroke=\"#c0392b\" stroke-width=\"2\"/><text x=\"36\" "
        "y=\"18\">loss "
        "(dashed: validation)</text>"
        "<line x1=\"8\" y1=\"36\" x2=\"30\" y2=\"36\" stroke=\"#2471a3\" stroke-width=\"2\"/><text x=\"36\" "
        "y=\"40\">accuracy (dashed: val.)</text></g>\n",
        lx, ly);
    svg += "</svg>\n";

    const std::filesystem::path tmp = path.string() + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f << svg;
        f.close();
        if (!f) throw data_error(fmt::format("{}: cannot write the chart", tmp.string()));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        throw data_error(fmt::format("{}: cannot write the chart", path.string()));
    }
}

template std::vector<epoch_stats> fit(nn::module<float>&, optim::optimizer<float>&,
                                      const data::dataset<float>&, const fit_options<float>&);
template std::vector<epoch_stats> fit(nn::module<double>&, optim::optimizer<double>&,
                                      const data::dataset<double>&, const fit_options<double>&);
template evaluation evaluate(nn::module<float>&, const data::dataset<float>&, std::size_t);
template evaluation evaluate(nn::module<double>&, const data::dataset<double>&, std::size_t);

}  // namespace xgrad::train
