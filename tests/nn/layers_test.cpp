// Train/eval mode on modules, and the modules embedding, dropout, batch_norm, layer_norm: composition with
// linear in sequential, buffers (running statistics) apart from parameters, fit/evaluate switching modes,
// and checkpoints that restore the running statistics.
#include <unistd.h>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

namespace {
namespace nn = xgrad::nn;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using xgrad::matrix;
using xgrad::shape2;
using xgrad::test::random_matrix;

/// Records the mode it is in each time it runs (identity otherwise).
template <class T>
struct mode_probe : nn::module<T> {
    std::vector<bool> seen;
    xgrad::var<T> forward(const xgrad::var<T>& x) override {
        seen.push_back(this->is_training());
        return x;
    }
};

/// A fresh directory under the system temp dir, removed at the end of the test.
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::random_device rd;
        path = fs::temp_directory_path() /
               ("xgrad-layers-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

/// Separable 3-class data in 4 features (for short fits).
xgrad::data::dataset<double> blobs(std::size_t n, std::uint64_t seed) {
    xgrad::rng g(seed);
    xgrad::data::dataset<double> d;
    d.x = matrix<double>({4, n});
    d.y = matrix<double>({1, n});
    d.classes = 3;
    for (std::size_t j = 0; j < n; ++j) {
        const std::size_t c = j % 3;
        d.y(0, j) = static_cast<double>(c);
        for (std::size_t i = 0; i < 4; ++i) d.x(i, j) = (i == c ? 3.0 : 0.0) + 5.0 + g.normal();
    }
    return d;
}

}  // namespace

TEST_CASE("layers: train() and eval() reach every child, and a child added later takes the parent's mode",
          "[nn][layers][mode]") {
    nn::sequential<double> outer;
    auto& inner = outer.emplace<nn::sequential<double>>();
    auto& probe = inner.emplace<mode_probe<double>>();
    CHECK(outer.is_training());
    CHECK(probe.is_training());
    outer.eval();
    CHECK_FALSE(outer.is_training());
    CHECK_FALSE(inner.is_training());
    CHECK_FALSE(probe.is_training());
    auto& late = inner.emplace<mode_probe<double>>();
    CHECK_FALSE(late.is_training());
    outer.train();
    CHECK(probe.is_training());
    CHECK(late.is_training());
}

TEST_CASE("layers: buffers are named and saved with the state but are not parameters", "[nn][layers]") {
    xgrad::rng g(1);
    nn::sequential<double> net;
    net.emplace<nn::linear<double>>(3, 4, g);
    net.emplace<nn::batch_norm<double>>(4);
    net.emplace<nn::layer_norm<double>>(4);
    std::vector<std::string> params, buffers, state;
    for (auto& [name, p] : net.named_parameters()) params.push_back(name);
    for (auto& [name, p] : net.named_buffers()) buffers.push_back(name);
    for (auto& [name, p] : net.named_state()) state.push_back(name);
    CHECK(params ==
          std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"});
    CHECK(buffers == std::vector<std::string>{"1.running_mean", "1.running_var"});
    CHECK(state.size() == 8);
    CHECK(net.named_buffers()[0].second->name() == "1.running_mean");
    CHECK(net.parameter_count() == 3 * 4 + 4 + 4 + 4 + 4 + 4);
}

TEST_CASE("layers: embedding composes with linear in sequential and learns its table",
          "[nn][layers][embedding]") {
    xgrad::rng g(2);
    nn::sequential<double> net;
    auto& emb = net.emplace<nn::embedding<double>>(5, 3, g, 0.5);
    net.emplace<nn::linear<double>>(3, 2, g);
    CHECK(net.describe() == "embedding(5 symbols → 3) → linear(3 → 2)");
    CHECK(emb.weight().shape() == shape2{3, 5});
    xgrad::graph<double> gr;
    const auto y = net(gr.constant(matrix<double>{{4, 0, 4}}));
    REQUIRE(y.shape() == shape2{2, 3});
    const auto loss = xgrad::softmax_cross_entropy(y, gr.constant(matrix<double>{{1, 0, 1}}));
    net.zero_grad();
    gr.backward(loss);
    const matrix<double>& de = emb.weight().grad();
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(de(i, 1) == 0.0);  // ids 1, 2, 3 were not used
        CHECK(de(i, 2) == 0.0);
        CHECK(de(i, 3) == 0.0);
    }
    CHECK((de(0, 4) != 0.0 || de(1, 4) != 0.0 || de(2, 4) != 0.0));
    const std::string msg = xgrad::test::shape_error_message([&] { net(gr.constant(matrix<double>{{5}})); });
    CHECK_THAT(msg, Contains("V = 5"));
}

TEST_CASE("layers: dropout drops in training and is the identity in evaluation", "[nn][layers][dropout]") {
    xgrad::rng g(3);
    nn::dropout<double> drop(0.5, g);
    xgrad::graph<double> gr;
    const matrix<double> x({6, 10}, 1.0);
    const auto y = drop(gr.constant(x));
    std::size_t zeros = 0;
    for (const double v : y.value()) {
        CHECK((v == 0.0 || v == 2.0));
        zeros += v == 0.0;
    }
    CHECK(zeros > 0);
    CHECK(zeros < 60);
    drop.eval();
    CHECK(drop(gr.constant(x)).value() == x);
    CHECK_THROWS_AS(nn::dropout<double>(1.0, g), xgrad::argument_error);
}

TEST_CASE(
    "layers: batch_norm uses batch statistics in training (moving the running ones) and the running ones "
    "in evaluation",
    "[nn][layers][batch_norm]") {
    nn::batch_norm<double> bn(2, nn::norm_axis::features, 0.5);
    bn.weight().value() = matrix<double>{{2.0}, {1.0}};
    bn.bias().value() = matrix<double>{{0.0}, {1.0}};
    const matrix<double> x = {{1, 2, 3, 6}, {-1, -1, 1, 1}};
    xgrad::graph<double> gr;
    bn(gr.constant(x));
    // means 3 and 0; unbiased variances 14/3 and 4/3; running = 0.5·initial + 0.5·batch
    CHECK(bn.running_mean().value()(0, 0) == Approx(1.5));
    CHECK(bn.running_mean().value()(1, 0) == Approx(0.0).margin(1e-15));
    CHECK(bn.running_var().value()(0, 0) == Approx(0.5 + 0.5 * 14.0 / 3.0));
    CHECK(bn.running_var().value()(1, 0) == Approx(0.5 + 0.5 * 4.0 / 3.0));
    bn.eval();
    const matrix<double> col = {{4.0}, {2.0}};
    const auto y = bn(gr.constant(col));  // m = 1 is fine in evaluation
    CHECK(y.value()(0, 0) == Approx(2.0 * (4.0 - 1.5) / std::sqrt(0.5 + 7.0 / 3.0 + 1e-5)));
    CHECK(y.value()(1, 0) == Approx((2.0 - 0.0) / std::sqrt(0.5 + 2.0 / 3.0 + 1e-5) + 1.0));
    CHECK(bn.running_mean().value()(0, 0) == Approx(1.5));  // evaluation does not move them
    bn.train();
    CHECK_THROWS_AS(bn(gr.constant(col)), xgrad::shape_error);  // m = 1 in training
}

TEST_CASE("layers: per-channel batch_norm and layer_norm in a sequential with linear, gradcheck",
          "[nn][layers][gradcheck]") {
    // linear → batch_norm (2 channels of 3 rows) → tanh → layer_norm, trained mode, through the modules
    xgrad::rng g(4);
    nn::sequential<double> net;
    auto& lin = net.emplace<nn::linear<double>>(4, 6, g);
    auto& bn = net.emplace<nn::batch_norm<double>>(2, nn::norm_axis::channels);
    net.emplace<nn::activation<double>>(nn::activation_kind::tanh);
    auto& ln = net.emplace<nn::layer_norm<double>>(6);
    bn.weight().value() = random_matrix(2, 1, 5, 0.5, 1.5);
    ln.weight().value() = random_matrix(6, 1, 6, 0.5, 1.5);
    const matrix<double> x = random_matrix(4, 3, 7);
    const matrix<double> w0 = lin.weight().value();
    auto r = xgrad::gradcheck(
        [&](auto v) {
            lin.weight().value() = v[0].value();  // the module reads its parameter; the check perturbs v[0]
            xgrad::graph<double>& gr = v[0].owner();
            const auto h = xgrad::linear(v[0], gr.constant(x), gr.param(lin.bias()));
            return ln(net[2](bn(h)));
        },
        {w0}, {.rtol = 1e-4, .atol = 1e-7});
    INFO(r.report);
    REQUIRE(r.ok);
}

TEST_CASE(
    "layers: fit trains in training mode, validates and evaluates in evaluation mode, and restores the mode",
    "[nn][layers][train]") {
    const auto tr = blobs(60, 1), va = blobs(30, 2);
    xgrad::rng g(5);
    nn::sequential<double> net;
    auto& probe = net.emplace<mode_probe<double>>();
    net.emplace<nn::linear<double>>(4, 3, g);
    xgrad::optim::sgd<double> opt(net.parameters(), 0.1);
    xgrad::train::fit_options<double> o;
    o.epochs = 2;
    o.batch = 20;
    o.validation = &va;
    net.eval();  // fit must switch to training whatever the mode before
    xgrad::train::fit(net, opt, tr, o);
    // per epoch: 3 training batches, then 1 validation batch
    CHECK(probe.seen == std::vector<bool>{true, true, true, false, true, true, true, false});
    CHECK_FALSE(net.is_training());  // restored
    probe.seen.clear();
    net.train();
    xgrad::train::evaluate(net, va);
    CHECK(probe.seen == std::vector<bool>{false});
    CHECK(net.is_training());
}

TEST_CASE(
    "layers: a model with batch_norm and dropout trains, and its checkpoint restores the running statistics",
    "[nn][layers][checkpoint]") {
    const auto tr = blobs(90, 11), te = blobs(30, 12);
    auto make = [](xgrad::rng& g) {
        auto net = std::make_unique<nn::sequential<double>>();
        net->emplace<nn::linear<double>>(4, 8, g);
        net->emplace<nn::batch_norm<double>>(8);
        net->emplace<nn::activation<double>>(nn::activation_kind::relu);
        net->emplace<nn::dropout<double>>(0.2, g);
        net->emplace<nn::linear<double>>(8, 3, g);
        return net;
    };
    xgrad::rng g(13);
    auto net = make(g);
    xgrad::optim::adam<double> opt(net->parameters(), 0.05);
    xgrad::train::fit_options<double> o;
    o.epochs = 20;
    o.batch = 15;
    xgrad::train::fit(*net, opt, tr, o);
    const auto e = xgrad::train::evaluate(*net, te);
    INFO("test accuracy " << e.accuracy);
    CHECK(e.accuracy >= 0.9);
    // the running mean moved from 0 towards the hidden units' means (the inputs are around 5)
    auto& bn = dynamic_cast<nn::batch_norm<double>&>((*net)[1]);
    double moved = 0;
    for (const double v : bn.running_mean().value()) moved += std::abs(v);
    CHECK(moved > 0.1);

    temp_dir dir;
    const std::string path = dir / "model.npz";
    xgrad::save_module(path, *net);
    const auto entries = xgrad::load_npz<double>(path);
    bool has_running = false;
    for (const auto& [name, m] : entries) has_running = has_running || name == "1.running_var";
    CHECK(has_running);

    xgrad::rng other(99);
    auto copy = make(other);
    xgrad::load_module(path, *copy);
    const bool same_running_mean =
        dynamic_cast<nn::batch_norm<double>&>((*copy)[1]).running_mean().value() == bn.running_mean().value();
    CHECK(same_running_mean);
    net->eval();
    copy->eval();
    xgrad::graph<double> g1, g2;
    const auto y1 = (*net)(g1.constant(te.x));
    const auto y2 = (*copy)(g2.constant(te.x));
    CHECK(y1.value() == y2.value());
    CHECK(xgrad::train::evaluate(*copy, te).accuracy == e.accuracy);

    // a checkpoint of the parameters only does not fit a model with buffers: the message names them
    std::vector<std::pair<std::string, const xgrad::parameter<double>*>> params_only;
    for (auto& [name, p] : net->named_parameters()) params_only.emplace_back(name, p);
    xgrad::save_parameters<double>(dir / "params.npz", params_only);
    const std::string msg = xgrad::test::message_of<xgrad::checkpoint_error>(
        [&] { xgrad::load_module(dir / "params.npz", *copy); });
    CHECK_THAT(msg, Contains("'1.running_mean' is missing"));
}
