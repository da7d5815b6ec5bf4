// Losses: every loss is a 1×1 mean over the m columns (examples). Values against plain-loop references,
// gradients against the documented formulas and central differences, and the numerically hard cases.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "support.hpp"

namespace {
using xgrad::test::message_of;

using Catch::Matchers::Contains;
using xgrad::matrix;
using xgrad::var;

const std::vector<std::pair<std::size_t, std::size_t>> kShapes = {{3, 4}, {4, 1}, {2, 7}, {5, 5}, {10, 3}};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// [1×m] row of class labels in [0, c), stored as doubles.
matrix<double> random_labels(std::size_t c, std::size_t m, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> u(0, c - 1);
    matrix<double> l({1, m});
    for (auto& v : l) v = static_cast<double>(u(rng));
    return l;
}

/// One-hot [c×m] built in the test (not with xgrad::one_hot).
matrix<double> onehot_ref(const matrix<double>& labels, std::size_t c) {
    matrix<double> t({c, labels.shape()[1]}, 0.0);
    for (std::size_t j = 0; j < labels.shape()[1]; ++j) t(static_cast<std::size_t>(labels(0, j)), j) = 1.0;
    return t;
}

/// Each column a random probability distribution (positive, sums to 1).
matrix<double> random_distribution(std::size_t c, std::size_t m, std::uint64_t seed) {
    matrix<double> t = xgrad::test::random_matrix<double>(c, m, seed, 0.05, 1.0);
    for (std::size_t j = 0; j < m; ++j) {
        double s = 0;
        for (std::size_t i = 0; i < c; ++i) s += t(i, j);
        for (std::size_t i = 0; i < c; ++i) t(i, j) /= s;
    }
    return t;
}

/// e^z / Σ e^z per column, straight from the definition (moderate z only).
matrix<double> softmax_naive(const matrix<double>& z) {
    const std::size_t c = z.shape()[0], m = z.shape()[1];
    matrix<double> y(z.shape());
    for (std::size_t j = 0; j < m; ++j) {
        double s = 0;
        for (std::size_t i = 0; i < c; ++i) s += std::exp(z(i, j));
        for (std::size_t i = 0; i < c; ++i) y(i, j) = std::exp(z(i, j)) / s;
    }
    return y;
}

/// −(1/m) Σᵢⱼ tᵢⱼ log pᵢⱼ.
double cross_entropy_ref(const matrix<double>& p, const matrix<double>& t) {
    double s = 0;
    for (std::size_t k = 0; k < p.size(); ++k) s += t.data()[k] * std::log(p.data()[k]);
    return -s / static_cast<double>(p.shape()[1]);
}

double sigmoid_ref(double x) {
    return 1.0 / (1.0 + std::exp(-x));
}

/// −(1/m) Σ y log σ(z) + (1 − y) log(1 − σ(z)) (moderate z only).
double bce_logits_ref(const matrix<double>& z, const matrix<double>& y) {
    double s = 0;
    for (std::size_t k = 0; k < z.size(); ++k) {
        const double p = sigmoid_ref(z.data()[k]), t = y.data()[k];
        s += t * std::log(p) + (1 - t) * std::log(1 - p);
    }
    return -s / static_cast<double>(z.shape()[1]);
}

/// (1/(2m)) Σ (h − y)².
double mse_ref(const matrix<double>& h, const matrix<double>& y) {
    double s = 0;
    for (std::size_t k = 0; k < h.size(); ++k) s += (h.data()[k] - y.data()[k]) * (h.data()[k] - y.data()[k]);
    return s / (2.0 * static_cast<double>(h.shape()[1]));
}

bool close(double a, double b, double rtol, double atol) {
    return std::abs(a - b) <= atol + rtol * std::abs(b);
}

/// Loss value and dPrediction of loss(pred (variable), targets (constant)).
template <class Loss>
std::pair<double, matrix<double>> loss_and_grad(Loss loss, const matrix<double>& pred,
                                                const matrix<double>& t) {
    xgrad::graph<double> g;
    var<double> p = g.variable(pred, "pred");
    var<double> c = loss(p, g.constant(t, "targets"));
    g.backward(c);
    return {c.item(), p.grad()};
}

auto sce = [](const var<double>& z, const var<double>& t) { return xgrad::softmax_cross_entropy(z, t); };
auto composed_ce = [](const var<double>& z, const var<double>& t) {
    return xgrad::cross_entropy(xgrad::softmax(z), t);
};

std::string shape_text(std::size_t r, std::size_t c) {
    return xgrad::to_string(xgrad::shape2{r, c});
}

}  // namespace

// ---------------------------------------------------------------- softmax_cross_entropy (fused)

TEST_CASE("loss: softmax_cross_entropy value with one-hot and soft c x m targets", "[loss]") {
    std::uint64_t seed = 200;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed, -4.0, 4.0);
        const matrix<double> hard = onehot_ref(random_labels(c, m, seed + 1), c);
        const matrix<double> soft = random_distribution(c, m, seed + 2);
        seed += 3;
        for (const matrix<double>* t : {&hard, &soft}) {
            const double got = loss_and_grad(sce, z, *t).first;
            const double want = cross_entropy_ref(softmax_naive(z), *t);
            INFO("targets " << xgrad::test::show(*t) << "; got " << got << " want " << want);
            CHECK(close(got, want, 1e-13, 1e-15));
        }
    }
}

TEST_CASE("loss: softmax_cross_entropy value with 1 x m integer labels", "[loss]") {
    std::uint64_t seed = 220;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed, -4.0, 4.0);
        const matrix<double> labels = random_labels(c, m, seed + 1);
        seed += 2;
        const matrix<double> p = softmax_naive(z);
        double want = 0;  // −(1/m) Σⱼ log p(labelⱼ, j)
        for (std::size_t j = 0; j < m; ++j) want -= std::log(p(static_cast<std::size_t>(labels(0, j)), j));
        want /= static_cast<double>(m);
        const double got = loss_and_grad(sce, z, labels).first;
        INFO("got " << got << " want " << want);
        CHECK(close(got, want, 1e-13, 1e-15));
    }
}

TEST_CASE("loss: softmax_cross_entropy gradient is (softmax(Z) - T)/m", "[loss]") {
    std::uint64_t seed = 240;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed, -4.0, 4.0);
        const matrix<double> t = onehot_ref(random_labels(c, m, seed + 1), c);
        seed += 2;
        matrix<double> want = softmax_naive(z);
        for (std::size_t k = 0; k < want.size(); ++k) {
            want.data()[k] = (want.data()[k] - t.data()[k]) / static_cast<double>(m);
        }
        XGRAD_REQUIRE_CLOSE(loss_and_grad(sce, z, t).second, want, 1e-13, 1e-16);
    }
}

TEST_CASE("loss: softmax_cross_entropy labels form equals one-hot form (loss and dZ)", "[loss]") {
    std::uint64_t seed = 260;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed, -4.0, 4.0);
        const matrix<double> labels = random_labels(c, m, seed + 1);
        seed += 2;
        const auto by_labels = loss_and_grad(sce, z, labels);
        const auto by_onehot = loss_and_grad(sce, z, onehot_ref(labels, c));
        INFO("labels " << by_labels.first << " one-hot " << by_onehot.first);
        CHECK(close(by_labels.first, by_onehot.first, 1e-14, 0.0));  // same terms, summed in another order
        // Labels: k·y − k; one-hot: k·(y − 1), k = 1/m. Where y ≈ 1 the two cancel differently: an absolute
        // error of about one ulp of k (2.2e-16 at m = 1), hence atol 4e-16.
        XGRAD_REQUIRE_CLOSE(by_labels.second, by_onehot.second, 1e-14, 4e-16);
    }
}

TEST_CASE("loss: softmax_cross_entropy gradcheck over the logits (one-hot and labels)", "[loss]") {
    std::uint64_t seed = 280;
    for (auto [c, m] : kShapes) {
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed, -3.0, 3.0);
        const matrix<double> labels = random_labels(c, m, seed + 1);
        const matrix<double> t = onehot_ref(labels, c);
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        seed += 2;
        for (const matrix<double>* target : {&t, &labels}) {
            INFO("targets " << xgrad::test::show(*target));
            auto r = xgrad::gradcheck(
                [&](auto x) { return xgrad::softmax_cross_entropy(x[0], x[0].owner().constant(*target)); },
                {z});
            INFO(r.report);
            REQUIRE(r.ok);
        }
    }
}

TEST_CASE("loss: softmax_cross_entropy with targets that require a gradient: dT = -log softmax(Z)/m",
          "[loss]") {
    std::uint64_t seed = 300;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed, -3.0, 3.0);
        const matrix<double> t = random_distribution(c, m, seed + 1);
        seed += 2;
        auto r = xgrad::gradcheck([](auto x) { return xgrad::softmax_cross_entropy(x[0], x[1]); }, {z, t});
        INFO(r.report);
        REQUIRE(r.ok);

        xgrad::graph<double> g;
        var<double> zv = g.variable(z), tv = g.variable(t);
        g.backward(xgrad::softmax_cross_entropy(zv, tv));
        matrix<double> want = softmax_naive(z);
        for (auto& v : want) v = -std::log(v) / static_cast<double>(m);
        XGRAD_REQUIRE_CLOSE(tv.grad(), want, 1e-13, 1e-16);
    }
}

TEST_CASE("loss: fused and composed softmax cross-entropy agree on ordinary logits (1e-12)", "[loss]") {
    std::uint64_t seed = 320;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed, -5.0, 5.0);
        const matrix<double> labels = random_labels(c, m, seed + 1);
        seed += 2;
        for (const matrix<double>& t : {onehot_ref(labels, c), labels}) {
            INFO("targets " << xgrad::test::show(t));
            const auto fused = loss_and_grad(sce, z, t);
            const auto composed = loss_and_grad(composed_ce, z, t);
            INFO("fused " << fused.first << " composed " << composed.first);
            CHECK(close(fused.first, composed.first, 1e-12, 1e-12));
            XGRAD_REQUIRE_CLOSE(fused.second, composed.second, 1e-12, 1e-12);
        }
    }
}

TEST_CASE("loss: fused softmax_cross_entropy is finite on logits +-1000 and +-1e4 where composed is not",
          "[loss]") {
    const matrix<double> z = {{1000.0, 1000.0, -1e4}, {-1000.0, -1000.0, 1e4}};
    const matrix<double> t = {{0.0, 1.0, 1.0},
                              {1.0, 0.0, 0.0}};  // columns 0 and 2: the losing class is right
    const auto fused = loss_and_grad(sce, z, t);
    // Column losses: lse − z_target = 2000, 0 (+ e^−2000), 2e4; mean over 3 columns.
    CHECK(close(fused.first, (2000.0 + 0.0 + 2e4) / 3.0, 1e-15, 0.0));
    const matrix<double> want_dz = {{1.0 / 3, 0.0, -1.0 / 3}, {-1.0 / 3, 0.0, 1.0 / 3}};  // (Y − T)/m
    XGRAD_REQUIRE_CLOSE(fused.second, want_dz, 1e-15, 1e-300);

    const auto composed = loss_and_grad(composed_ce, z, t);  // log(softmax) = log 0 = −∞
    INFO("composed loss " << composed.first << ", dZ " << xgrad::test::show(composed.second));
    CHECK_FALSE(std::isfinite(composed.first));
    bool any_bad = false;
    for (double v : composed.second) any_bad = any_bad || !std::isfinite(v);
    CHECK(any_bad);
}

TEST_CASE("loss: softmax_cross_entropy rejects labels out of range / negative / non-integer / NaN",
          "[loss]") {
    const matrix<double> z = xgrad::test::random_matrix<double>(3, 4, 340);
    for (double bad : {3.0, 7.0, -1.0, 1.5, kNaN, std::numeric_limits<double>::infinity()}) {
        INFO("bad label " << bad);
        xgrad::graph<double> g;
        var<double> zv = g.variable(z);
        var<double> l = g.constant({{0.0, 2.0, bad, 1.0}});
        const std::string msg = message_of<xgrad::shape_error>([&] { xgrad::softmax_cross_entropy(zv, l); });
        CHECK_THAT(msg, Contains("softmax_cross_entropy") && Contains("label") && Contains("[0, 3)"));
    }
}

TEST_CASE("loss: softmax_cross_entropy targets of the wrong shape throw naming both shapes", "[loss]") {
    xgrad::graph<double> g;
    var<double> z = g.variable(matrix<double>({3, 4}, 0.0));
    for (auto [r, c] : std::vector<std::pair<std::size_t, std::size_t>>{{3, 5}, {2, 4}, {1, 5}, {4, 3}}) {
        INFO("targets [" << r << "x" << c << "]");
        var<double> t = g.constant(matrix<double>({r, c}, 0.0));
        const std::string msg = message_of<xgrad::shape_error>([&] { xgrad::softmax_cross_entropy(z, t); });
        CHECK_THAT(msg, Contains("softmax_cross_entropy") && Contains(shape_text(3, 4)) &&
                            Contains(shape_text(r, c)));
    }
}

TEST_CASE("loss: integer labels cannot require a gradient", "[loss]") {
    const matrix<double> z = xgrad::test::random_matrix<double>(3, 2, 350);
    const matrix<double> labels = {{0.0, 2.0}};
    {
        xgrad::graph<double> g;
        var<double> zv = g.variable(z), lv = g.variable(labels);
        CHECK_THAT(message_of<xgrad::shape_error>([&] { xgrad::cross_entropy(xgrad::softmax(zv), lv); }),
                   Contains("cross_entropy") && Contains("labels"));
    }
    {
        // The fused op refuses them when it is recorded, like the composed one.
        xgrad::graph<double> g;
        var<double> zv = g.variable(z), lv = g.variable(labels);
        CHECK_THAT(message_of<xgrad::shape_error>([&] { xgrad::softmax_cross_entropy(zv, lv); }),
                   Contains("softmax_cross_entropy") && Contains("labels"));
        // Under no_grad nothing will be differentiated, so the loss is simply evaluated.
        xgrad::no_grad ng;
        CHECK(std::isfinite(xgrad::softmax_cross_entropy(zv, lv).item()));
    }
}

TEST_CASE("loss: softmax_cross_entropy in float matches double", "[loss]") {
    const std::size_t c = 5, m = 6;
    const matrix<double> zd0 = xgrad::test::random_matrix<double>(c, m, 360, -6.0, 6.0);
    const matrix<double> labels = random_labels(c, m, 361);
    matrix<float> zf(zd0.shape()), tf(zd0.shape());
    matrix<double> zd(zd0.shape());
    const matrix<double> t = onehot_ref(labels, c);
    for (std::size_t k = 0; k < zd.size(); ++k) {
        zf.data()[k] = static_cast<float>(zd0.data()[k]);
        zd.data()[k] = static_cast<double>(zf.data()[k]);  // the same (rounded) logits in double
        tf.data()[k] = static_cast<float>(t.data()[k]);
    }
    xgrad::graph<float> g;
    var<float> zv = g.variable(zf);
    var<float> loss = xgrad::softmax_cross_entropy(zv, g.constant(tf));
    g.backward(loss);
    const auto want = loss_and_grad(sce, zd, t);
    INFO("float " << loss.item() << " double " << want.first);
    CHECK(close(static_cast<double>(loss.item()), want.first, 1e-5, 1e-6));
    matrix<double> dz(zd.shape());
    for (std::size_t k = 0; k < dz.size(); ++k) dz.data()[k] = static_cast<double>(zv.grad().data()[k]);
    XGRAD_REQUIRE_CLOSE(dz, want.second, 1e-5, 1e-7);

    // And the float version stays finite on huge logits.
    xgrad::graph<float> g2;
    var<float> big = g2.variable(matrix<float>{{1e4f, -1e4f}, {-1e4f, 1e4f}});
    var<float> l2 = xgrad::softmax_cross_entropy(big, g2.constant(matrix<float>{{0.0f, 0.0f}, {1.0f, 1.0f}}));
    g2.backward(l2);
    CHECK(l2.item() == 1e4f);  // (2e4 + 0)/2
    for (float v : big.grad()) CHECK(std::isfinite(v));
}

// ---------------------------------------------------------------- cross_entropy (composed, on probabilities)

TEST_CASE("loss: cross_entropy on probabilities matches -(1/m) sum t log p (one-hot / soft / labels)",
          "[loss]") {
    std::uint64_t seed = 380;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> p = random_distribution(c, m, seed);
        const matrix<double> labels = random_labels(c, m, seed + 1);
        const matrix<double> hard = onehot_ref(labels, c);
        const matrix<double> soft = random_distribution(c, m, seed + 2);
        seed += 3;
        auto ce = [](const var<double>& a, const var<double>& b) { return xgrad::cross_entropy(a, b); };
        CHECK(close(loss_and_grad(ce, p, hard).first, cross_entropy_ref(p, hard), 1e-13, 1e-15));
        CHECK(close(loss_and_grad(ce, p, soft).first, cross_entropy_ref(p, soft), 1e-13, 1e-15));
        CHECK(close(loss_and_grad(ce, p, labels).first, cross_entropy_ref(p, hard), 1e-13, 1e-15));
        // dP = −T/(m·P)
        matrix<double> want(p.shape());
        for (std::size_t k = 0; k < p.size(); ++k) {
            want.data()[k] = -soft.data()[k] / (static_cast<double>(m) * p.data()[k]);
        }
        XGRAD_REQUIRE_CLOSE(loss_and_grad(ce, p, soft).second, want, 1e-13, 1e-16);
    }
}

TEST_CASE("loss: cross_entropy gradcheck over probabilities and soft targets", "[loss]") {
    std::uint64_t seed = 400;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> p = xgrad::test::random_matrix<double>(c, m, seed, 0.1, 1.0);
        const matrix<double> labels = random_labels(c, m, seed + 1);
        const matrix<double> t = random_distribution(c, m, seed + 2);
        seed += 3;
        auto r1 = xgrad::gradcheck(
            [&](auto x) { return xgrad::cross_entropy(x[0], x[0].owner().constant(labels)); }, {p});
        INFO(r1.report);
        REQUIRE(r1.ok);
        auto r2 = xgrad::gradcheck([](auto x) { return xgrad::cross_entropy(x[0], x[1]); }, {p, t});
        INFO(r2.report);
        REQUIRE(r2.ok);
    }
}

TEST_CASE("loss: cross_entropy targets of the wrong shape throw naming both shapes", "[loss]") {
    xgrad::graph<double> g;
    var<double> p = g.variable(matrix<double>({3, 4}, 0.25));
    for (auto [r, c] : std::vector<std::pair<std::size_t, std::size_t>>{{3, 5}, {2, 4}, {1, 5}}) {
        INFO("targets [" << r << "x" << c << "]");
        var<double> t = g.constant(matrix<double>({r, c}, 0.0));
        const std::string msg = message_of<xgrad::shape_error>([&] { xgrad::cross_entropy(p, t); });
        CHECK_THAT(msg,
                   Contains("cross_entropy") && Contains(shape_text(3, 4)) && Contains(shape_text(r, c)));
    }
}

// Logits passed where probabilities belong used to give NaN (log of a negative number) or a made-up loss;
// like binary_cross_entropy, cross_entropy refuses them, says where, and points to the loss for logits.
TEST_CASE("loss: cross_entropy refuses values outside [0, 1] and suggests softmax_cross_entropy",
          "[loss][edge]") {
    const matrix<double> hard = {{1.0, 0.0}, {0.0, 1.0}};
    const matrix<double> labels = {{0.0, 1.0}};
    for (double bad : {-1.0, 3.5, kNaN, std::numeric_limits<double>::infinity()}) {
        for (const bool use_labels : {false, true}) {
            INFO("bad " << bad << (use_labels ? ", label targets" : ", one-hot targets"));
            xgrad::graph<double> g;
            var<double> z = g.variable(matrix<double>{{0.5, bad}, {0.5, 0.25}}, "Z");
            var<double> t = g.constant(use_labels ? labels : hard, "T");
            const std::size_t before = g.size();
            std::uint_least32_t line = 0;
            const std::string msg = message_of<xgrad::shape_error>(
                [&] { line = std::source_location::current().line(), (void)xgrad::cross_entropy(z, t); });
            CHECK_THAT(msg, Contains("cross_entropy: ") && Contains(fmt::format("{}", bad)) &&
                                Contains("(0, 1)") && Contains("[0, 1]") &&
                                Contains("softmax_cross_entropy") &&
                                Contains("loss_test.cpp:" + std::to_string(line)));
            CHECK(g.size() == before);  // nothing recorded
        }
    }
    // the edges 0 and 1 are probabilities
    xgrad::graph<double> g;
    var<double> p = g.variable(matrix<double>{{1.0, 0.0}, {0.0, 1.0}}, "P");
    CHECK(xgrad::cross_entropy(p, g.constant(hard)).item() == 0.0);
}

// Regression: cross_entropy converts labels with one_hot, whose graph_error ("one_hot: label …", no call
// site) used to escape; like the fused softmax_cross_entropy it throws shape_error naming itself.
TEST_CASE("loss: cross_entropy with bad labels throws shape_error naming cross_entropy", "[loss]") {
    const matrix<double> p = random_distribution(3, 4, 420);
    for (double bad : {3.0, -1.0, 1.5, kNaN}) {
        INFO("bad label " << bad);
        xgrad::graph<double> g;
        var<double> pv = g.variable(p);
        var<double> l = g.constant({{0.0, 2.0, bad, 1.0}});
        std::string kind = "nothing thrown", msg;
        try {
            xgrad::cross_entropy(pv, l);
        } catch (const xgrad::shape_error& e) {
            kind = "shape_error", msg = e.what();
        } catch (const xgrad::error& e) {
            kind = "another xgrad::error", msg = e.what();
        }
        INFO(kind << ": " << msg);
        CHECK(kind == "shape_error");
        CHECK_THAT(msg, Contains("cross_entropy") && Contains("label"));
    }
}

// ---------------------------------------------------------------- empty batch, shared by every loss

TEST_CASE("loss: every loss throws shape_error on an empty batch (0 columns)", "[loss]") {
    using loss_fn = var<double> (*)(const var<double>&, const var<double>&, std::source_location);
    const std::vector<std::pair<const char*, loss_fn>> losses = {
        {"softmax_cross_entropy", &xgrad::softmax_cross_entropy<double>},
        {"cross_entropy", &xgrad::cross_entropy<double>},
        {"bce_with_logits", &xgrad::bce_with_logits<double>},
        {"binary_cross_entropy", &xgrad::binary_cross_entropy<double>},
        {"mse", &xgrad::mse<double>}};
    for (const auto& [name, fn] : losses) {
        INFO(name);
        xgrad::graph<double> g;
        var<double> p = g.variable(matrix<double>({3, 0}));
        var<double> t = g.constant(matrix<double>({3, 0}));
        const auto here = std::source_location::current();
        CHECK_THAT(message_of<xgrad::shape_error>([&] { fn(p, t, here); }),
                   Contains(name) && Contains("empty"));
    }
    // Labels form of the two classification losses: [1×0] labels for [3×0] logits.
    xgrad::graph<double> g;
    var<double> z = g.variable(matrix<double>({3, 0}));
    var<double> l = g.constant(matrix<double>({1, 0}));
    CHECK_THROWS_AS(xgrad::softmax_cross_entropy(z, l), xgrad::shape_error);
    CHECK_THROWS_AS(xgrad::cross_entropy(z, l), xgrad::shape_error);
}

// ---------------------------------------------------------------- bce_with_logits

TEST_CASE("loss: bce_with_logits value is -(1/m) sum y log s(z) + (1-y) log(1-s(z))", "[loss]") {
    std::uint64_t seed = 440;
    for (auto [r, m] : std::vector<std::pair<std::size_t, std::size_t>>{{1, 5}, {1, 1}, {3, 4}, {4, 1}}) {
        INFO("seed " << seed << ", shape [" << r << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(r, m, seed, -5.0, 5.0);
        const matrix<double> y = xgrad::test::random_matrix<double>(r, m, seed + 1, 0.0, 1.0);
        seed += 2;
        auto bce = [](const var<double>& a, const var<double>& b) { return xgrad::bce_with_logits(a, b); };
        const auto got = loss_and_grad(bce, z, y);
        INFO("got " << got.first << " want " << bce_logits_ref(z, y));
        CHECK(close(got.first, bce_logits_ref(z, y), 1e-13, 1e-15));  // 1/m: the rows are summed
        matrix<double> want(z.shape());                               // dZ = (σ(Z) − Y)/m
        for (std::size_t k = 0; k < z.size(); ++k) {
            want.data()[k] = (sigmoid_ref(z.data()[k]) - y.data()[k]) / static_cast<double>(m);
        }
        XGRAD_REQUIRE_CLOSE(got.second, want, 1e-13, 1e-16);
    }
}

TEST_CASE("loss: bce_with_logits gradcheck over logits and over logits and targets", "[loss]") {
    std::uint64_t seed = 460;
    for (auto [r, m] :
         std::vector<std::pair<std::size_t, std::size_t>>{{1, 5}, {1, 1}, {3, 4}, {4, 1}, {2, 6}}) {
        INFO("seed " << seed << ", shape [" << r << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(r, m, seed, -4.0, 4.0);
        const matrix<double> y = xgrad::test::random_matrix<double>(r, m, seed + 1, 0.0, 1.0);
        seed += 2;
        auto r1 = xgrad::gradcheck(
            [&](auto x) { return xgrad::bce_with_logits(x[0], x[0].owner().constant(y)); }, {z});
        INFO(r1.report);
        REQUIRE(r1.ok);
        auto r2 = xgrad::gradcheck([](auto x) { return xgrad::bce_with_logits(x[0], x[1]); }, {z, y});
        INFO(r2.report);
        REQUIRE(r2.ok);
    }
}

TEST_CASE("loss: bce_with_logits at logits +-1000 is finite and exact", "[loss]") {
    const matrix<double> z = {{1000.0, -1000.0, 1000.0, -1000.0}};
    const matrix<double> y = {{0.0, 1.0, 1.0, 0.0}};
    auto bce = [](const var<double>& a, const var<double>& b) { return xgrad::bce_with_logits(a, b); };
    const auto got = loss_and_grad(bce, z, y);
    // Column losses softplus(z) − z·y: 1000, 1000, 0, 0 (up to e^−1000); mean over m = 4.
    CHECK(close(got.first, 500.0, 1e-15, 0.0));
    XGRAD_REQUIRE_CLOSE(got.second, (matrix<double>{{0.25, -0.25, 0.0, 0.0}}), 1e-15, 1e-300);
}

TEST_CASE("loss: bce_with_logits equals binary_cross_entropy(sigmoid(z)) on moderate logits", "[loss]") {
    const matrix<double> z = xgrad::test::random_matrix<double>(2, 6, 480, -6.0, 6.0);
    const matrix<double> y = xgrad::test::random_matrix<double>(2, 6, 481, 0.0, 1.0);
    const auto fused = loss_and_grad(
        [](const var<double>& a, const var<double>& b) { return xgrad::bce_with_logits(a, b); }, z, y);
    const auto composed =
        loss_and_grad([](const var<double>& a,
                         const var<double>& b) { return xgrad::binary_cross_entropy(xgrad::sigmoid(a), b); },
                      z, y);
    INFO("fused " << fused.first << " composed " << composed.first);
    CHECK(close(fused.first, composed.first, 1e-12, 1e-14));
    XGRAD_REQUIRE_CLOSE(fused.second, composed.second, 1e-10, 1e-14);
}

namespace {
/// dZ of bce_with_logits as the op documents it, element by element (σ without overflow, as sigmoid).
template <class T>
matrix<T> bce_dz_formula(const matrix<T>& z, const matrix<T>& y) {
    const T k = T(1) / static_cast<T>(z.shape()[1]);
    matrix<T> d(z.shape());
    for (std::size_t n = 0; n < z.size(); ++n) {
        const T zi = z.data()[n];
        const T e = std::exp(-std::abs(zi)), r = T(1) / (T(1) + e);
        const T mz = static_cast<T>(zi >= T(0));
        d.data()[n] = k * (r * (mz + (T(1) - mz) * e) - y.data()[n]);
    }
    return d;
}

template <class T>
void check_bce_saved_exp() {
    xgrad::graph<T> g;
    // The graph is recorded again with other shapes: the saved e^(−|Z|) buffer follows them.
    std::uint64_t seed = 700;
    for (auto [r, m] : std::vector<std::pair<std::size_t, std::size_t>>{{1, 4}, {3, 5}, {1, 4}, {2, 1}}) {
        INFO("shape [" << r << "x" << m << "]");
        const matrix<T> z = xgrad::test::random_matrix<T>(r, m, seed++, T(-8), T(8));
        const matrix<T> y = xgrad::test::random_matrix<T>(r, m, seed++, T(0), T(1));
        g.clear();
        const var<T> zv = g.variable(z);
        const var<T> yv = g.variable(y);
        g.backward(xgrad::bce_with_logits(zv, yv));
        const matrix<T> want = bce_dz_formula(z, y);
        REQUIRE(std::memcmp(zv.grad().data(), want.data(), want.size() * sizeof(T)) == 0);  // bit for bit
        for (std::size_t n = 0; n < z.size(); ++n) {
            CHECK(yv.grad().data()[n] == -(T(1) / static_cast<T>(m)) * z.data()[n]);  // dY = −Z/m
        }
    }
    // Only the targets need a gradient: forward saves nothing, backward reads nothing saved.
    g.clear();
    const matrix<T> z = xgrad::test::random_matrix<T>(2, 3, 710, T(-3), T(3));
    const var<T> yv = g.variable(xgrad::test::random_matrix<T>(2, 3, 711, T(0), T(1)));
    g.backward(xgrad::bce_with_logits(g.constant(z), yv));
    for (std::size_t n = 0; n < z.size(); ++n) CHECK(yv.grad().data()[n] == -(T(1) / T(3)) * z.data()[n]);
}
}  // namespace

TEST_CASE(
    "loss: bce_with_logits' dZ from the saved e^(-|z|) is the formula's, bit for bit, across re-recordings",
    "[loss]") {
    check_bce_saved_exp<float>();
    check_bce_saved_exp<double>();
}

TEST_CASE("loss: bce_with_logits targets of the wrong shape throw naming both shapes", "[loss]") {
    xgrad::graph<double> g;
    var<double> z = g.variable(matrix<double>({1, 4}, 0.0));
    var<double> y = g.constant(matrix<double>({1, 5}, 0.0));
    CHECK_THAT(message_of<xgrad::shape_error>([&] { xgrad::bce_with_logits(z, y); }),
               Contains("bce_with_logits") && Contains(shape_text(1, 4)) && Contains(shape_text(1, 5)));
}

// ---------------------------------------------------------------- binary_cross_entropy

TEST_CASE("loss: binary_cross_entropy value and gradient (P - Y)/(m P(1-P))", "[loss]") {
    std::uint64_t seed = 500;
    for (auto [r, m] : std::vector<std::pair<std::size_t, std::size_t>>{{1, 5}, {1, 1}, {3, 4}, {4, 1}}) {
        INFO("seed " << seed << ", shape [" << r << "x" << m << "]");
        const matrix<double> p = xgrad::test::random_matrix<double>(r, m, seed, 0.02, 0.98);
        const matrix<double> y = xgrad::test::random_matrix<double>(r, m, seed + 1, 0.0, 1.0);
        seed += 2;
        double want = 0;
        matrix<double> want_dp(p.shape());
        for (std::size_t k = 0; k < p.size(); ++k) {
            const double pk = p.data()[k], yk = y.data()[k];
            want -= yk * std::log(pk) + (1 - yk) * std::log(1 - pk);
            want_dp.data()[k] = (pk - yk) / (static_cast<double>(m) * pk * (1 - pk));
        }
        want /= static_cast<double>(m);
        const auto got = loss_and_grad(
            [](const var<double>& a, const var<double>& b) { return xgrad::binary_cross_entropy(a, b); }, p,
            y);
        INFO("got " << got.first << " want " << want);
        CHECK(close(got.first, want, 1e-13, 1e-15));
        XGRAD_REQUIRE_CLOSE(got.second, want_dp, 1e-13, 1e-16);
    }
}

TEST_CASE("loss: binary_cross_entropy gradcheck over probabilities and over probabilities and targets",
          "[loss]") {
    std::uint64_t seed = 520;
    for (auto [r, m] : std::vector<std::pair<std::size_t, std::size_t>>{{1, 5}, {1, 1}, {3, 4}, {4, 1}}) {
        INFO("seed " << seed << ", shape [" << r << "x" << m << "]");
        const matrix<double> p = xgrad::test::random_matrix<double>(r, m, seed, 0.1, 0.9);
        const matrix<double> y = xgrad::test::random_matrix<double>(r, m, seed + 1, 0.0, 1.0);
        seed += 2;
        auto r1 = xgrad::gradcheck(
            [&](auto x) { return xgrad::binary_cross_entropy(x[0], x[0].owner().constant(y)); }, {p});
        INFO(r1.report);
        REQUIRE(r1.ok);
        auto r2 = xgrad::gradcheck([](auto x) { return xgrad::binary_cross_entropy(x[0], x[1]); }, {p, y});
        INFO(r2.report);
        REQUIRE(r2.ok);
    }
}

TEST_CASE("loss: binary_cross_entropy with p exactly 0 or 1 is finite (log clamped at -100)", "[loss]") {
    const matrix<double> p = {{0.0, 1.0, 0.0, 1.0}};
    const matrix<double> y = {{1.0, 0.0, 0.0, 1.0}};
    const auto got = loss_and_grad(
        [](const var<double>& a, const var<double>& b) { return xgrad::binary_cross_entropy(a, b); }, p, y);
    // Column losses: −log 0 → 100, −log(1 − 1) → 100, 0, 0; mean over m = 4.
    CHECK(got.first == 50.0);
    INFO("dP " << xgrad::test::show(got.second));
    for (double v : got.second) CHECK(std::isfinite(v));
    CHECK(got.second(0, 0) < 0.0);  // raising p toward y = 1 lowers the loss
    CHECK(got.second(0, 1) > 0.0);
}

TEST_CASE("loss: binary_cross_entropy rejects probabilities outside 0..1", "[loss]") {
    for (double bad : {-0.1, 1.1, -1e-12, kNaN, std::numeric_limits<double>::infinity()}) {
        INFO("p = " << bad);
        xgrad::graph<double> g;
        var<double> p = g.variable({{0.5, bad}});
        var<double> y = g.constant({{1.0, 0.0}});
        CHECK_THAT(message_of<xgrad::shape_error>([&] { xgrad::binary_cross_entropy(p, y); }),
                   Contains("binary_cross_entropy") && Contains("[0, 1]"));
    }
}

TEST_CASE("loss: binary_cross_entropy targets of the wrong shape throw naming both shapes", "[loss]") {
    xgrad::graph<double> g;
    var<double> p = g.variable(matrix<double>({2, 3}, 0.5));
    var<double> y = g.constant(matrix<double>({3, 2}, 0.0));
    CHECK_THAT(message_of<xgrad::shape_error>([&] { xgrad::binary_cross_entropy(p, y); }),
               Contains("binary_cross_entropy") && Contains(shape_text(2, 3)) && Contains(shape_text(3, 2)));
}

// ---------------------------------------------------------------- mse

TEST_CASE("loss: mse value is (1/(2m)) sum (h-y)^2 and dH = (H - Y)/m and dY = -(H - Y)/m", "[loss]") {
    std::uint64_t seed = 540;
    for (auto [r, m] : std::vector<std::pair<std::size_t, std::size_t>>{{1, 5}, {1, 1}, {3, 4}, {4, 1}}) {
        INFO("seed " << seed << ", shape [" << r << "x" << m << "]");
        const matrix<double> h = xgrad::test::random_matrix<double>(r, m, seed, -2.0, 2.0);
        const matrix<double> y = xgrad::test::random_matrix<double>(r, m, seed + 1, -2.0, 2.0);
        seed += 2;
        xgrad::graph<double> g;
        var<double> hv = g.variable(h), yv = g.variable(y);
        var<double> c = xgrad::mse(hv, yv);
        g.backward(c);
        INFO("got " << c.item() << " want " << mse_ref(h, y));
        CHECK(close(c.item(), mse_ref(h, y), 1e-14, 1e-16));
        matrix<double> want(h.shape());
        for (std::size_t k = 0; k < h.size(); ++k) {
            want.data()[k] = (h.data()[k] - y.data()[k]) / static_cast<double>(m);
        }
        XGRAD_REQUIRE_CLOSE(hv.grad(), want, 1e-14, 1e-16);
        for (auto& v : want) v = -v;
        XGRAD_REQUIRE_CLOSE(yv.grad(), want, 1e-14, 1e-16);
    }
}

TEST_CASE("loss: mse gradcheck over predictions and over predictions and targets", "[loss]") {
    std::uint64_t seed = 560;
    for (auto [r, m] :
         std::vector<std::pair<std::size_t, std::size_t>>{{1, 5}, {1, 1}, {3, 4}, {4, 1}, {2, 6}}) {
        INFO("seed " << seed << ", shape [" << r << "x" << m << "]");
        const matrix<double> h = xgrad::test::random_matrix<double>(r, m, seed, -2.0, 2.0);
        const matrix<double> y = xgrad::test::random_matrix<double>(r, m, seed + 1, -2.0, 2.0);
        seed += 2;
        auto r1 = xgrad::gradcheck([&](auto x) { return xgrad::mse(x[0], x[0].owner().constant(y)); }, {h});
        INFO(r1.report);
        REQUIRE(r1.ok);
        auto r2 = xgrad::gradcheck([](auto x) { return xgrad::mse(x[0], x[1]); }, {h, y});
        INFO(r2.report);
        REQUIRE(r2.ok);
    }
}

TEST_CASE("loss: mse targets of the wrong shape throw naming both shapes", "[loss]") {
    xgrad::graph<double> g;
    var<double> h = g.variable(matrix<double>({1, 4}, 0.0));
    var<double> y = g.constant(matrix<double>({4, 1}, 0.0));
    CHECK_THAT(message_of<xgrad::shape_error>([&] { xgrad::mse(h, y); }),
               Contains("mse") && Contains(shape_text(1, 4)) && Contains(shape_text(4, 1)));
}

// ---------------------------------------------------------------- one_hot

TEST_CASE("loss: one_hot builds classes x m with a 1 in row label_j of column j", "[loss]") {
    const matrix<double> labels = random_labels(4, 9, 580);
    XGRAD_REQUIRE_CLOSE(xgrad::one_hot(labels, 4), onehot_ref(labels, 4), 0.0, 0.0);
    const matrix<float> lf = {{2.0f, 0.0f}};
    const matrix<float> of = xgrad::one_hot(lf, 3);
    CHECK(of.shape()[0] == 3);
    CHECK(of.shape()[1] == 2);
    CHECK(of(2, 0) == 1.0f);
    CHECK(of(0, 1) == 1.0f);
    CHECK(of(0, 0) + of(1, 0) + of(1, 1) + of(2, 1) == 0.0f);
}

TEST_CASE("loss: one_hot rejects bad labels and non-row input with graph_error", "[loss]") {
    for (double bad : {4.0, -1.0, 0.5, kNaN}) {
        INFO("bad label " << bad);
        CHECK_THAT(message_of<xgrad::graph_error>([&] {
                       xgrad::one_hot(matrix<double>{{1.0, bad}}, 4);
                   }),
                   Contains("one_hot") && Contains("label"));
    }
    CHECK_THAT(message_of<xgrad::graph_error>([] {
                   xgrad::one_hot(matrix<double>({2, 3}, 0.0), 4);
               }),
               Contains("one_hot") && Contains(shape_text(2, 3)));
}

// ---------------------------------------------------------------- stale gradient buffers

// Regression: every loss backward once wrote contribution + β·G with β = 0 for a zeroed gradient, so a NaN
// left in the reused buffer by an earlier backward survived as 0·NaN = NaN (now write_gradient in op.hpp).
TEST_CASE("loss: backward after zero_grad overwrites a stale NaN gradient (regression: 0*NaN from beta*G)",
          "[loss]") {
    using loss_fn = var<double> (*)(const var<double>&, const var<double>&, std::source_location);
    const matrix<double> z = xgrad::test::random_matrix<double>(3, 4, 600, 0.1, 0.9);
    const matrix<double> t = random_distribution(3, 4, 601);
    const std::vector<std::pair<const char*, loss_fn>> losses = {
        {"softmax_cross_entropy", &xgrad::softmax_cross_entropy<double>},
        {"bce_with_logits", &xgrad::bce_with_logits<double>},
        {"binary_cross_entropy", &xgrad::binary_cross_entropy<double>},
        {"mse", &xgrad::mse<double>}};
    for (const auto& [name, fn] : losses) {
        INFO(name);
        xgrad::graph<double> g;
        var<double> p = g.variable(z), y = g.variable(t);
        var<double> c = fn(p, y, std::source_location::current());
        g.backward(c, matrix<double>({1, 1}, kNaN));  // a bad step leaves NaN in both gradient buffers
        g.zero_grad();
        g.backward(c);
        bool finite = true;
        for (double v : p.grad()) finite = finite && std::isfinite(v);
        for (double v : y.grad()) finite = finite && std::isfinite(v);
        INFO("dP " << xgrad::test::show(p.grad()) << " dY " << xgrad::test::show(y.grad()));
        CHECK(finite);
    }
}

TEST_CASE("loss: fused gradient after a NaN composed step on the same logits is finite (regression: 0*NaN)",
          "[loss]") {
    // The realistic path to the regression above: the composed loss overflows, the user zeroes and switches
    // to the fused loss on the same graph, and the fused gradient inherits the NaN.
    xgrad::graph<double> g;
    var<double> z = g.variable({{1000.0}, {-1000.0}}, "Z");
    var<double> t = g.constant({{0.0}, {1.0}});
    g.backward(xgrad::cross_entropy(xgrad::softmax(z), t));
    REQUIRE_FALSE(std::isfinite(z.grad()(0, 0) + z.grad()(1, 0)));
    g.zero_grad();
    g.backward(xgrad::softmax_cross_entropy(z, t));
    XGRAD_REQUIRE_CLOSE(z.grad(), (matrix<double>{{1.0}, {-1.0}}), 0.0, 0.0);
}
