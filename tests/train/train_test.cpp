// The training loop: accuracy on generated and real data, determinism, evaluation.
#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include "xgrad/detail/finite.hpp"

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

// ------------------------------------------------------------------ any loss, any metric

namespace {
/// Multiclass hinge loss through label_loss_op, as a user writes it (docs/extending.md).
template <class T>
struct hinge_op final : xgrad::label_loss_op<T, hinge_op<T>> {
    static constexpr xgrad::op_rule rule{.name = "hinge", .gradients = {{0, "([margin > 0] − 1_y·count)/m"}}};
    T loss(xgrad::column_view<const T> z, std::size_t y, xgrad::column_view<T> dz) const {
        T sum = 0;
        for (std::size_t i = 0; i < z.size(); ++i) {
            const T margin = z[i] - z[y] + 1;
            if (i == y || margin <= 0) continue;
            sum += margin;
            dz[i] += 1;
            dz[y] -= 1;
        }
        return sum;
    }
};
}  // namespace

TEST_CASE("train: fit minimises the loss it is given and reports the metric it is given", "[train]") {
    auto ds = data::make_xor<float>(400, 0.0, 5);
    auto [tr, va] = data::split(ds, 0.25, 5);
    auto run = [&](const train::loss_function<float>& loss, const train::metric_function<float>& metric) {
        xgrad::rng g(9);
        auto net = xgrad::nn::mlp<float>({2, 16, 2}, xgrad::nn::activation_kind::tanh, g);
        xgrad::optim::adam<float> opt(net->parameters(), 0.02f);
        auto o = quiet(4, 25, 9);
        o.validation = &va;
        o.loss = loss;
        o.metric = metric;
        return train::fit(*net, opt, tr, o);
    };
    // The default is softmax cross-entropy and accuracy: passing them explicitly changes nothing, bit for
    // bit.
    std::size_t calls = 0;
    const auto by_default = run({}, {});
    const auto explicit_ce = run(
        [&](const auto& z, const auto& y) {
            ++calls;
            return xgrad::softmax_cross_entropy(z, y);
        },
        [](const auto& z, const auto& y) { return train::count_correct(z, y); });
    REQUIRE(explicit_ce.size() == by_default.size());
    for (std::size_t e = 0; e < by_default.size(); ++e) {
        CHECK(explicit_ce[e].loss == by_default[e].loss);
        CHECK(explicit_ce[e].train_accuracy == by_default[e].train_accuracy);
        CHECK(explicit_ce[e].val_loss == by_default[e].val_loss);
        CHECK(explicit_ce[e].val_accuracy == by_default[e].val_accuracy);
    }
    // 4 epochs × 12 batches of 25 (300 examples), and the validation set (100 examples, one batch) each epoch
    CHECK(calls == 4 * 12 + 4 * 1);
    // A metric that counts every example right gives exactly 1; the validation uses it too.
    const auto all_right =
        run({}, [](const auto& z, const auto&) { return static_cast<double>(z.shape()[1]); });
    CHECK(all_right.back().train_accuracy == 1.0);
    CHECK(all_right.back().val_accuracy == 1.0);
    CHECK(all_right.back().loss == by_default.back().loss);
    // Another loss changes the training: the hinge loss's values are not cross-entropy's.
    const auto hinge = run(
        [](const auto& z, const auto& y) {
            return xgrad::apply<hinge_op<float>>({z, y}, std::source_location::current());
        },
        {});
    CHECK(hinge.back().loss != by_default.back().loss);
}

TEST_CASE("train: a multiclass hinge loss of the user's trains a classifier through fit", "[train]") {
    auto ds = data::make_xor<float>(400, 0.0, 5);
    xgrad::rng g(3);
    auto net = xgrad::nn::mlp<float>({2, 16, 2}, xgrad::nn::activation_kind::tanh, g);
    xgrad::optim::adam<float> opt(net->parameters(), 0.02f);
    auto o = quiet(40, 32, 3);
    o.loss = [](const auto& z, const auto& y) {
        return xgrad::apply<hinge_op<float>>({z, y}, std::source_location::current());
    };
    const auto h = train::fit(*net, opt, ds, o);
    INFO("first loss " << h.front().loss << ", last loss " << h.back().loss);
    CHECK(h.back().loss < h.front().loss / 2);
    const auto e = train::evaluate(*net, ds, 1000, o.loss);
    INFO("accuracy " << e.accuracy << ", hinge loss " << e.loss);
    CHECK(e.accuracy > 0.9);
    CHECK(e.loss < h.front().loss);
}

TEST_CASE("train: a loss that is not 1×1 is an argument_error naming fit", "[train]") {
    auto ds = data::make_xor<float>(40, 0.0, 5);
    xgrad::rng g(3);
    auto net = xgrad::nn::mlp<float>({2, 4, 2}, xgrad::nn::activation_kind::tanh, g);
    xgrad::optim::sgd<float> opt(net->parameters(), 0.1f);
    auto o = quiet(1, 8, 3);
    o.loss = [](const auto& z, const auto&) { return z; };  // forgot the mean: [2×8]
    CHECK_THROWS_AS(train::fit(*net, opt, ds, o), xgrad::argument_error);
    CHECK_THROWS_WITH(train::fit(*net, opt, ds, o), Catch::Contains("fit: the loss must be a 1×1 tensor"));
    CHECK_THROWS_WITH(train::evaluate(*net, ds, 1000, o.loss), Catch::Contains("evaluate: the loss must be"));
}

TEST_CASE("train: a small CNN learns Fashion-MNIST (2000 examples, 3 epochs)", "[train][conv]") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(XGRAD_SHARED_DIR) / "data" / "fashion-mnist";
    if (!fs::exists(dir / "train-images-idx3-ubyte.gz")) {
        WARN("skipped: Fashion-MNIST not found in " << dir.string());
        return;
    }
    // bounded work: 2000 training and 1000 test examples, 3 epochs of a CNN with 8 and 16 filters
    auto full = data::load_mnist<float>(dir, "train");
    auto test_full = data::load_mnist<float>(dir, "test");
    std::vector<std::size_t> first(2000);
    for (std::size_t i = 0; i < first.size(); ++i) first[i] = i;
    auto tr = data::subset(full, first);
    auto te = data::subset(test_full, std::span<const std::size_t>(first).first(1000));
    data::standardizer<float> z;
    z.fit(tr.x);
    z.apply(tr.x);
    z.apply(te.x);
    xgrad::rng g(3);
    const auto arch =
        xgrad::nn::parse_architecture("conv3x3:8,relu,maxpool2,conv3x3:16,relu,maxpool2,fc:32,relu");
    auto net = xgrad::nn::build<float>(arch, {1, 28, 28}, 10, g);
    xgrad::optim::adam<float> opt(net->parameters(), 2e-3f);
    const auto before = train::evaluate(*net, te);
    const auto h = train::fit(*net, opt, tr, quiet(3, 32, 3));
    REQUIRE(h.size() == 3);
    const auto after = train::evaluate(*net, te);
    INFO("test accuracy " << before.accuracy << " before, " << after.accuracy << " after; losses "
                          << h.front().loss << ", " << h.back().loss);
    CHECK(h.back().loss < h.front().loss);
    CHECK(after.accuracy >= 0.70);  // chance is 0.10
    CHECK(after.loss < before.loss / 2);
}

// fit's gradient check (and the standardizer's): NaN, +∞ and −∞ found at every position of buffers of odd
// lengths, and nothing reported for the finite extremes (largest, smallest normal, denormal, −0).
TEMPLATE_TEST_CASE("train: the finiteness check finds NaN and ±∞ anywhere and only them", "[train]", float,
                   double) {
    using T = TestType;
    using lim = std::numeric_limits<T>;
    const T finite[] = {lim::max(), -lim::max(), lim::min(), lim::denorm_min(), T(-0.0), T(1)};
    const T bad[] = {lim::quiet_NaN(), -lim::quiet_NaN(), lim::infinity(), -lim::infinity()};
    for (const std::size_t n : {std::size_t(1), std::size_t(5), std::size_t(37)}) {
        std::vector<T> v(n);
        for (std::size_t i = 0; i < n; ++i) v[i] = finite[i % std::size(finite)];
        REQUIRE_FALSE(xgrad::detail::any_non_finite(v.data(), n));
        for (std::size_t at = 0; at < n; ++at) {
            for (const T b : bad) {
                std::vector<T> w = v;
                w[at] = b;
                INFO("n " << n << ", " << b << " at " << at);
                REQUIRE(xgrad::detail::any_non_finite(w.data(), n));
            }
        }
    }
}

// fit_threads' test of each thread's own gradient: NaN, ±∞ and the largest binade (|x| ≥ 2^127 for float,
// 2^1023 for double, of either sign) found at every position; everything just below that bound is not.
TEMPLATE_TEST_CASE("train: the huge-or-not-finite test finds the largest binade and NaN and ±∞ anywhere",
                   "[train]", float, double) {
    using T = TestType;
    using lim = std::numeric_limits<T>;
    const T bound = std::ldexp(T(1), lim::max_exponent - 1);  // 2^127 or 2^1023
    const T below = std::nextafter(bound, T(0));
    const T fine[] = {below, -below, lim::min(), lim::denorm_min(), T(-0.0), T(1)};
    const T bad[] = {bound,           -bound,          lim::max(), -lim::max(), lim::quiet_NaN(),
                     lim::infinity(), -lim::infinity()};
    for (const std::size_t n : {std::size_t(1), std::size_t(5), std::size_t(37)}) {
        std::vector<T> v(n);
        for (std::size_t i = 0; i < n; ++i) v[i] = fine[i % std::size(fine)];
        REQUIRE_FALSE(xgrad::detail::any_huge_or_non_finite(v.data(), n));
        for (std::size_t at = 0; at < n; ++at) {
            for (const T b : bad) {
                std::vector<T> w = v;
                w[at] = b;
                INFO("n " << n << ", " << b << " at " << at);
                REQUIRE(xgrad::detail::any_huge_or_non_finite(w.data(), n));
            }
        }
    }
}
