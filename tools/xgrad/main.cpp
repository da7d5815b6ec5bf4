// The xgrad command: train a multilayer perceptron on a data set, evaluate a checkpoint.
//
//   xgrad train                         Fashion-MNIST from /usr/share/datasets/fashion-mnist, 784-256-10 ReLU
//   xgrad train --dataset spiral --layers 16,16 --activation tanh --epochs 200
//   xgrad evaluate xgrad-out/model.npz  accuracy and confusion matrix on the test split
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
#include <xgrad/checkpoint.hpp>
#include <xgrad/data.hpp>
#include <xgrad/nn.hpp>
#include <xgrad/optim.hpp>
#include <xgrad/train.hpp>

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

void write_text_atomically(const fs::path& path, const std::string& text) {
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f << text;
        f.close();
        if (!f) throw std::runtime_error(fmt::format("{}: cannot write", tmp.string()));
    }
    fs::rename(tmp, path);
}

struct train_args {
    std::string dataset = "fashion-mnist";
    std::optional<std::string> data_dir;
    std::string layers = "256";
    std::string activation = "relu";
    std::string optimizer = "adam";
    std::optional<double> lr;
    int epochs = 5;
    std::size_t batch = 64;
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
    if (a.batch < 1) throw usage_error("--batch must be at least 1");
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
    fmt::print("  training: {} lr {}, {} epochs, batch {}, seed {}, {} thread(s), BLAS core {}\n",
               opt->name(), lr, a.epochs, a.batch, a.seed, a.threads, xgrad::blas_core());
    std::fflush(stdout);

    xgrad::train::fit_options<real> fo;
    fo.epochs = a.epochs;
    fo.batch = a.batch;
    fo.seed = a.seed;
    fo.validation = &s.validation;
    fo.progress = a.progress == "bar"     ? xgrad::train::progress_mode::bar
                  : a.progress == "lines" ? xgrad::train::progress_mode::lines
                  : a.progress == "none"  ? xgrad::train::progress_mode::none
                                          : xgrad::train::progress_mode::automatic;
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
    write_text_atomically(out / "model.json", meta.dump(2) + "\n");
    xgrad::train::write_chart_svg(out / "training.svg", history,
                                  fmt::format("xgrad train — {} — {}", a.dataset, layers_to_string(sizes)));
    std::string csv =
        "epoch,loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,examples_per_second\n";
    for (const auto& e : history) {
        csv += fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6g},{:.3f},{:.0f}\n", e.epoch, e.loss,
                           e.train_accuracy, e.val_loss, e.val_accuracy, e.learning_rate, e.seconds,
                           e.examples_per_second);
    }
    write_text_atomically(out / "history.csv", csv);

    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    fmt::print("wrote {}, {}, {} and {}\n", ckpt.string(), (out / "model.json").string(),
               (out / "training.svg").string(), (out / "history.csv").string());
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

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"xgrad: train and evaluate multilayer perceptrons with the xgrad autodiff library"};
    app.require_subcommand(1);

    train_args ta;
    auto* train = app.add_subcommand("train", "train an MLP classifier, save a checkpoint and a chart");
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
    try {
        if (train->parsed()) return run_train(ta);
        if (eval->parsed()) return run_evaluate(ea);
    } catch (const usage_error& e) {
        fmt::print(stderr, "xgrad: {}\nRun 'xgrad {} --help' for the options.\n", e.what(),
                   train->parsed() ? "train" : "evaluate");
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "xgrad: {}\n", e.what());
        return 1;
    }
    return 0;
}
