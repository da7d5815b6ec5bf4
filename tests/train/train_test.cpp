// The training loop: accuracy on generated and real data, determinism, evaluation.
#include <filesystem>

#include "support.hpp"

using xgrad::matrix;
namespace data = xgrad::data;
namespace train = xgrad::train;

namespace {
train::fit_options<float> quiet(int epochs, std::size_t batch, std::uint64_t seed) {
    train::fit_options<float> o;
    o.epochs = epochs;
    o.batch = batch;
    o.seed = seed;
    return o;
}
}  // namespace

TEST_CASE("train: fit reaches 97% on the two-arm spiral with a 64-64 ReLU net", "[train]") {
    auto all = data::make_spiral<float>(1000, 2, 0.1, 7);
    auto [tr, te] = data::split(all, 0.2, 7);
    data::standardizer<float> z;
    z.fit(tr.x);
    z.apply(tr.x);
    z.apply(te.x);
    xgrad::rng g(7);
    auto net = xgrad::nn::mlp<float>({2, 64, 64, 2}, xgrad::nn::activation_kind::relu, g);
    xgrad::optim::adam<float> opt(net->parameters(), 0.01f);
    auto o = quiet(150, 32, 7);
    o.validation = &te;
    const auto h = train::fit(*net, opt, tr, o);
    REQUIRE(h.size() == 150);
    INFO("first loss " << h.front().loss << ", last loss " << h.back().loss);
    CHECK(h.back().loss < h.front().loss / 5);
    const auto e = train::evaluate(*net, te);
    INFO("test accuracy " << e.accuracy);
    CHECK(e.accuracy >= 0.97);
    CHECK(e.accuracy == Approx(h.back().val_accuracy));
    std::size_t total = 0;
    for (auto& row : e.confusion) {
        for (auto v : row) total += v;
    }
    CHECK(total == te.size());
}

TEST_CASE("train: the same seed on one thread gives bit-identical losses and parameters", "[train]") {
    auto run = [](std::uint64_t seed) {
        auto ds = data::make_xor<float>(400, 0.1, 3);
        xgrad::rng g(seed);
        auto net = xgrad::nn::mlp<float>({2, 16, 2}, xgrad::nn::activation_kind::tanh, g);
        xgrad::optim::adam<float> opt(net->parameters(), 0.01f);
        const auto h = train::fit(*net, opt, ds, quiet(5, 16, seed));
        std::vector<double> losses;
        for (auto& e : h) losses.push_back(e.loss);
        std::vector<matrix<float>> params;
        for (auto* p : net->parameters()) params.push_back(p->value());
        return std::make_pair(losses, params);
    };
    const auto a = run(21), b = run(21), c = run(22);
    CHECK(a.first == b.first);
    REQUIRE(a.second.size() == b.second.size());
    for (std::size_t k = 0; k < a.second.size(); ++k) CHECK(xt::all(xt::equal(a.second[k], b.second[k])));
    CHECK(a.first != c.first);
}

TEST_CASE("train: fit rejects an unlabelled set, a zero batch and a diverging run says so", "[train]") {
    auto ds = data::make_gauss<float>(100, 0.1, 1);
    xgrad::rng g(1);
    auto net = xgrad::nn::mlp<float>({2, 4, 2}, xgrad::nn::activation_kind::relu, g);
    xgrad::optim::sgd<float> opt(net->parameters(), 0.1f);
    CHECK_THROWS_AS(train::fit(*net, opt, ds, quiet(1, 0, 1)), xgrad::error);
    data::dataset<float> unlabelled = ds;
    unlabelled.y = matrix<float>({0, ds.size()});
    unlabelled.classes = 0;
    CHECK_THROWS_AS(train::fit(*net, opt, unlabelled, quiet(1, 8, 1)), xgrad::data_error);
    xgrad::optim::sgd<float> wild(net->parameters(), 1e30f);
    CHECK_THROWS_WITH(train::fit(*net, wild, ds, quiet(3, 8, 1)), Catch::Contains("training loss became"));
}

TEST_CASE("train: three epochs on 12000 real MNIST digits climb above 90% (skipped when the data is absent)",
          "[train][mnist]") {
    const std::filesystem::path dir = std::filesystem::path(XGRAD_SHARED_DIR) / "data" / "mnist";
    if (!std::filesystem::exists(dir / "train-images-idx3-ubyte.gz")) {
        WARN("skipped: MNIST not found at " << dir.string());
        return;
    }
    auto full = data::load_mnist<float>(dir, "train");
    auto test = data::load_mnist<float>(dir, "test");
    std::vector<std::size_t> cols(12000), tcols(2000);
    for (std::size_t k = 0; k < cols.size(); ++k) cols[k] = k;
    for (std::size_t k = 0; k < tcols.size(); ++k) tcols[k] = k;
    auto tr = data::subset(full, cols);
    auto te = data::subset(test, tcols);
    data::standardizer<float> z;  // as xgrad train does
    z.fit(tr.x);
    z.apply(tr.x);
    z.apply(te.x);
    xgrad::rng g(0);
    auto net = xgrad::nn::mlp<float>({784, 64, 10}, xgrad::nn::activation_kind::relu, g);
    xgrad::optim::adam<float> opt(net->parameters(), 1e-3f);
    auto o = quiet(3, 64, 0);
    o.validation = &te;
    const auto h = train::fit(*net, opt, tr, o);
    INFO("test-subset accuracy per epoch: " << h[0].val_accuracy << ", " << h[1].val_accuracy << ", "
                                            << h[2].val_accuracy);
    CHECK(h[0].val_accuracy > 0.85);
    CHECK(h[2].val_accuracy > 0.90);
    CHECK(h[1].loss < h[0].loss);
    CHECK(h[2].loss < h[1].loss);
}
