// The xgrad command's file workflow (workflow.hpp): tables given as files, model.json's "inputs" and
// "resume" records, predictions as CSV, the optimizer's state for --resume.
#include "workflow.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <stdexcept>

#include <fmt/format.h>

#include <xgrad/io/checkpoint.hpp>
#include <xgrad/io/file.hpp>
#include <xgrad/io/loaders.hpp>
#include <xgrad/predict.hpp>

#include "app/arguments.hpp"

namespace xgrad::cli {

using xgrad::app::printable;
using xgrad::app::usage_error;

namespace {

/// The labels file of an IDX images file (…images-idx3-ubyte[.gz] → …labels-idx1-ubyte[.gz]), or "" when
/// `images` is not named like one.
fs::path idx_labels_for(const fs::path& images) {
    const std::string name = images.filename().string();
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"images-idx3", "labels-idx1"},
                                   std::pair<std::string, std::string>{"images.idx3", "labels.idx1"}}) {
        const auto at = name.find(from);
        if (at == std::string::npos) continue;
        std::string labels = name;
        labels.replace(at, from.size(), to);
        return images.parent_path() / labels;
    }
    return {};
}

std::string joined(const std::vector<std::string>& names) {
    std::string s;
    for (std::size_t i = 0; i < names.size() && i < 8; ++i) s += (i ? ", " : "") + names[i];
    if (names.size() > 8) s += fmt::format(", … ({} in all)", names.size());
    return s;
}

/// A CSV cell as RFC 4180 writes it: quoted (quotes doubled) when it holds a comma, a quote or a line break.
std::string csv_cell(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

}  // namespace

data::dataset<real> load_table(const fs::path& file, std::string_view flag, const table_format& format,
                               const model_inputs* like, bool labels_optional) {
    std::error_code ec;
    if (!fs::exists(file, ec))
        throw usage_error(fmt::format("{} {}: no such file", flag, printable(file.string())));
    const fs::path labels = idx_labels_for(file);
    if (!labels.empty()) {
        if (!fs::exists(labels, ec)) {
            throw usage_error(fmt::format("{} {}: the labels file {} beside it is missing", flag,
                                          printable(file.string()), printable(labels.string())));
        }
        auto ds = data::load_idx<real>(file, labels, 10);
        ds.class_names = data::mnist_class_names();
        if (like && !like->mean.empty() && ds.features() != like->mean.size()) {
            throw data::data_error(fmt::format("{}: images of {} pixels, but the model was trained on {}",
                                               file.string(), ds.features(), like->mean.size()));
        }
        if (like && like->kind != "idx") {
            throw data::data_error(
                fmt::format("{}: an IDX file, but the model was trained on a CSV table", file.string()));
        }
        return ds;
    }
    if (like && like->kind == "idx") {
        throw usage_error(
            fmt::format("{} {}: the model was trained on IDX files: give an images file named like "
                        "t10k-images-idx3-ubyte.gz (its labels file beside it)",
                        flag, printable(file.string())));
    }
    data::csv_options o;
    o.header = format.header;
    o.label_name = format.label_column;
    o.labels_optional = labels_optional;
    if (labels_optional && !format.label_column && format.header && like) {
        // Without a named label column the training file's was its last one: find it by its name.
        o.label_name = like->format.label_column;
    }
    if (like) {
        o.class_names = like->class_names;
        o.feature_names = like->feature_names;
        o.features = !like->feature_names.empty() ? like->feature_names.size() : like->mean.size();
    }
    const std::string no_header =
        "pass --no-header (then the label is the last column, or give --label-column for a table with names)";
    o.advice.no_header = no_header;
    o.advice.not_a_label =
        "labels are class numbers 0, 1, …, K−1 or class names (text such as 'setosa'); --label-column NAME "
        "chooses the label column";
    o.advice.missing_classes =
        "labels that are numbers must be the class numbers 0, 1, …, K−1 (write other labels as names, such "
        "as "
        "'c5')";
    o.advice.class_names = "the training file";
    o.advice.feature_names = "the training file";
    o.advice.label_name = "--label-column";
    auto ds = data::load_csv<real>(file, o);
    if (ds.class_names.empty() && ds.classes > 0) {
        for (std::size_t k = 0; k < ds.classes; ++k) ds.class_names.push_back(std::to_string(k));
    }
    return ds;
}

std::string table_kind(const fs::path& file) {
    return idx_labels_for(file).empty() ? "csv" : "idx";
}

void record_standardization(model_inputs& m, const data::standardizer<real>& z) {
    m.mean.clear();
    m.std.clear();
    for (std::size_t i = 0; i < z.offset().shape()[0]; ++i) {
        m.mean.push_back(static_cast<double>(z.offset()(i, 0)));
        m.std.push_back(static_cast<double>(z.scale()(i, 0)));
    }
}

void apply_standardization(const model_inputs& m, matrix<real>& x, std::string_view what) {
    if (m.mean.empty()) return;
    if (x.shape()[0] != m.mean.size()) {
        throw data::data_error(fmt::format("{}: {} features, but the model was trained on {}", what,
                                           x.shape()[0], m.mean.size()));
    }
    // The same arithmetic as data::standardizer::apply (in double, rounded to float once).
    const std::size_t n = x.shape()[1];
    for (std::size_t i = 0; i < m.mean.size(); ++i) {
        const double mu = static_cast<double>(static_cast<real>(m.mean[i]));
        const double sd = static_cast<double>(static_cast<real>(m.std[i]));
        for (std::size_t j = 0; j < n; ++j) {
            const double z = (static_cast<double>(x(i, j)) - mu) / sd;
            if (!std::isfinite(static_cast<real>(z))) {
                throw data::data_error(
                    fmt::format("{}: feature {} of example {} standardizes to {} (not finite in float)", what,
                                i + 1, j + 1, z));
            }
            x(i, j) = static_cast<real>(z);
        }
    }
}

nlohmann::json to_json(const model_inputs& m) {
    nlohmann::json j = {{"kind", m.kind},
                        {"header", m.format.header},
                        {"label_column", m.format.label_column ? nlohmann::json(*m.format.label_column)
                                                               : nlohmann::json(nullptr)},
                        {"class_names", m.class_names},
                        {"feature_names", m.feature_names},
                        {"standardize", {{"mean", m.mean}, {"std", m.std}}}};
    return j;
}

std::optional<model_inputs> inputs_from_json(const nlohmann::json& meta, const std::string& where) {
    if (!meta.contains("inputs")) return std::nullopt;
    const auto& j = meta["inputs"];
    const auto bad = [&](const std::string& what) {
        return std::runtime_error(
            fmt::format("{}: \"inputs\": {} (is this the model.json xgrad train wrote?)", where, what));
    };
    if (!j.is_object()) throw bad("not an object");
    model_inputs m;
    try {
        m.kind = j.at("kind").get<std::string>();
        m.format.header = j.at("header").get<bool>();
        if (!j.at("label_column").is_null()) m.format.label_column = j.at("label_column").get<std::string>();
        m.class_names = j.at("class_names").get<std::vector<std::string>>();
        m.feature_names = j.at("feature_names").get<std::vector<std::string>>();
        m.mean = j.at("standardize").at("mean").get<std::vector<double>>();
        m.std = j.at("standardize").at("std").get<std::vector<double>>();
    } catch (const nlohmann::json::exception& e) {
        std::string detail = e.what();
        if (const auto p = detail.find("] "); p != std::string::npos) detail = detail.substr(p + 2);
        throw bad(printable(detail));
    }
    if (m.kind != "csv" && m.kind != "idx")
        throw bad(fmt::format("\"kind\" is '{}', not csv or idx", printable(m.kind)));
    if (m.mean.size() != m.std.size()) throw bad("\"standardize\" has a mean and a std of different lengths");
    for (double s : m.std) {
        if (!(s > 0) || !std::isfinite(s)) throw bad("\"standardize\": a std that is not a positive number");
    }
    for (double s : m.mean) {
        if (!std::isfinite(s)) throw bad("\"standardize\": a mean that is not a finite number");
    }
    if (m.class_names.size() < 2) throw bad("\"class_names\" must name at least 2 classes");
    return m;
}

std::size_t write_predictions(const fs::path& output, nn::module<real>& net, const data::dataset<real>& ds,
                              const std::vector<std::string>& class_names) {
    const bool labelled = ds.y.shape()[0] == 1;
    const std::size_t k = class_names.size();
    std::string out = "row";
    if (labelled) out += ",label";
    out += ",predicted";
    for (const auto& c : class_names) out += "," + csv_cell("p_" + c);
    out += "\n";
    const auto p = train::predict(net, ds.x);
    if (p.probabilities.shape()[0] != k) {
        throw std::runtime_error(
            fmt::format("the model has {} outputs but {} class names", p.probabilities.shape()[0], k));
    }
    for (std::size_t j = 0; j < ds.size(); ++j) {
        out += fmt::format("{}", j);
        if (labelled) out += "," + csv_cell(class_names[static_cast<std::size_t>(ds.y(0, j))]);
        out += "," + csv_cell(class_names[p.classes[j]]);
        for (std::size_t i = 0; i < k; ++i) out += fmt::format(",{:.9g}", p.probabilities(i, j));
        out += "\n";
    }
    if (output == "-") {
        std::fwrite(out.data(), 1, out.size(), stdout);
    } else {
        io::write_atomically(output, out);
    }
    return ds.size();
}

nlohmann::json to_json(const resume_state& r) {
    nlohmann::json h = nlohmann::json::array();
    for (const auto& e : r.history) {
        h.push_back({e.epoch, e.loss, e.train_accuracy, e.val_loss, e.val_accuracy, e.learning_rate,
                     e.seconds, e.examples_per_second});
    }
    return {{"epochs_done", r.epochs_done}, {"steps", r.steps}, {"history", h}};
}

resume_state resume_from_json(const nlohmann::json& meta, const std::string& where) {
    if (!meta.contains("resume"))
        throw std::runtime_error(fmt::format(
            "{}: no \"resume\" record: it was written by an older xgrad, which cannot be resumed", where));
    resume_state r;
    try {
        const auto& j = meta.at("resume");
        r.epochs_done = j.at("epochs_done").get<int>();
        r.steps = j.at("steps").get<std::uint64_t>();
        for (const auto& e : j.at("history")) {
            train::epoch_stats s;
            s.epoch = e.at(0).get<int>();
            s.loss = e.at(1).get<double>();
            s.train_accuracy = e.at(2).get<double>();
            s.val_loss = e.at(3).get<double>();
            s.val_accuracy = e.at(4).get<double>();
            s.learning_rate = e.at(5).get<double>();
            s.seconds = e.at(6).get<double>();
            s.examples_per_second = e.at(7).get<double>();
            r.history.push_back(s);
        }
    } catch (const nlohmann::json::exception& e) {
        std::string detail = e.what();
        if (const auto p = detail.find("] "); p != std::string::npos) detail = detail.substr(p + 2);
        throw std::runtime_error(fmt::format("{}: \"resume\": {}", where, printable(detail)));
    }
    if (r.epochs_done < 0 || static_cast<std::size_t>(r.epochs_done) != r.history.size())
        throw std::runtime_error(fmt::format("{}: \"resume\": epochs_done {} but a history of {} epochs",
                                             where, r.epochs_done, r.history.size()));
    return r;
}

namespace {

/// The optimizer's state buffers by name, one flat span each (see optimizer::state_offset): Adam's moments m
/// and v, momentum's velocity; none for plain SGD.
std::vector<std::pair<std::string, std::span<real>>> state_buffers(optim::optimizer<real>& opt) {
    if (auto* a = dynamic_cast<optim::adam<real>*>(&opt))
        return {{"m", a->first_moment()}, {"v", a->second_moment()}};
    if (auto* s = dynamic_cast<optim::sgd<real>*>(&opt)) {
        if (!s->velocity().empty()) return {{"velocity", s->velocity()}};
    }
    return {};
}

}  // namespace

std::uint64_t optimizer_steps(optim::optimizer<real>& opt) {
    if (auto* a = dynamic_cast<optim::adam<real>*>(&opt)) return a->steps();
    return 0;
}

void save_optimizer_state(const fs::path& path, optim::optimizer<real>& opt) {
    // One array per buffer and parameter, shaped like the parameter: "m.0", "m.1", …, "v.0", …
    std::vector<matrix<real>> arrays;
    std::vector<std::string> names;
    const auto& params = opt.params();
    for (auto& [kind, buffer] : state_buffers(opt)) {
        for (std::size_t k = 0; k < params.size(); ++k) {
            matrix<real> a(params[k]->shape());
            std::copy_n(buffer.data() + opt.state_offset(k), a.size(), a.data());
            arrays.push_back(std::move(a));
            names.push_back(fmt::format("{}.{}", kind, k));
        }
    }
    std::vector<std::pair<std::string, const matrix<real>*>> tensors;
    for (std::size_t i = 0; i < arrays.size(); ++i) tensors.emplace_back(names[i], &arrays[i]);
    save_npz<real>(path.string(), tensors);
}

void load_optimizer_state(const fs::path& path, optim::optimizer<real>& opt, std::uint64_t steps) {
    auto saved = load_npz<real>(path.string());
    const auto& params = opt.params();
    const auto buffers = state_buffers(opt);
    std::vector<std::string> problems;
    if (saved.size() != buffers.size() * params.size()) {
        problems.push_back(fmt::format("{} arrays, but the {} optimizer has {}", saved.size(), opt.name(),
                                       buffers.size() * params.size()));
    } else {
        for (std::size_t b = 0, i = 0; b < buffers.size(); ++b) {
            for (std::size_t k = 0; k < params.size(); ++k, ++i) {
                const std::string want = fmt::format("{}.{}", buffers[b].first, k);
                if (saved[i].first != want || saved[i].second.shape() != params[k]->shape()) {
                    problems.push_back(fmt::format("'{}' [{}×{}] where the optimizer has '{}' [{}×{}]",
                                                   saved[i].first, saved[i].second.shape()[0],
                                                   saved[i].second.shape()[1], want, params[k]->shape()[0],
                                                   params[k]->shape()[1]));
                }
            }
        }
    }
    if (!problems.empty())
        throw std::runtime_error(
            fmt::format("{}: does not fit the run: {}", path.string(), joined(problems)));
    for (std::size_t b = 0, i = 0; b < buffers.size(); ++b) {
        for (std::size_t k = 0; k < params.size(); ++k, ++i) {
            std::copy_n(saved[i].second.data(), saved[i].second.size(),
                        buffers[b].second.data() + opt.state_offset(k));
        }
    }
    if (auto* a = dynamic_cast<optim::adam<real>*>(&opt)) a->set_steps(static_cast<std::size_t>(steps));
}

}  // namespace xgrad::cli
