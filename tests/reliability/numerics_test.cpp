// Numerics at the edges (issue 7): extreme logits stay finite where the op is meant to be total, log(0) is
// guarded where the op promises it, NaN/Inf never enter through the data loaders, and a diverging run is
// stopped by anomaly mode naming the op instead of silently producing NaN weights.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "reliability.hpp"

namespace {

using xgrad::matrix;
using xgrad::var;

template <class T>
bool all_finite(const matrix<T>& m) {
    for (const T v : m)
        if (!std::isfinite(v)) return false;
    return true;
}

/// Value and gradient with respect to z of loss(z, t), t a constant.
template <class T, class F>
std::pair<T, matrix<T>> loss_and_grad(F&& loss, const matrix<T>& z, const matrix<T>& t) {
    xgrad::graph<T> g;
    var<T> zv = g.variable(z, "Z");
    var<T> c = loss(zv, g.constant(t, "T"));
    g.backward(c);
    return {c.item(), zv.grad()};
}

template <class T>
matrix<T> extreme_logits() {
    // Columns: a confident right answer, a confident wrong one, ±1e4 against 0, all equal.
    return matrix<T>{
        {T(1e4), T(-1e4), T(0), T(-1e4)}, {T(-1e4), T(1e4), T(1e4), T(-1e4)}, {T(0), T(0), T(-1e4), T(-1e4)}};
}

}  // namespace

TEMPLATE_TEST_CASE("numerics: softmax and log_softmax of logits ±1e4 are finite with finite gradients",
                   "[reliability][numerics]", float, double) {
    using T = TestType;
    const matrix<T> z = extreme_logits<T>();
    for (const bool log_form : {false, true}) {
        INFO((log_form ? "log_softmax" : "softmax"));
        xgrad::graph<T> g;
        g.set_anomaly_mode(true);  // any NaN/Inf in forward or backward would throw
        var<T> zv = g.variable(z, "Z");
        var<T> y = log_form ? xgrad::log_softmax(zv) : xgrad::softmax(zv);
        const matrix<T> w = xgrad::test::random_matrix<T>(3, 4, 5);
        var<T> c = xgrad::sum(y * g.constant(w));
        REQUIRE_NOTHROW(g.backward(c));
        CHECK(all_finite(y.value()));
        CHECK(all_finite(zv.grad()));
        for (std::size_t j = 0; j < 4; ++j) {
            T s = 0;
            for (std::size_t i = 0; i < 3; ++i) s += log_form ? std::exp(y.value()(i, j)) : y.value()(i, j);
            // z − lse is rounded to the spacing of T near |z| = 1e4, so e^y carries that absolute error.
            CHECK(std::abs(s - T(1)) <= T(4e4) * std::numeric_limits<T>::epsilon());
        }
    }
}

TEMPLATE_TEST_CASE("numerics: softmax_cross_entropy of logits ±1e4 is finite and exact, one-hot and labels",
                   "[reliability][numerics]", float, double) {
    using T = TestType;
    const matrix<T> z = extreme_logits<T>();
    const matrix<T> labels{{T(0), T(0), T(2), T(1)}};
    const matrix<T> onehot = xgrad::one_hot(labels, 3);
    const auto sce = [](const var<T>& a, const var<T>& b) { return xgrad::softmax_cross_entropy(a, b); };
    const auto [l1, d1] = loss_and_grad<T>(sce, z, labels);
    const auto [l2, d2] = loss_and_grad<T>(sce, z, onehot);
    // Column losses lse − z_label: 0, 2e4, 2e4, log 3; mean over 4 columns.
    const double want = (0.0 + 2e4 + 2e4 + std::log(3.0)) / 4.0;
    CHECK(std::abs(double(l1) - want) <= 1e-6 * want);
    CHECK(l1 == l2);
    CHECK(all_finite(d1));
    CHECK(all_finite(d2));
    CHECK(xt::all(xt::equal(d1, d2)));
    // dZ = (softmax − T)/m: column 1 is (0, 1, 0) − (1, 0, 0) over 4.
    CHECK(d1(0, 1) == T(-0.25));
    CHECK(d1(1, 1) == T(0.25));
}

// log-probabilities near 0 (a confident class) must keep their relative precision. A column
// [c, c − 20, …, c − 20] of n classes has log-probabilities −log(1 + (n−1)e^−20) ≈ −(n−1)·2.1e-9 for the
// first class and −20 minus that for the others. Computing z − (max + log s) loses it twice: 1 + (n−1)e^−20
// rounds to 1 in float (log s = 0, relative error 1), and max + log s rounds log s to the spacing of max
// (c = 30 in double: 3.6e-15 / 1.9e-8 ≈ 2e-7). (z − max) − log1p(Σ of the terms below the max) keeps both.
// The exact values are computed here in long double from the formula above.
TEMPLATE_TEST_CASE("numerics: log_softmax and softmax_cross_entropy keep near-zero log-probabilities precise",
                   "[reliability][numerics]", float, double) {
    using T = TestType;
    const std::vector<double> offsets = {0.0, 30.0, -30.0, 1000.0};
    for (const std::size_t n : {std::size_t(2), std::size_t(10), std::size_t(100), std::size_t(1000)}) {
        const std::size_t m = offsets.size();
        matrix<T> z({n, m});
        for (std::size_t j = 0; j < m; ++j) {
            for (std::size_t i = 0; i < n; ++i) z(i, j) = static_cast<T>(offsets[j] - (i == 0 ? 0.0 : 20.0));
        }
        const long double lp0 = -std::log1p(static_cast<long double>(n - 1) * std::exp(-20.0L));  // class 0
        const long double lpi = -20.0L + lp0;  // the others
        xgrad::graph<T> g;
        var<T> zv = g.variable(z, "Z");
        const matrix<T>& y = xgrad::log_softmax(zv).value();
        double worst = 0;  // relative error, in units of T's epsilon
        for (std::size_t j = 0; j < m; ++j) {
            for (std::size_t i = 0; i < n; ++i) {
                const long double want = i == 0 ? lp0 : lpi;
                const long double got = y(i, j);
                worst = std::max(worst, static_cast<double>(std::abs((got - want) / want) /
                                                            std::numeric_limits<T>::epsilon()));
            }
        }
        // the fused loss with every label on class 0: the mean of −lp0 over the columns
        const T loss = xgrad::softmax_cross_entropy(zv, g.constant(matrix<T>({1, m}, T(0)))).item();
        const double loss_error =
            static_cast<double>(std::abs((loss + lp0) / lp0) / std::numeric_limits<T>::epsilon());
        INFO("n = " << n << ": log_softmax worst relative error " << worst << " eps, loss " << loss_error
                    << " eps (eps = " << std::numeric_limits<T>::epsilon() << ")");
        // e^−20 rounded to T, a compensated sum, log1p and one subtraction: a few roundings of ε/2 each,
        // whatever n (an uncompensated sum of the n − 1 terms would grow with n: 39 ε at n = 1000 in float).
        CHECK(worst <= 4.0);
        CHECK(loss_error <= 4.0);
    }
}

TEMPLATE_TEST_CASE("numerics: sigmoid and bce_with_logits at ±1000 are exact with finite gradients",
                   "[reliability][numerics]", float, double) {
    using T = TestType;
    const matrix<T> z{{T(1000), T(-1000), T(1000), T(-1000)}};
    const matrix<T> y{{T(1), T(0), T(0), T(1)}};
    {
        xgrad::graph<T> g;
        g.set_anomaly_mode(true);
        var<T> zv = g.variable(z, "Z");
        var<T> s = xgrad::sigmoid(zv);
        REQUIRE_NOTHROW(g.backward(xgrad::sum(s)));
        CHECK(s.value()(0, 0) == T(1));
        CHECK(s.value()(0, 1) == T(0));
        CHECK(all_finite(zv.grad()));
    }
    const auto bce = [](const var<T>& a, const var<T>& b) { return xgrad::bce_with_logits(a, b); };
    const auto [l, d] = loss_and_grad<T>(bce, z, y);
    CHECK(l == T(500));  // columns: 0, 0, 1000, 1000; mean over 4
    CHECK(all_finite(d));
    const matrix<T> want{{T(0), T(0), T(0.25), T(-0.25)}};
    CHECK(xt::all(xt::equal(d, want)));
}

TEMPLATE_TEST_CASE("numerics: binary_cross_entropy of probabilities exactly 0 and 1 is finite (log clamped)",
                   "[reliability][numerics]", float, double) {
    using T = TestType;
    const matrix<T> p{{T(0), T(1), T(0), T(1)}};
    const matrix<T> y{{T(0), T(1), T(1), T(0)}};
    const auto bce = [](const var<T>& a, const var<T>& b) { return xgrad::binary_cross_entropy(a, b); };
    const auto [l, d] = loss_and_grad<T>(bce, p, y);
    CHECK(l == T(50));  // two right (0), two wrong (−log clamped at 100): 200/4
    CHECK(all_finite(d));
}

TEST_CASE("numerics: log(0) is −∞ by design, and anomaly mode names log when it happens",
          "[reliability][numerics]") {
    xgrad::graph<double> g;
    var<double> x = g.variable(matrix<double>{{0.0, 1.0}}, "x");
    CHECK(xgrad::log(x).value()(0, 0) == -std::numeric_limits<double>::infinity());
    g.set_anomaly_mode(true);
    CHECK_THROWS_WITH(xgrad::log(x), Catch::Contains("anomaly") && Catch::Contains("log") &&
                                         Catch::Contains("-inf") && Catch::Contains("(0, 0)"));
}

// cross_entropy(P, T) = −(1/m)·Σ T ⊙ log P must be finite where P is exactly 0 and T is 0 (0·log 0 = 0):
// softmax underflows to exactly 0 for logits a few hundred apart, so an ordinary confident model hits it.
// (Was NaN, 0·(−∞), when cross_entropy was composed from log and mul; fixed with the xlogy op.)
TEST_CASE("numerics: cross_entropy is finite when a probability is exactly 0 where the target is 0",
          "[reliability][numerics]") {
    for (const bool labels : {false, true}) {
        INFO((labels ? "labels" : "one-hot"));
        xgrad::graph<double> g;
        var<double> p = g.variable(matrix<double>{{1.0, 0.5}, {0.0, 0.5}}, "P");
        const matrix<double> lab{{0.0, 1.0}};
        var<double> t = g.constant(labels ? lab : xgrad::one_hot(lab, 2), "T");
        var<double> c = xgrad::cross_entropy(p, t);
        CHECK(std::isfinite(c.item()));
        CHECK(c.item() == Approx(std::log(2.0) / 2));  // columns: −log 1 = 0 and −log 0.5
        g.backward(c);
        CHECK(all_finite(p.grad()));
    }
}

TEST_CASE("numerics: NaN that reaches the graph is named by anomaly mode at the first op it touches",
          "[reliability][numerics]") {
    // The loaders never produce NaN (IDX holds bytes; CSV rejects "nan" and "inf" — see the catalogue), but a
    // caller can build a matrix with one: anomaly mode reports the first op whose output is not finite.
    xgrad::graph<double> g;
    g.set_anomaly_mode(true);
    matrix<double> xv = xgrad::test::random_matrix<double>(2, 3, 1);
    xv(1, 2) = std::nan("");
    xgrad::parameter<double> w(xgrad::test::random_matrix<double>(4, 2, 2), "W");
    var<double> x = g.borrow(xv, "X");
    std::uint_least32_t line = __LINE__ + 1;
    CHECK_THROWS_WITH(xgrad::matmul(g.param(w), x),
                      Catch::Contains("anomaly: matmul") && Catch::Contains("nan") &&
                          Catch::Contains(xgrad::reliability::at("numerics_test.cpp", line)));
}

TEMPLATE_TEST_CASE("numerics: a diverging run (learning rate 1e30) is stopped by anomaly mode naming the op",
                   "[reliability][numerics]", float, double) {
    using T = TestType;
    auto ds = xgrad::data::make_spiral<T>(64, 2, 0.1, 3);
    xgrad::rng r(3);
    auto net = xgrad::nn::mlp<T>({2, 16, 16, 2}, xgrad::nn::activation_kind::relu, r);
    xgrad::optim::sgd<T> opt(net->parameters(), T(1e30));
    xgrad::graph<T> g;
    g.set_anomaly_mode(true);
    std::string message;
    int step = 0;
    for (; step < 50 && message.empty(); ++step) {
        g.clear();
        opt.zero_grad();
        try {
            auto loss = xgrad::softmax_cross_entropy((*net)(g.borrow(ds.x, "X")), g.borrow(ds.y, "Y"));
            g.backward(loss);
            // Every step anomaly mode let through had finite values and gradients.
            REQUIRE(std::isfinite(loss.item()));
        } catch (const xgrad::numeric_error& e) {
            message = e.what();
            break;
        }
        opt.step();
    }
    INFO("step " << step << ": " << message);
    REQUIRE_FALSE(message.empty());
    // It names the op and where it was called ("linear: anomaly: linear forward output is -inf at …
    // (called at src/nn.cpp:…)"); the non-finite values never reached the weights.
    bool named = false;
    for (const char* op : {"matmul", "linear", "add_bias", "relu", "softmax_cross_entropy"})
        named = named || message.find(std::string(op) + ": anomaly: " + op) == 0;
    CHECK(named);
    CHECK_THAT(message, Catch::Contains("called at"));
    for (auto* p : net->parameters()) CHECK(all_finite(p->value()));
}

// When fit() reports a diverging run, the weights must be those before the failing step, not NaN. (It
// used to check the loss only after opt.step() had applied the step's NaN gradients.)
TEST_CASE("numerics: fit stops a diverging run before NaN reaches the weights", "[reliability][numerics]") {
    auto ds = xgrad::data::make_gauss<float>(100, 0.1, 1);
    xgrad::rng r(1);
    auto net = xgrad::nn::mlp<float>({2, 4, 2}, xgrad::nn::activation_kind::relu, r);
    xgrad::optim::sgd<float> wild(net->parameters(), 1e30f);
    xgrad::train::fit_options<float> o;
    o.epochs = 3;
    o.batch = 8;
    CHECK_THROWS_WITH(xgrad::train::fit(*net, wild, ds, o), Catch::Contains("training loss became"));
    for (auto* p : net->parameters()) CHECK(all_finite(p->value()));
}

TEST_CASE(
    "numerics: CSV numbers at the edges of the range of T: tiny ones round to 0, huge ones are rejected",
    "[reliability][numerics]") {
    xgrad::reliability::temp_dir dir;
    const std::string path = dir / "edge.csv";
    xgrad::reliability::write_file(path, "x,y,label\n1e-999,3.4e38,0\n-1e-50,-1e300,1\n");
    const auto d = xgrad::data::load_csv<double>(path);
    CHECK(d.x(0, 0) == 0.0);
    CHECK(d.x(1, 1) == -1e300);
    CHECK(d.x(0, 1) == -1e-50);
    CHECK_THROWS_WITH(xgrad::data::load_csv<float>(path),
                      Catch::Contains("edge.csv:3: column 2 ('y'): '-1e300' is too large for float"));
    xgrad::reliability::write_file(path, "x,y,label\n1e-999,3.4e38,0\n-1e-50,-1,1\n");
    const auto f = xgrad::data::load_csv<float>(path);
    CHECK(f.x(0, 0) == 0.0f);
    CHECK(f.x(1, 0) == 3.4e38f);
    CHECK(f.x(0, 1) == -0.0f);  // below float's subnormals: rounds to (negative) zero
}
