// Error messages name the op, the shapes and the caller's file:line; anomaly mode names the op that
// produced the first NaN/Inf, in forward or in backward.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "support.hpp"

namespace {
using xgrad::test::message_of;

using M = xgrad::matrix<double>;
using V = xgrad::var<double>;
using Catch::Matchers::Contains;
using xgrad::test::random_matrix;

/// "errors_test.cpp:<line>" — how messages print a call site of this file.
std::string at(std::uint_least32_t line) {
    return "errors_test.cpp:" + std::to_string(line);
}

}  // namespace

// ------------------------------------------------------------------ shapes

TEST_CASE("errors: a mismatched matmul names the op, both shapes and the caller's file:line", "[errors]") {
    xgrad::graph<double> g;
    V a = g.variable(random_matrix(3, 4, 1), "W1");
    V b = g.constant(random_matrix(5, 2, 2), "X");
    std::uint_least32_t line = 0;
    const std::string msg =
        message_of<xgrad::shape_error>([&] { (void)(line = __LINE__, xgrad::matmul(a, b)); });
    INFO(msg);
    CHECK_THAT(msg, Contains("matmul"));
    CHECK_THAT(msg, Contains("[3×4]"));
    CHECK_THAT(msg, Contains("[5×2]"));
    CHECK_THAT(msg, Contains("'W1'"));
    CHECK_THAT(msg, Contains("'X'"));
    CHECK_THAT(msg, Contains(at(line)));
    // nothing was recorded
    REQUIRE(g.size() == 2);
}

TEST_CASE("errors: shape errors are xgrad::error and std::runtime_error", "[errors]") {
    xgrad::graph<double> g;
    V a = g.variable(random_matrix(3, 4, 3)), b = g.variable(random_matrix(5, 2, 4));
    REQUIRE_THROWS_AS(xgrad::matmul(a, b), xgrad::shape_error);
    REQUIRE_THROWS_AS(xgrad::matmul(a, b), xgrad::error);
    REQUIRE_THROWS_AS(xgrad::matmul(a, b), std::runtime_error);
}

TEST_CASE("errors: the C++ operators report the operator's line", "[errors]") {
    xgrad::graph<double> g;
    V a = g.variable(random_matrix(2, 3, 5), "a");
    V b = g.variable(random_matrix(3, 2, 6), "b");
    std::uint_least32_t line = 0;

    SECTION("a + b") {
        const std::string msg = message_of<xgrad::shape_error>([&] { (void)(line = __LINE__, a + b); });
        INFO(msg);
        CHECK_THAT(msg, Contains("add"));
        CHECK_THAT(msg, Contains("[2×3]"));
        CHECK_THAT(msg, Contains("[3×2]"));
        CHECK_THAT(msg, Contains(at(line)));
    }
    SECTION("a - b") {
        const std::string msg = message_of<xgrad::shape_error>([&] { (void)(line = __LINE__, a - b); });
        INFO(msg);
        CHECK_THAT(msg, Contains("sub"));
        CHECK_THAT(msg, Contains(at(line)));
    }
    SECTION("a * b") {
        const std::string msg = message_of<xgrad::shape_error>([&] { (void)(line = __LINE__, a * b); });
        INFO(msg);
        CHECK_THAT(msg, Contains("mul"));
        CHECK_THAT(msg, Contains("[2×3]"));
        CHECK_THAT(msg, Contains("[3×2]"));
        CHECK_THAT(msg, Contains(at(line)));
    }
    SECTION("a / b") {
        const std::string msg = message_of<xgrad::shape_error>([&] { (void)(line = __LINE__, a / b); });
        INFO(msg);
        CHECK_THAT(msg, Contains("div"));
        CHECK_THAT(msg, Contains(at(line)));
    }
    SECTION("inside a longer formula, the failing operator's line") {
        V c = g.variable(random_matrix(2, 3, 7), "c");
        const std::string msg =
            message_of<xgrad::shape_error>([&] { (void)(line = __LINE__, xgrad::sigmoid(a * c) + b); });
        INFO(msg);
        CHECK_THAT(msg, Contains("add"));
        CHECK_THAT(msg, Contains(at(line)));
    }
}

TEST_CASE("errors: add_bias rejects a transposed bias that `+` would broadcast", "[errors]") {
    xgrad::graph<double> g;
    V a = g.variable(random_matrix(3, 4, 8), "A");
    V b = g.variable(random_matrix(1, 3, 9), "b");
    std::uint_least32_t line = 0;
    const std::string msg =
        message_of<xgrad::shape_error>([&] { (void)(line = __LINE__, xgrad::add_bias(a, b)); });
    INFO(msg);
    CHECK_THAT(msg, Contains("add_bias"));
    CHECK_THAT(msg, Contains("[1×3]"));
    CHECK_THAT(msg, Contains("[3×1]"));
    CHECK_THAT(msg, Contains(at(line)));
}

TEST_CASE("errors: backward without a seed on a non-scalar root says what to do", "[errors]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 5, 10));
    V h = xgrad::sigmoid(x).named("H");
    const std::string msg = message_of<xgrad::graph_error>([&] { g.backward(h); });
    INFO(msg);
    CHECK_THAT(msg, Contains("'H'"));
    CHECK_THAT(msg, Contains("[2×5]"));
    CHECK_THAT(msg, Contains("seed"));
}

TEST_CASE("errors: item() of a tensor that is not 1×1 names its shape", "[errors]") {
    xgrad::graph<double> g;
    V h = g.variable(random_matrix(2, 5, 13)).named("H");
    const std::string msg = message_of<xgrad::graph_error>([&] { (void)h.item(); });
    INFO(msg);
    CHECK_THAT(msg, Contains("'H'"));
    CHECK_THAT(msg, Contains("[2×5]"));
}

// ------------------------------------------------------------------ anomaly mode

TEST_CASE("errors: anomaly mode names log when its forward produces NaN", "[errors][anomaly]") {
    xgrad::graph<double> g;
    g.set_anomaly_mode(true);
    REQUIRE(g.anomaly_mode());
    M xv({2, 2}, 1.0);
    xv(1, 0) = -2.0;
    V x = g.variable(xv, "x");
    V e = xgrad::exp(x);  // finite: no complaint
    (void)e;
    std::uint_least32_t line = 0;
    const std::string msg = message_of<xgrad::numeric_error>([&] { (void)(line = __LINE__, xgrad::log(x)); });
    INFO(msg);
    CHECK_THAT(msg, Contains("log"));
    CHECK_THAT(msg, Contains("forward"));
    CHECK_THAT(msg, Contains("(1, 0)"));
    CHECK_THAT(msg, Contains(at(line)));
}

TEST_CASE("errors: anomaly mode names exp when its forward overflows to Inf", "[errors][anomaly]") {
    xgrad::graph<double> g;
    g.set_anomaly_mode(true);
    V x = g.variable(M({1, 3}, 1000.0), "x");
    const std::string msg = message_of<xgrad::numeric_error>([&] { (void)xgrad::exp(x); });
    INFO(msg);
    CHECK_THAT(msg, Contains("exp"));
}

TEST_CASE("errors: anomaly mode names pow when its backward produces Inf", "[errors][anomaly]") {
    // y = Σ √x at x = 0: the value is finite (0), the gradient ½·x^(−½) is +∞
    xgrad::graph<double> g;
    g.set_anomaly_mode(true);
    M xv({1, 3}, 1.0);
    xv(0, 1) = 0.0;
    V x = g.variable(xv, "x");
    std::uint_least32_t line = 0;
    V r = (line = __LINE__, xgrad::pow(x, 0.5));
    V y = xgrad::sum(r);  // forward is finite: recording does not throw
    REQUIRE(std::isfinite(y.item()));
    const std::string msg = message_of<xgrad::numeric_error>([&] { g.backward(y); });
    INFO(msg);
    CHECK_THAT(msg, Contains("pow"));
    CHECK_THAT(msg, Contains("backward"));
    CHECK_THAT(msg, Contains(at(line)));
}

TEST_CASE("errors: anomaly mode names the op whose backward produces NaN", "[errors][anomaly]") {
    // y = Σ 0 ⊙ √x: every value is finite, but at x = 0 pow's backward computes dy/ds · ½x^(−½) = 0·∞ = NaN.
    xgrad::graph<double> g;
    M xv({1, 2}, 4.0);
    xv(0, 0) = 0.0;
    V x = g.variable(xv, "x");
    V s = xgrad::pow(x, 0.5);
    V z = g.constant(M({1, 2}, 0.0), "zero");
    V y = xgrad::sum(z * s);
    g.set_anomaly_mode(true);
    const std::string msg = message_of<xgrad::numeric_error>([&] { g.backward(y); });
    INFO(msg);
    CHECK_THAT(msg, Contains("pow"));
    CHECK_THAT(msg, Contains("nan"));
}

TEST_CASE("errors: with anomaly mode off, NaN and Inf pass through silently", "[errors][anomaly]") {
    xgrad::graph<double> g;
    REQUIRE_FALSE(g.anomaly_mode());
    M xv({1, 2}, 1.0);
    xv(0, 0) = -1.0;
    V x = g.variable(xv, "x");
    V l = xgrad::log(x);
    REQUIRE_NOTHROW(l.value());
    REQUIRE(std::isnan(l.value()(0, 0)));

    M zv({1, 2}, 1.0);
    zv(0, 1) = 0.0;
    V z = g.variable(zv, "z");
    V y = xgrad::sum(xgrad::pow(z, 0.5));
    REQUIRE_NOTHROW(g.backward(y));
    REQUIRE(std::isinf(z.grad()(0, 1)));
    REQUIRE(z.grad()(0, 0) == 0.5);

    // switching it on afterwards catches the next recording
    g.set_anomaly_mode(true);
    REQUIRE_THROWS_AS(xgrad::log(x), xgrad::numeric_error);
    g.set_anomaly_mode(false);
    REQUIRE_NOTHROW(xgrad::log(x));
}

TEST_CASE("errors: anomaly mode accepts finite computations", "[errors][anomaly]") {
    xgrad::graph<double> g;
    g.set_anomaly_mode(true);
    xgrad::parameter<double> W(random_matrix(3, 2, 11), "W");
    V x = g.constant(random_matrix(2, 4, 12), "X");
    V y = g.constant(M({1, 4}, 1.0), "Y");
    V h = xgrad::sigmoid(xgrad::matmul(g.param(W), x));
    V C = xgrad::bce_with_logits(xgrad::sum(h, 0), y);
    REQUIRE_NOTHROW(g.backward(C));
    REQUIRE(W.has_grad());
}

// ------------------------------------------------------------------ sizes

// A gradcheck that compares nothing must not report success. (Was: "passed … 0 comparisons".)
TEST_CASE("errors: gradcheck refuses an input without elements, naming it", "[errors][gradcheck]") {
    const auto f = [](auto x) { return xgrad::sum(x[0]) + xgrad::sum(x[1]); };
    const std::vector<M> inputs = {random_matrix(2, 2, 21), M({3, 0})};
    for (const bool directions : {false, true}) {
        INFO((directions ? "gradcheck_directions" : "gradcheck"));
        const std::string msg = message_of<xgrad::argument_error>([&] {
            (void)(directions ? xgrad::gradcheck_directions(f, inputs) : xgrad::gradcheck(f, inputs));
        });
        CHECK_THAT(msg, Contains("gradcheck") && Contains("input 1") && Contains("[3×0]"));
    }
    CHECK_THAT(message_of<xgrad::argument_error>([&] { (void)xgrad::gradcheck(f, {}); }),
               Contains("no inputs"));
    xgrad::gradcheck_options none;
    none.directions = 0;
    CHECK_THAT(message_of<xgrad::argument_error>([&] {
                   (void)xgrad::gradcheck_directions(f, {random_matrix(2, 2, 22), M({1, 1}, 1.0)}, none);
               }),
               Contains("directions"));
    // an output without elements compares nothing either (every gradient would be 0 = 0)
    CHECK_THAT(message_of<xgrad::argument_error>([&] {
                   (void)xgrad::gradcheck(
                       [](auto x) {
                           return x[0].owner().constant(M({0, 3}));
                       },
                       {random_matrix(2, 2, 25)});
               }),
               Contains("output") && Contains("[0×3]"));
    // and a non-empty check still passes, with every element compared
    const auto r = xgrad::gradcheck(f, {random_matrix(2, 2, 23), random_matrix(1, 3, 24)});
    CHECK(r.ok);
    CHECK(r.checked == 7);
}

// A shape whose element count overflows size_t wraps to a small number: xtensor then allocates that small
// buffer for the huge shape, and every loop over the shape runs off its end. Each place that multiplies
// shapes must refuse it first.
TEST_CASE("errors: an op output whose element count overflows is refused, naming the op and the shapes",
          "[errors][sizes]") {
    const std::size_t big = std::size_t(1) << 32;  // [2³²×2³²] has 2⁶⁴ elements: wraps to 0
    xgrad::graph<double> g;
    V a = g.variable(M({big, 0}), "A");
    V b = g.variable(M({0, big}), "B");
    const std::size_t before = g.size();
    const std::string msg = xgrad::test::shape_error_message([&] { (void)xgrad::matmul(a, b); });
    CHECK_THAT(msg, Contains("matmul") && Contains("[4294967296×4294967296]") &&
                        Contains("'A' is [4294967296×0]") && Contains("'B' is [0×4294967296]") &&
                        Contains("errors_test.cpp:"));
    CHECK(g.size() == before);
    // [2³¹×2³¹] doubles: 2⁶² elements fit in size_t, their 2⁶⁵ bytes do not
    V c = g.variable(M({big / 2, 0}), "C");
    V d = g.variable(M({0, big / 2}), "D");
    CHECK_THAT(xgrad::test::shape_error_message([&] { (void)xgrad::matmul(c, d); }),
               Contains("matmul") && Contains("[2147483648×2147483648]"));
}

TEST_CASE("errors: leaves, linear layers, one_hot and initializers refuse shapes whose size overflows",
          "[errors][sizes]") {
    const std::size_t big = std::size_t(1) << 32;
    const M huge({big, big});  // xtensor wraps the size to 0 and keeps the shape
    REQUIRE(huge.size() == 0);
    xgrad::graph<double> g;
    CHECK_THAT(message_of<xgrad::argument_error>([&] { (void)g.constant(huge, "H"); }),
               Contains("constant") && Contains("'H'") && Contains("[4294967296×4294967296]"));
    CHECK_THAT(message_of<xgrad::argument_error>([&] { (void)g.variable(huge); }),
               Contains("variable") && Contains("[4294967296×4294967296]"));
    CHECK_THAT(message_of<xgrad::argument_error>([&] { (void)g.borrow(huge); }),
               Contains("borrow") && Contains("[4294967296×4294967296]"));
    xgrad::parameter<double> p(huge, "P");
    CHECK_THAT(message_of<xgrad::argument_error>([&] { (void)g.param(p); }),
               Contains("param") && Contains("'P'") && Contains("[4294967296×4294967296]"));
    CHECK(g.size() == 0);

    xgrad::rng r(1);
    CHECK_THAT(
        message_of<xgrad::argument_error>([&] { xgrad::nn::linear<float> l(big, big, r); }),
        Contains("linear") && Contains("4294967296 → 4294967296") && Contains("[4294967296×4294967296]"));
    CHECK_THAT(message_of<xgrad::argument_error>([&] {
                   (void)xgrad::one_hot(M({1, 8}, 0.0), std::size_t(1) << 62);
               }),
               Contains("one_hot") && Contains("4611686018427387904") && Contains("8"));
    M w = huge;
    CHECK_THAT(message_of<xgrad::argument_error>([&] { xgrad::init::zeros(w); }),
               Contains("init") && Contains("[4294967296×4294967296]"));
    CHECK_THAT(message_of<xgrad::argument_error>([&] { xgrad::init::he_uniform(w, r); }),
               Contains("init") && Contains("[4294967296×4294967296]"));
}
