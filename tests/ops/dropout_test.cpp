// dropout: inverted dropout with a mask drawn from xgrad::rng. The mask is recomputed here from the same
// seed; backward is dY ⊙ M/(1 − p); evaluation is the identity; a bad p is refused in both modes.
#include <string>

#include "support.hpp"

namespace {
using Catch::Matchers::Contains;
using xgrad::matrix;
using xgrad::test::random_matrix;

/// The mask M/(1 − p) that dropout draws from rng(seed): uᵢⱼ in row-major order, kept when u ≥ p.
matrix<double> expected_mask(std::size_t r, std::size_t c, double p, std::uint64_t seed) {
    xgrad::rng g(seed);
    matrix<double> mk({r, c});
    for (auto& v : mk) v = g.uniform() >= p ? 1.0 / (1.0 - p) : 0.0;
    return mk;
}
}  // namespace

TEST_CASE("dropout: Y = X ⊙ M/(1 − p) with M drawn from xgrad::rng in row-major order", "[dropout]") {
    for (const double p : {0.0, 0.25, 0.5, 0.9}) {
        INFO("p " << p);
        const matrix<double> x = random_matrix(7, 13, 11);
        xgrad::rng g(5);
        xgrad::graph<double> gr;
        const auto y = xgrad::dropout(gr.constant(x), p, g);
        const matrix<double> mk = expected_mask(7, 13, p, 5);
        matrix<double> want = x * mk;
        XGRAD_REQUIRE_CLOSE(y.value(), want, 1e-15, 0.0);
    }
}

TEST_CASE("dropout: the kept fraction is near 1 − p and the mean is preserved (fixed seed)", "[dropout]") {
    const double p = 0.3;
    const matrix<double> x({200, 50}, 1.0);
    xgrad::rng g(9);
    xgrad::graph<double> gr;
    const auto y = xgrad::dropout(gr.constant(x), p, g);
    std::size_t kept = 0;
    double sum = 0;
    for (const double v : y.value()) {
        kept += v != 0.0;
        sum += v;
    }
    const double n = 200.0 * 50.0;
    // 10 000 Bernoulli(0.7) draws: the standard deviation of the kept fraction is 0.0046; 5σ ≈ 0.023
    CHECK(std::abs(static_cast<double>(kept) / n - (1 - p)) < 0.023);
    CHECK(std::abs(sum / n - 1.0) < 0.023 / (1 - p));
}

TEST_CASE("dropout: the same seed gives the same mask, the generator moves on between calls", "[dropout]") {
    const matrix<double> x({4, 9}, 1.0);
    xgrad::graph<double> gr;
    xgrad::rng a(3), b(3);
    const matrix<double> first = xgrad::dropout(gr.constant(x), 0.5, a).value();
    CHECK(xgrad::dropout(gr.constant(x), 0.5, b).value() == first);
    CHECK(xgrad::dropout(gr.constant(x), 0.5, a).value() != first);  // a's next draws: another mask
}

TEST_CASE("dropout: backward is dY ⊙ M/(1 − p), and gradcheck passes", "[dropout][gradcheck]") {
    const matrix<double> x = random_matrix(5, 3, 21), dy = random_matrix(5, 3, 22);
    xgrad::rng g(4);
    xgrad::graph<double> gr;
    const auto xv = gr.variable(x);
    const auto y = xgrad::dropout(xv, 0.4, g);
    gr.backward(y, dy);
    const matrix<double> want = dy * expected_mask(5, 3, 0.4, 4);
    XGRAD_REQUIRE_CLOSE(gr.grad_of(xv.id()), want, 1e-15, 0.0);
    for (const auto& [r, c] : {std::pair<std::size_t, std::size_t>{3, 7}, {6, 1}, {1, 4}}) {
        INFO(r << "×" << c);
        auto res = xgrad::gradcheck(
            [](auto v) {
                xgrad::rng same(17);  // the same mask for every evaluation of the function
                return xgrad::dropout(xgrad::sigmoid(v[0]), 0.5, same);
            },
            {random_matrix(r, c, 23)});
        INFO(res.report);
        REQUIRE(res.ok);
    }
}

TEST_CASE("dropout: evaluation is the identity, records nothing and draws nothing", "[dropout]") {
    xgrad::graph<double> gr;
    const auto x = gr.variable(random_matrix(3, 4, 31));
    xgrad::rng g(8), fresh(8);
    const std::size_t before = gr.size();
    const auto y = xgrad::dropout(x, 0.5, g, /*training=*/false);
    CHECK(y.id() == x.id());
    CHECK(gr.size() == before);
    CHECK(g.uniform() == fresh.uniform());
}

TEST_CASE("dropout: float matches double", "[dropout][float]") {
    const matrix<float> x = random_matrix<float>(6, 5, 41);
    xgrad::rng a(2), b(2);
    xgrad::graph<float> gf;
    xgrad::graph<double> gd;
    const auto yf = xgrad::dropout(gf.constant(x), 0.35, a);
    const auto yd = xgrad::dropout(gd.constant(xgrad::test::to_double(x)), 0.35, b);
    XGRAD_REQUIRE_CLOSE(xgrad::test::to_double(yf.value()), yd.value(), 1e-6, 0.0);
}

TEST_CASE("dropout: p below 0 or at least 1 is refused in training and in evaluation", "[dropout][error]") {
    xgrad::graph<double> gr;
    const auto x = gr.constant(random_matrix(2, 3, 51));
    xgrad::rng g(1);
    for (const double p : {1.0, -0.1, 1.5, std::nan("")}) {
        for (const bool training : {true, false}) {
            INFO("p " << p << " training " << training);
            const std::string msg =
                xgrad::test::message_of<xgrad::argument_error>([&] { xgrad::dropout(x, p, g, training); });
            CHECK_THAT(msg, Contains("dropout"));
            CHECK_THAT(msg, Contains("[0, 1)"));
            CHECK_THAT(msg, Contains("dropout_test.cpp"));
        }
    }
}
