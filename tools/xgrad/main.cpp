// The xgrad command: train a multilayer perceptron on a data set, evaluate a checkpoint, draw the model.
//
//   xgrad train                         Fashion-MNIST from /usr/share/datasets/fashion-mnist, 784-256-10 ReLU
//   xgrad train --dataset spiral --layers 16,16 --activation tanh --epochs 200
//                                       (2-D sets also get boundary.svg: the decision regions and the points)
//   xgrad evaluate xgrad-out/model.npz  accuracy and confusion matrix on the test split
//   xgrad graph --dataset spiral        the computation graph xgrad train records, as model.dot / model.svg
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <xgrad/blas.hpp>
#include <xgrad/data.hpp>
#include <xgrad/dot.hpp>
#include <xgrad/io/checkpoint.hpp>
#include <xgrad/io/file.hpp>
#include <xgrad/io/loaders.hpp>
#include <xgrad/nn.hpp>
#include <xgrad/ops/loss.hpp>
#include <xgrad/ops/softmax.hpp>
#include <xgrad/optim.hpp>
#include <xgrad/train.hpp>

#include "app/charts.hpp"
#include "app/graphviz.hpp"
#include "app/progress.hpp"

namespace fs = std::filesystem;
using real = float;
using dataset = xgrad::data::dataset<real>;

namespace {

constexpr const char* default_fashion_dir = "/usr/share/datasets/fashion-mnist";

/// A usage problem: printed with the hint to run --help, exit status 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct data_choice {
    std::string name;  // fashion-mnist, mnist, circle, xor, gauss, spiral, csv
    fs::path csv_path;
};

data_choice parse_dataset(const std::string& s) {
    if (s.rfind("csv:", 0) == 0) {
        if (s.size() == 4) throw usage_error("--dataset csv:PATH needs a path after 'csv:'");
        return {"csv", fs::path(s.substr(4))};
    }
    for (const char* n : {"fashion-mnist", "mnist", "circle", "xor", "gauss", "spiral"}) {
        if (s == n) return {s, {}};
    }
    throw usage_error(fmt::format(
        "--dataset: unknown data set '{}' (fashion-mnist, mnist, circle, xor, gauss, spiral, csv:PATH)", s));
}

std::vector<std::size_t> parse_layers(const std::string& s) {
    std::vector<std::size_t> out;
    if (s.empty() || s == "none") return out;
    std::size_t pos = 0;
    while (pos <= s.size()) {
        const std::size_t comma = s.find(',', pos);
        const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        std::size_t used = 0;
        long v = 0;
        try {
            v = std::stol(item, &used);
        } catch (...) {
            used = 0;
        }
        if (used != item.size() || item.empty() || v <= 0 || v > 1'000'000) {
            throw usage_error(
                fmt::format("--layers: '{}' is not a positive layer size (write e.g. 256,128)", item));
        }
        out.push_back(static_cast<std::size_t>(v));
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return out;
}

std::string layers_to_string(const std::vector<std::size_t>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "-" : "") + std::to_string(v[i]);
    return s;
}

struct splits {
    dataset train, validation, test;
    std::vector<std::string> class_names;
    std::string description;
};

/// Standardizes every feature with the training set's mean and standard deviation.
void standardize(splits& s) {
    xgrad::data::standardizer<real> z;
    z.fit(s.train.x);
    z.apply(s.train.x);
    z.apply(s.validation.x);
    z.apply(s.test.x);
}

/// Loads the chosen data set as train / validation / test.
splits load_data(const data_choice& d, const std::optional<fs::path>& data_dir, std::uint64_t seed) {
    splits s;
    if (d.name == "fashion-mnist" || d.name == "mnist") {
        const fs::path dir =
            data_dir ? *data_dir : fs::path(d.name == "fashion-mnist" ? default_fashion_dir : "");
        if (dir.empty()) {
            throw usage_error(
                "--dataset mnist needs --data DIR: a directory with train-images-idx3-ubyte.gz, "
                "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
                "(the original files from the MNIST page)");
        }
        if (!fs::is_directory(dir)) {
            throw usage_error(
                d.name == "fashion-mnist" && !data_dir
                    ? fmt::format("Fashion-MNIST is not installed ({} is missing): install it with "
                                  "'sudo apt-get install dataset-fashion-mnist', or pass --data DIR",
                                  dir.string())
                    : fmt::format("--data: {} is not a directory", dir.string()));
        }
        dataset full = xgrad::data::load_mnist<real>(dir, "train");
        s.test = xgrad::data::load_mnist<real>(dir, "test");
        s.class_names = d.name == "fashion-mnist" ? xgrad::data::fashion_mnist_class_names()
                                                  : xgrad::data::mnist_class_names();
        auto [train, val] = xgrad::data::split(full, 1.0 / 12.0, seed);  // 55000 / 5000
        s.train = std::move(train);
        s.validation = std::move(val);
        standardize(s);
        s.description = fmt::format("{} from {}", d.name, dir.string());
    } else {
        dataset all;
        if (d.name == "csv") {
            all = xgrad::data::load_csv<real>(d.csv_path);
            s.description = fmt::format("csv {}", d.csv_path.string());
        } else {
            const std::size_t n = 1200;
            const double noise = 0.1;
            if (d.name == "circle") all = xgrad::data::make_circle<real>(n, noise, seed);
            if (d.name == "xor") all = xgrad::data::make_xor<real>(n, noise, seed);
            if (d.name == "gauss") all = xgrad::data::make_gauss<real>(n, noise, seed);
            if (d.name == "spiral") all = xgrad::data::make_spiral<real>(n, 2, noise, seed);
            s.description =
                fmt::format("{} (generated: {} points, noise {}, seed {})", d.name, n, noise, seed);
        }
        auto [rest, test] = xgrad::data::split(all, 0.2, seed);
        auto [train, val] = xgrad::data::split(rest, 0.125, seed + 1);
        s.train = std::move(train);
        s.validation = std::move(val);
        s.test = std::move(test);
        standardize(s);
        s.class_names = all.class_names;
    }
    return s;
}

/// Fails early, before any training, when the output directory cannot be written.
void check_writable(const fs::path& out) {
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec || !fs::is_directory(out)) {
        throw usage_error(
            fmt::format("--out: cannot create the directory {} ({})", out.string(), ec.message()));
    }
    if (::access(out.c_str(), W_OK) != 0) {
        throw usage_error(fmt::format("--out: the directory {} is not writable", out.string()));
    }
}

struct train_args {
    std::string dataset = "fashion-mnist";
    std::optional<std::string> data_dir;
    std::string layers = "256";
    std::string activation = "relu";
    std::string optimizer = "adam";
    std::optional<double> lr;
    int epochs = 5;
    long long batch = 64;  // signed, so --batch -1 is an error rather than a huge size
    std::uint64_t seed = 0;
    int threads = 1;
    std::string out = "xgrad-out";
    std::string progress = "auto";
};

double default_lr(const std::string& opt) {
    return opt == "adam" ? 1e-3 : opt == "momentum" ? 0.05 : 0.1;
}

int run_train(const train_args& a) {
    const auto t_start = std::chrono::steady_clock::now();
    const data_choice d = parse_dataset(a.dataset);
    const auto hidden = parse_layers(a.layers);
    const auto act = xgrad::nn::parse_activation(a.activation);
    const double lr = a.lr.value_or(default_lr(a.optimizer));
    if (!(lr > 0) || !std::isfinite(lr))
        throw usage_error(fmt::format("--lr must be a positive number, not {}", lr));
    if (a.epochs < 1) throw usage_error(fmt::format("--epochs must be at least 1, not {}", a.epochs));
    if (a.batch < 1) throw usage_error(fmt::format("--batch must be at least 1, not {}", a.batch));
    if (a.threads < 1) throw usage_error(fmt::format("--threads must be at least 1, not {}", a.threads));
    xgrad::set_num_threads(a.threads);

    const std::optional<fs::path> dir = a.data_dir ? std::optional<fs::path>(*a.data_dir) : std::nullopt;
    splits s = load_data(d, dir, a.seed);
    // Only now, with every flag and the data checked, create the output directory (and fail before training
    // if it cannot be written).
    const fs::path out(a.out);
    check_writable(out);
    std::vector<std::size_t> sizes{s.train.features()};
    sizes.insert(sizes.end(), hidden.begin(), hidden.end());
    sizes.push_back(s.train.classes);

    xgrad::rng g(a.seed);
    auto net = xgrad::nn::mlp<real>(sizes, act, g);
    std::unique_ptr<xgrad::optim::optimizer<real>> opt;
    if (a.optimizer == "sgd") opt = std::make_unique<xgrad::optim::sgd<real>>(net->parameters(), real(lr));
    if (a.optimizer == "momentum")
        opt = std::make_unique<xgrad::optim::sgd<real>>(net->parameters(), real(lr), real(0.9));
    if (a.optimizer == "adam") opt = std::make_unique<xgrad::optim::adam<real>>(net->parameters(), real(lr));

    fmt::print("xgrad train: {}\n", s.description);
    fmt::print("  examples: {} train, {} validation, {} test; {} features, {} classes\n", s.train.size(),
               s.validation.size(), s.test.size(), s.train.features(), s.train.classes);
    fmt::print("  model: {} ({} parameters), {} activation\n", layers_to_string(sizes),
               net->parameter_count(), a.activation);
    fmt::print(
        "  training: {} lr {}, {} epochs, batch {}, seed {}, {} thread(s), BLAS core {}\n", opt->name(), lr,
        a.epochs, a.batch, a.seed, a.threads,
        xgrad::blas_core() +
            (std::getenv("XGRAD_BLAS_REEXEC") ? " (chosen for this CPU; OPENBLAS_CORETYPE overrides)" : ""));
    std::fflush(stdout);

    xgrad::train::fit_options<real> fo;
    fo.epochs = a.epochs;
    fo.batch = static_cast<std::size_t>(a.batch);
    fo.seed = a.seed;
    fo.validation = &s.validation;
    using xgrad::app::progress_mode;
    xgrad::app::progress_display progress(a.progress == "bar"     ? progress_mode::bar
                                          : a.progress == "lines" ? progress_mode::lines
                                          : a.progress == "none"  ? progress_mode::none
                                                                  : progress_mode::automatic,
                                          stdout);
    progress.attach(fo);
    fo.schedule = xgrad::optim::cosine_schedule{lr, lr / 20, a.epochs};
    const auto t_train = std::chrono::steady_clock::now();
    const auto history = xgrad::train::fit(*net, *opt, s.train, fo);
    const double train_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train).count();

    const auto test = xgrad::train::evaluate(*net, s.test);
    double examples = 0;
    for (const auto& e : history) examples += static_cast<double>(s.train.size());
    fmt::print("\ntest accuracy {:.2f}% ({} examples), test loss {:.4f}\n", 100 * test.accuracy,
               test.examples, test.loss);
    fmt::print("confusion matrix (test):\n{}", xgrad::train::format_confusion(test, s.class_names));

    // Checkpoint, architecture and chart — each written atomically.
    const fs::path ckpt = out / "model.npz";
    std::vector<std::pair<std::string, const xgrad::parameter<real>*>> named;
    for (auto& [name, p] : net->named_parameters()) named.emplace_back(name, p);
    xgrad::save_parameters<real>(ckpt.string(), named);
    nlohmann::json meta = {{"format", "xgrad-mlp-1"}, {"layers", sizes}, {"activation", a.activation},
                           {"dataset", a.dataset},    {"seed", a.seed},  {"test_accuracy", test.accuracy},
                           {"epochs", a.epochs}};
    xgrad::io::write_atomically(out / "model.json", meta.dump(2) + "\n");
    xgrad::app::write_chart_svg(out / "training.svg", history,
                                fmt::format("xgrad train — {} — {}", a.dataset, layers_to_string(sizes)));
    const bool plane = s.train.features() == 2;
    if (plane) {
        xgrad::app::write_boundary_svg(out / "boundary.svg", *net,
                                       {s.train, s.validation, s.test, s.class_names},
                                       fmt::format("{} — {} {} — decision regions after {} epochs", a.dataset,
                                                   layers_to_string(sizes), a.activation, a.epochs),
                                       test.accuracy);
    }
    std::string csv =
        "epoch,loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,examples_per_second\n";
    for (const auto& e : history) {
        csv += fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6g},{:.3f},{:.0f}\n", e.epoch, e.loss,
                           e.train_accuracy, e.val_loss, e.val_accuracy, e.learning_rate, e.seconds,
                           e.examples_per_second);
    }
    xgrad::io::write_atomically(out / "history.csv", csv);

    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    fmt::print("wrote {}, {}, {}{} and {}\n", ckpt.string(), (out / "model.json").string(),
               (out / "training.svg").string(),
               plane ? ", " + (out / "boundary.svg").string() : std::string(),
               (out / "history.csv").string());
    fmt::print("wall time {:.1f} s (training {:.1f} s, {:.0f} examples/s)\n", wall, train_seconds,
               examples / train_seconds);
    return 0;
}

struct eval_args {
    std::string checkpoint;
    std::optional<std::string> dataset, data_dir;
    std::optional<std::uint64_t> seed;
};

int run_evaluate(const eval_args& a) {
    const fs::path ckpt(a.checkpoint);
    if (!fs::is_regular_file(ckpt)) throw usage_error(fmt::format("{}: no such checkpoint", ckpt.string()));
    fs::path meta_path = ckpt;
    meta_path.replace_extension(".json");
    if (!fs::is_regular_file(meta_path)) {
        throw usage_error(
            fmt::format("{}: missing (xgrad train writes it next to the checkpoint; it holds the "
                        "layer sizes and the activation)",
                        meta_path.string()));
    }
    nlohmann::json meta;
    try {
        std::ifstream f(meta_path);
        meta = nlohmann::json::parse(f);
    } catch (const std::exception& e) {
        throw usage_error(fmt::format("{}: not valid JSON ({})", meta_path.string(), e.what()));
    }
    const auto sizes = meta.at("layers").get<std::vector<std::size_t>>();
    const auto act = xgrad::nn::parse_activation(meta.at("activation").get<std::string>());
    const std::string ds_name = a.dataset.value_or(meta.value("dataset", std::string("fashion-mnist")));
    xgrad::rng g(0);
    auto net = xgrad::nn::mlp<real>(sizes, act, g);
    std::vector<std::pair<std::string, xgrad::parameter<real>*>> named;
    for (auto& [name, p] : net->named_parameters()) named.emplace_back(name, p);
    xgrad::load_parameters<real>(ckpt.string(), named);

    const std::optional<fs::path> dir = a.data_dir ? std::optional<fs::path>(*a.data_dir) : std::nullopt;
    const std::uint64_t seed = a.seed ? *a.seed : meta.value("seed", std::uint64_t{0});
    splits s = load_data(parse_dataset(ds_name), dir, seed);
    const auto r = xgrad::train::evaluate(*net, s.test);
    fmt::print("{} on {} (test split, {} examples): accuracy {:.2f}%, loss {:.4f}\n", ckpt.string(), ds_name,
               r.examples, 100 * r.accuracy, r.loss);
    fmt::print("confusion matrix:\n{}", xgrad::train::format_confusion(r, s.class_names));
    return 0;
}

// ---------------------------------------------------------------- xgrad graph

struct graph_args {
    std::string dataset = "fashion-mnist";
    std::optional<std::string> data_dir;
    std::string layers = "256";
    std::string activation = "relu";
    long long batch = 64;  // signed, so --batch -1 is an error rather than a huge size
    std::uint64_t seed = 0;
    std::string out = "xgrad-out";
    std::string format = "svg";
    bool values = false;
};

/// Records one training step of the model `xgrad train` builds with these flags (forward, loss and, with
/// --values, backward on a real mini-batch) and draws it: model.dot, rendered to model.svg (or --format).
int run_graph(const graph_args& a) {
    const data_choice d = parse_dataset(a.dataset);
    const auto hidden = parse_layers(a.layers);
    const auto act = xgrad::nn::parse_activation(a.activation);
    if (a.batch < 1) throw usage_error(fmt::format("--batch must be at least 1, not {}", a.batch));
    // The image sets' shapes are known without reading them; everything else is loaded (it is small).
    std::optional<splits> s;
    std::size_t features = 784, classes = 10;
    if ((d.name != "fashion-mnist" && d.name != "mnist") || a.values) {
        const std::optional<fs::path> dir = a.data_dir ? std::optional<fs::path>(*a.data_dir) : std::nullopt;
        s = load_data(d, dir, a.seed);
        features = s->train.features();
        classes = s->train.classes;
    }
    const fs::path out(a.out);
    check_writable(out);
    std::vector<std::size_t> sizes{features};
    sizes.insert(sizes.end(), hidden.begin(), hidden.end());
    sizes.push_back(classes);
    xgrad::rng g(a.seed);
    auto net = xgrad::nn::mlp<real>(sizes, act, g);

    // The lecture's names: layer k has W<k>, b<k>, A<k> = W<k>·H<k−1> + b<k> and H<k> = act(A<k>).
    std::size_t layer = 0;
    for (std::size_t i = 0; i < net->size(); ++i) {
        if (auto* lin = dynamic_cast<xgrad::nn::linear<real>*>(&(*net)[i])) {
            ++layer;
            lin->weight().set_name(fmt::format("W{}", layer));
            lin->bias().set_name(fmt::format("b{}", layer));
        }
    }
    const std::size_t m =
        s ? std::min(static_cast<std::size_t>(a.batch), s->train.size()) : static_cast<std::size_t>(a.batch);
    xgrad::matrix<real> x({features, m}, real(0)), y({1, m}, real(0));
    if (s) {
        for (std::size_t j = 0; j < m; ++j) {
            for (std::size_t f = 0; f < features; ++f) x(f, j) = s->train.x(f, j);
            y(0, j) = s->train.y(0, j);
        }
    }
    xgrad::graph<real> tape;
    auto h = tape.borrow(x, "X");
    layer = 0;
    for (std::size_t i = 0; i < net->size(); ++i) {
        auto& mod = (*net)[i];
        const bool lin = dynamic_cast<xgrad::nn::linear<real>*>(&mod) != nullptr;
        layer += lin;
        h = mod(h).named(fmt::format("{}{}", lin ? "A" : "H", layer));
    }
    auto C = xgrad::softmax_cross_entropy(h, tape.borrow(y, "Y")).named("C");
    if (a.values) tape.backward(C);

    xgrad::dot_options o;
    o.title = fmt::format(
        "xgrad train's model for {}: {} {}, one mini-batch of m = {}\n(W1, b1, W2, … are 0.weight, "
        "0.bias, 2.weight, … in model.npz)",
        a.dataset, layers_to_string(sizes), a.activation, m);
    o.values = a.values;
    o.gradients = a.values;
    const fs::path dot_path = out / "model.dot";
    xgrad::io::write_atomically(dot_path, xgrad::to_dot(tape, o));
    fmt::print("xgrad graph: {} {} on {}: {} nodes on the tape{}\n", layers_to_string(sizes), a.activation,
               a.dataset, tape.size(), a.values ? ", with the values and gradients of one step" : "");
    if (a.format == "dot") {
        fmt::print("wrote {}\n", dot_path.string());
        return 0;
    }
    const fs::path picture = out / ("model." + a.format);
    if (xgrad::render_dot(dot_path, picture, a.format)) {
        fmt::print("wrote {} and {}\n", dot_path.string(), picture.string());
    } else {
        fmt::print(
            "wrote {}; Graphviz is not installed, so no {} (apt-get install graphviz, then: dot -T{} {} -o "
            "{})\n",
            dot_path.string(), a.format, a.format, dot_path.string(), picture.string());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // OpenBLAS falls back to slow generic kernels on CPUs it does not recognise; pick the right ones.
    xgrad::run_with_better_blas_core(argc, argv);
    CLI::App app{"xgrad: train and evaluate multilayer perceptrons with the xgrad autodiff library"};
    app.require_subcommand(1);

    train_args ta;
    auto* train = app.add_subcommand(
        "train", "train an MLP classifier; save a checkpoint, a chart and (2-D sets) the decision regions");
    train
        ->add_option("--dataset", ta.dataset,
                     "fashion-mnist | mnist | circle | xor | gauss | spiral | csv:PATH")
        ->capture_default_str();
    train->add_option(
        "--data", ta.data_dir,
        "directory of the IDX files (default for fashion-mnist: " + std::string(default_fashion_dir) + ")");
    train->add_option("--layers", ta.layers, "hidden layer sizes, e.g. 256,128 (none: softmax regression)")
        ->capture_default_str();
    train->add_option("--activation", ta.activation, "relu | tanh | sigmoid | leaky_relu | elu | selu")
        ->capture_default_str()
        ->check(CLI::IsMember({"relu", "tanh", "sigmoid", "leaky_relu", "elu", "selu"}));
    train->add_option("--optimizer", ta.optimizer, "sgd | momentum | adam")
        ->capture_default_str()
        ->check(CLI::IsMember({"sgd", "momentum", "adam"}));
    train->add_option("--lr", ta.lr, "learning rate (default: adam 0.001, momentum 0.05, sgd 0.1)");
    train->add_option("--epochs", ta.epochs, "passes over the training set")->capture_default_str();
    train->add_option("--batch", ta.batch, "examples per mini-batch")->capture_default_str();
    train->add_option("--seed", ta.seed, "seed for initialization, shuffling and generated data")
        ->capture_default_str();
    train->add_option("--threads", ta.threads, "BLAS threads")->capture_default_str();
    train->add_option("--out", ta.out, "output directory (checkpoint, model.json, chart, history)")
        ->capture_default_str();
    train->add_option("--progress", ta.progress, "auto | bar | lines | none")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "bar", "lines", "none"}));

    eval_args ea;
    auto* eval =
        app.add_subcommand("evaluate", "accuracy and confusion matrix of a checkpoint on a test set");
    eval->add_option("checkpoint", ea.checkpoint, "model.npz written by xgrad train")->required();
    eval->add_option("--dataset", ea.dataset, "data set (default: the one it was trained on)");
    eval->add_option("--data", ea.data_dir, "directory of the IDX files");
    eval->add_option("--seed", ea.seed,
                     "seed of the generated data set and split (default: the training run's)");

    graph_args ga;
    auto* graph = app.add_subcommand(
        "graph", "draw the computation graph xgrad train records (DOT; SVG, PNG or PDF with Graphviz)");
    graph
        ->add_option("--dataset", ga.dataset,
                     "fashion-mnist | mnist | circle | xor | gauss | spiral | csv:PATH")
        ->capture_default_str();
    graph->add_option("--data", ga.data_dir, "directory of the IDX files (needed with --values)");
    graph->add_option("--layers", ga.layers, "hidden layer sizes, as for train")->capture_default_str();
    graph->add_option("--activation", ga.activation, "relu | tanh | sigmoid | leaky_relu | elu | selu")
        ->capture_default_str()
        ->check(CLI::IsMember({"relu", "tanh", "sigmoid", "leaky_relu", "elu", "selu"}));
    graph->add_option("--batch", ga.batch, "examples per mini-batch (the m in the shapes)")
        ->capture_default_str();
    graph->add_option("--seed", ga.seed, "seed for initialization and generated data")->capture_default_str();
    graph->add_option("--out", ga.out, "output directory (model.dot and the picture)")->capture_default_str();
    graph->add_option("--format", ga.format, "svg | png | pdf | dot")
        ->capture_default_str()
        ->check(CLI::IsMember({"svg", "png", "pdf", "dot"}));
    graph->add_flag("--values", ga.values,
                    "run one step on a real mini-batch and show every tensor's value and gradient");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    // The 2-D Playground sets get their own defaults (two hidden layers of 64, many short epochs) for every
    // flag the user did not give; --help shows the image sets' defaults. Measured over seeds 0–7 on spiral:
    // 64-64 ReLU reaches ≥ 98.7 % test accuracy every time, while 32-32 tanh (like PyTorch with the same
    // set-up) gets stuck near 55 % for about a third of the seeds.
    if (train->parsed() && ta.dataset != "fashion-mnist" && ta.dataset != "mnist" &&
        ta.dataset.rfind("csv:", 0) != 0) {
        if (train->count("--layers") == 0) ta.layers = "64,64";
        if (train->count("--epochs") == 0) ta.epochs = 200;
        if (train->count("--batch") == 0) ta.batch = 32;
        if (train->count("--lr") == 0) ta.lr = 0.01;
    }
    if (graph->parsed() && ga.dataset != "fashion-mnist" && ga.dataset != "mnist" &&
        ga.dataset.rfind("csv:", 0) != 0) {
        if (graph->count("--layers") == 0) ga.layers = "64,64";
        if (graph->count("--batch") == 0) ga.batch = 32;
    }
    try {
        if (train->parsed()) return run_train(ta);
        if (eval->parsed()) return run_evaluate(ea);
        if (graph->parsed()) return run_graph(ga);
    } catch (const usage_error& e) {
        fmt::print(stderr, "xgrad: {}\nRun 'xgrad {} --help' for the options.\n", e.what(),
                   train->parsed()  ? "train"
                   : eval->parsed() ? "evaluate"
                                    : "graph");
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "xgrad: {}\n", e.what());
        return 1;
    }
    return 0;
}
