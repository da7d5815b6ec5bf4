// Activations: values against independent scalar formulas, gradchecks at several shapes, and the edge
// cases the header documents (kinks, saturation, parameter validation).
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {
using xgrad::test::message_of;

using Catch::Matchers::Contains;
using xgrad::matrix;
using xgrad::var;

using unary_fn = std::function<var<double>(const var<double>&)>;
using scalar_fn = std::function<double(double)>;

/// Value and input gradient of `op` at X, backward seeded with dY, on a fresh graph.
struct forward_backward {
    matrix<double> y, dx;
};
forward_backward run(const unary_fn& op, const matrix<double>& x, const matrix<double>& dy) {
    xgrad::graph<double> g;
    var<double> v = g.variable(x, "A");
    var<double> y = op(v);
    g.backward(y, dy);
    return {y.value(), v.grad()};
}

matrix<double> widen(const matrix<float>& x) {
    matrix<double> r(x.shape());
    for (std::size_t k = 0; k < x.size(); ++k) r.data()[k] = static_cast<double>(x.data()[k]);
    return r;
}

matrix<double> map(const matrix<double>& x, const scalar_fn& f) {
    matrix<double> r(x.shape());
    for (std::size_t k = 0; k < x.size(); ++k) r.data()[k] = f(x.data()[k]);
    return r;
}

/// Checks H = op(A) against f element by element, and dA (seeded with a random dY) against dY ⊙ f′(A).
/// Tolerance: rtol 1e-13, atol 1e-14 (the reference formulas are written differently from the library's).
void check_values(const unary_fn& op, const scalar_fn& f, const scalar_fn& df, double lo, double hi) {
    const std::vector<std::pair<std::size_t, std::size_t>> shapes = {{3, 4}, {1, 1}, {5, 1}, {2, 7}};
    std::uint64_t seed = 11;
    for (auto [r, c] : shapes) {
        INFO("seed " << seed << ", shape [" << r << "x" << c << "]");
        const matrix<double> x = xgrad::test::random_matrix<double>(r, c, seed, lo, hi);
        const matrix<double> dy = xgrad::test::random_matrix<double>(r, c, seed + 1000);
        const forward_backward got = run(op, x, dy);
        matrix<double> want_dx = map(x, df);
        for (std::size_t k = 0; k < want_dx.size(); ++k) want_dx.data()[k] *= dy.data()[k];
        XGRAD_REQUIRE_CLOSE(got.y, map(x, f), 1e-13, 1e-14);
        XGRAD_REQUIRE_CLOSE(got.dx, want_dx, 1e-13, 1e-14);
        ++seed;
    }
}

/// gradcheck (double, central differences) at shapes including m = 1 and non-square, fixed seeds.
/// away_from_zero keeps every entry ≥ 0.1 from the kink at 0 (relu family).
void check_gradients(const unary_fn& op, bool away_from_zero, double scale = 3.0) {
    const std::vector<std::pair<std::size_t, std::size_t>> shapes = {{3, 4}, {4, 1}, {1, 1}, {1, 6}, {5, 2}};
    std::uint64_t seed = 101;
    for (auto [r, c] : shapes) {
        INFO("seed " << seed << ", shape [" << r << "x" << c << "]");
        matrix<double> x = away_from_zero ? xgrad::test::random_away_from_zero(r, c, seed)
                                          : xgrad::test::random_matrix<double>(r, c, seed, -scale, scale);
        if (away_from_zero) x *= scale / 1.1;  // entries in ±[0.1, 1.1]·scale/1.1, still away from 0
        auto res = xgrad::gradcheck([&](auto v) { return op(v[0]); }, {x});
        INFO(res.report);
        REQUIRE(res.ok);
        ++seed;
    }
}

double sigmoid_ref(double x) {
    return 1.0 / (1.0 + std::exp(-x));
}
double tanh_ref(double x) {
    return (std::exp(x) - std::exp(-x)) / (std::exp(x) + std::exp(-x));
}

// SELU constants from their closed forms (Klambauer et al. 2017, eq. 14), not copied digits.
double selu_alpha_ref() {
    const double e = std::erfc(1.0 / std::sqrt(2.0));
    return -std::sqrt(2.0 / M_PI) / (e * std::exp(0.5) - 1.0);
}
double selu_lambda_ref() {
    const double e1 = std::erfc(1.0 / std::sqrt(2.0)), e2 = std::erfc(std::sqrt(2.0));
    const double se = std::sqrt(std::exp(1.0));
    const double den =
        2.0 * e2 * std::exp(2.0) + M_PI * e1 * e1 * std::exp(1.0) - 2.0 * (2.0 + M_PI) * e1 * se + M_PI + 2.0;
    return (1.0 - e1 * se) * std::sqrt(2.0 * M_PI) / std::sqrt(den);
}

}  // namespace

// ---------------------------------------------------------------- sigmoid

TEST_CASE("activation: sigmoid values and derivative match 1/(1+e^-a)", "[activation]") {
    check_values([](const var<double>& a) { return xgrad::sigmoid(a); }, sigmoid_ref,
                 [](double x) { return sigmoid_ref(x) * (1 - sigmoid_ref(x)); }, -6, 6);
}

TEST_CASE("activation: sigmoid gradcheck", "[activation]") {
    check_gradients([](const var<double>& a) { return xgrad::sigmoid(a); }, false);
}

TEST_CASE("activation: sigmoid at +-1000 is exactly 0 and 1 with a finite gradient", "[activation]") {
    const matrix<double> x = {{-1000.0, 1000.0, -745.5, 745.5}};
    const forward_backward r =
        run([](const var<double>& a) { return xgrad::sigmoid(a); }, x, matrix<double>({1, 4}, 1.0));
    INFO("y " << xgrad::test::show(r.y) << " dA " << xgrad::test::show(r.dx));
    CHECK(r.y(0, 0) == 0.0);
    CHECK(r.y(0, 1) == 1.0);
    for (double v : r.y) CHECK(std::isfinite(v));
    for (double v : r.dx) {
        CHECK(std::isfinite(v));
        CHECK(v >= 0.0);
        CHECK(v < 1e-300);
    }
}

TEST_CASE("activation: sigmoid in float matches double", "[activation]") {
    const matrix<double> xd = xgrad::test::random_matrix<double>(4, 6, 7, -12.0, 12.0);
    matrix<float> xf(xd.shape());
    for (std::size_t k = 0; k < xd.size(); ++k) xf.data()[k] = static_cast<float>(xd.data()[k]);
    xgrad::graph<float> gf;
    var<float> af = gf.variable(xf);
    var<float> yf = xgrad::sigmoid(af);
    gf.backward(yf, matrix<float>(xf.shape(), 1.0f));
    matrix<double> want_y(xd.shape()), want_dx(xd.shape());
    for (std::size_t k = 0; k < xd.size(); ++k) {
        const double s = sigmoid_ref(static_cast<double>(xf.data()[k]));  // same (rounded) input
        want_y.data()[k] = s;
        want_dx.data()[k] = s * (1 - s);
    }
    // float: a few ulps relative, plus an absolute floor for the tiny tail values of σ′.
    XGRAD_REQUIRE_CLOSE(widen(yf.value()), want_y, 1e-6, 1e-7);
    XGRAD_REQUIRE_CLOSE(widen(af.grad()), want_dx, 1e-5, 1e-7);

    const matrix<float> big = {{-1000.0f, 1000.0f}};
    xgrad::graph<float> g2;
    var<float> b = g2.variable(big);
    var<float> yb = xgrad::sigmoid(b);
    g2.backward(yb, matrix<float>({1, 2}, 1.0f));
    CHECK(yb.value()(0, 0) == 0.0f);
    CHECK(yb.value()(0, 1) == 1.0f);
    CHECK(std::isfinite(b.grad()(0, 0)));
    CHECK(std::isfinite(b.grad()(0, 1)));
}

namespace {
/// The sigmoid formula the op documents, one element at a time: e = e^(−|a|), r = 1/(1 + e), σ = r·(m +
/// (1 − m)·e) with m = [a ≥ 0]. The op computes it in two passes over the elements (the exps, then the
/// rest vectorised); the results must be these, bit for bit.
template <class T>
T sigmoid_scalar(T x) {
    const T e = std::exp(-std::abs(x));
    const T r = T(1) / (T(1) + e);
    const T m = static_cast<T>(x >= T(0));
    return r * (m + (T(1) - m) * e);
}

template <class T>
void check_sigmoid_bits() {
    const T inf = std::numeric_limits<T>::infinity();
    const T tiny = std::numeric_limits<T>::denorm_min();
    // Lengths 1 … 19 (the vector loop's body, its remainder, and both), signs, zeros, the tails where
    // e^(−|a|) underflows, infinities; a random block of moderate values.
    std::vector<T> values = {T(0),   -T(0),   T(1),  T(-1),  T(0.5), T(-0.5), T(20),   T(-20),
                             T(88),  T(-88),  T(90), T(-90), T(104), T(-104), T(700),  T(-700),
                             T(800), T(-800), tiny,  -tiny,  inf,    -inf,    T(1e-8), T(-1e-8)};
    const matrix<double> r = xgrad::test::random_matrix<double>(1, 19, 11, -30.0, 30.0);
    for (double v : r) values.push_back(static_cast<T>(v));
    for (std::size_t n = 1; n <= values.size(); n += (n < 20 ? 1 : 7)) {
        matrix<T> x({1, n});
        for (std::size_t k = 0; k < n; ++k) x.data()[k] = values[(k * 7 + n) % values.size()];
        xgrad::graph<T> g;
        const var<T> y = xgrad::sigmoid(g.constant(x));
        for (std::size_t k = 0; k < n; ++k) {
            INFO("n " << n << ", x " << x.data()[k]);
            const T want = sigmoid_scalar(x.data()[k]);
            CHECK(std::memcmp(&y.value().data()[k], &want, sizeof(T)) == 0);
        }
    }
    // NaN in, NaN out.
    xgrad::graph<T> g;
    const var<T> y = xgrad::sigmoid(g.constant(matrix<T>({1, 3}, std::numeric_limits<T>::quiet_NaN())));
    for (T v : y.value()) CHECK(std::isnan(v));
}
}  // namespace

TEST_CASE(
    "activation: sigmoid's vectorised forward gives the scalar formula's bits, and no early underflow to 0",
    "[activation]") {
    check_sigmoid_bits<float>();
    check_sigmoid_bits<double>();
    // Overflow-safe: 1/(1 + e^(−a)) would give 0 where e^(−a) overflows (a < −88.7 in float); σ(a) ≈ e^a
    // is still a normal float down to a ≈ −87.3 and a subnormal below.
    xgrad::graph<float> g;
    const var<float> y = xgrad::sigmoid(g.constant(matrix<float>{{-89.0f, -95.0f, -100.0f}}));
    for (std::size_t k = 0; k < 3; ++k) {
        const double a = std::vector<double>{-89.0, -95.0, -100.0}[k];
        INFO("a " << a << ": " << y.value().data()[k] << " vs e^a " << std::exp(a));
        CHECK(y.value().data()[k] > 0.0f);
        CHECK(std::abs(static_cast<double>(y.value().data()[k]) - std::exp(a)) <= 1e-3 * std::exp(a) + 1e-45);
    }
}

// ---------------------------------------------------------------- tanh

TEST_CASE("activation: tanh values and derivative match (e^a - e^-a)/(e^a + e^-a)", "[activation]") {
    check_values([](const var<double>& a) { return xgrad::tanh(a); }, tanh_ref,
                 [](double x) { return 1 - tanh_ref(x) * tanh_ref(x); }, -4, 4);
}

TEST_CASE("activation: tanh gradcheck", "[activation]") {
    check_gradients([](const var<double>& a) { return xgrad::tanh(a); }, false);
}

TEST_CASE("activation: tanh at +-1000 is exactly -1 and 1 with a zero gradient", "[activation]") {
    const forward_backward r = run([](const var<double>& a) { return xgrad::tanh(a); }, {{-1000.0, 1000.0}},
                                   matrix<double>({1, 2}, 1.0));
    CHECK(r.y(0, 0) == -1.0);
    CHECK(r.y(0, 1) == 1.0);
    CHECK(r.dx(0, 0) == 0.0);
    CHECK(r.dx(0, 1) == 0.0);
}

// ---------------------------------------------------------------- relu

TEST_CASE("activation: relu values and derivative match max(0, a)", "[activation]") {
    check_values([](const var<double>& a) { return xgrad::relu(a); },
                 [](double x) { return x > 0 ? x : 0.0; }, [](double x) { return x > 0 ? 1.0 : 0.0; }, -2, 2);
}

TEST_CASE("activation: relu gradcheck away from the kink", "[activation]") {
    check_gradients([](const var<double>& a) { return xgrad::relu(a); }, true);
}

TEST_CASE("activation: relu'(0) = 0 through backward", "[activation]") {
    const matrix<double> x = {{0.0, -0.0, 0.5, -0.5}, {0.0, 2.0, -2.0, 0.0}};
    const forward_backward r =
        run([](const var<double>& a) { return xgrad::relu(a); }, x, matrix<double>(x.shape(), 1.0));
    const matrix<double> want_y = {{0.0, 0.0, 0.5, 0.0}, {0.0, 2.0, 0.0, 0.0}};
    const matrix<double> want_dx = {{0.0, 0.0, 1.0, 0.0}, {0.0, 1.0, 0.0, 0.0}};
    XGRAD_REQUIRE_CLOSE(r.y, want_y, 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(r.dx, want_dx, 0.0, 0.0);
}

// ---------------------------------------------------------------- leaky_relu

TEST_CASE("activation: leaky_relu with the default f = 0.01 matches max(0.01a, a)", "[activation]") {
    check_values([](const var<double>& a) { return xgrad::leaky_relu(a); },
                 [](double x) { return x > 0 ? x : 0.01 * x; }, [](double x) { return x > 0 ? 1.0 : 0.01; },
                 -2, 2);
}

TEST_CASE("activation: leaky_relu with a custom f = 0.2 matches max(0.2a, a)", "[activation]") {
    check_values([](const var<double>& a) { return xgrad::leaky_relu(a, 0.2); },
                 [](double x) { return x > 0 ? x : 0.2 * x; }, [](double x) { return x > 0 ? 1.0 : 0.2; }, -2,
                 2);
}

TEST_CASE("activation: leaky_relu gradcheck (default and custom f)", "[activation]") {
    check_gradients([](const var<double>& a) { return xgrad::leaky_relu(a); }, true);
    check_gradients([](const var<double>& a) { return xgrad::leaky_relu(a, 0.3); }, true);
}

TEST_CASE("activation: leaky_relu'(0) = f through backward", "[activation]") {
    const matrix<double> x = {{0.0, 1.0, -1.0}};
    const matrix<double> ones({1, 3}, 1.0);
    const forward_backward d = run([](const var<double>& a) { return xgrad::leaky_relu(a); }, x, ones);
    XGRAD_REQUIRE_CLOSE(d.dx, (matrix<double>{{0.01, 1.0, 0.01}}), 0.0, 0.0);
    const forward_backward c = run([](const var<double>& a) { return xgrad::leaky_relu(a, 0.25); }, x, ones);
    XGRAD_REQUIRE_CLOSE(c.y, (matrix<double>{{0.0, 1.0, -0.25}}), 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(c.dx, (matrix<double>{{0.25, 1.0, 0.25}}), 0.0, 0.0);
}

TEST_CASE("activation: leaky_relu rejects f outside 0 <= f < 1", "[activation]") {
    xgrad::graph<double> g;
    var<double> a = g.variable(matrix<double>({2, 2}, 1.0));
    CHECK_THAT(message_of<xgrad::argument_error>([&] { xgrad::leaky_relu(a, -0.1); }),
               Contains("leaky_relu"));
    CHECK_THAT(message_of<xgrad::argument_error>([&] { xgrad::leaky_relu(a, 1.0); }), Contains("leaky_relu"));
    CHECK_NOTHROW(xgrad::leaky_relu(a, 0.0));
}

// ---------------------------------------------------------------- elu

TEST_CASE("activation: elu with alpha = 1 and alpha = 0.7 matches alpha(e^a - 1)", "[activation]") {
    for (double alpha : {1.0, 0.7}) {
        INFO("alpha " << alpha);
        check_values([alpha](const var<double>& a) { return xgrad::elu(a, alpha); },
                     [alpha](double x) { return x > 0 ? x : alpha * (std::exp(x) - 1); },
                     [alpha](double x) { return x > 0 ? 1.0 : alpha * std::exp(x); }, -3, 2);
    }
}

TEST_CASE("activation: elu gradcheck (alpha = 1 and 0.7)", "[activation]") {
    check_gradients([](const var<double>& a) { return xgrad::elu(a); }, true);
    check_gradients([](const var<double>& a) { return xgrad::elu(a, 0.7); }, true);
}

TEST_CASE("activation: elu'(0) = alpha through backward", "[activation]") {
    const matrix<double> x = {{0.0, 0.0}};
    const matrix<double> ones({1, 2}, 1.0);
    for (double alpha : {1.0, 0.7, 2.5}) {
        INFO("alpha " << alpha);
        const forward_backward r =
            run([alpha](const var<double>& a) { return xgrad::elu(a, alpha); }, x, ones);
        XGRAD_REQUIRE_CLOSE(r.y, (matrix<double>{{0.0, 0.0}}), 0.0, 0.0);
        XGRAD_REQUIRE_CLOSE(r.dx, (matrix<double>{{alpha, alpha}}), 0.0, 0.0);
    }
}

TEST_CASE("activation: elu rejects alpha <= 0", "[activation]") {
    xgrad::graph<double> g;
    var<double> a = g.variable(matrix<double>({2, 2}, 1.0));
    CHECK_THAT(message_of<xgrad::argument_error>([&] { xgrad::elu(a, 0.0); }), Contains("elu"));
    CHECK_THAT(message_of<xgrad::argument_error>([&] { xgrad::elu(a, -1.0); }), Contains("elu"));
}

// ---------------------------------------------------------------- selu

TEST_CASE("activation: selu constants equal their closed forms", "[activation]") {
    CHECK(std::abs(xgrad::selu_alpha - selu_alpha_ref()) <= 1e-14 * selu_alpha_ref());
    CHECK(std::abs(xgrad::selu_lambda - selu_lambda_ref()) <= 1e-14 * selu_lambda_ref());
}

TEST_CASE("activation: selu values and derivative match lambda*elu(a, alpha)", "[activation]") {
    const double lam = selu_lambda_ref(), alpha = selu_alpha_ref();
    check_values([](const var<double>& a) { return xgrad::selu(a); },
                 [=](double x) { return x > 0 ? lam * x : lam * alpha * (std::exp(x) - 1); },
                 [=](double x) { return x > 0 ? lam : lam * alpha * std::exp(x); }, -3, 2);
}

TEST_CASE("activation: selu gradcheck", "[activation]") {
    check_gradients([](const var<double>& a) { return xgrad::selu(a); }, true);
}

TEST_CASE("activation: selu'(0) = lambda*alpha through backward", "[activation]") {
    const forward_backward r =
        run([](const var<double>& a) { return xgrad::selu(a); }, {{0.0}}, matrix<double>({1, 1}, 1.0));
    CHECK(r.y(0, 0) == 0.0);
    CHECK(std::abs(r.dx(0, 0) - selu_lambda_ref() * selu_alpha_ref()) <= 1e-14);
}
