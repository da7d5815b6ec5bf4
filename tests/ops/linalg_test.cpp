// Tests of the linear-algebra ops: matmul, transpose, add_bias (values, gradients, edge cases).
// Expected values are computed here with plain loops, never copied from the library.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

namespace {
using xgrad::test::shape_error_message;
using xgrad::test::to_double;
using xgrad::test::to_float;

using xgrad::matrix;
using xgrad::shape2;
using xgrad::test::random_matrix;

constexpr double kRtol = 1e-12;  // double forward values vs loops (only summation order differs)
constexpr double kAtol = 1e-13;

/// Y = A·B by the textbook triple loop.
matrix<double> loop_matmul(const matrix<double>& a, const matrix<double>& b) {
    const std::size_t p = a.shape()[0], n = a.shape()[1], m = b.shape()[1];
    matrix<double> y({p, m});
    for (std::size_t i = 0; i < p; ++i) {
        for (std::size_t j = 0; j < m; ++j) {
            double s = 0;
            for (std::size_t k = 0; k < n; ++k) s += a(i, k) * b(k, j);
            y(i, j) = s;
        }
    }
    return y;
}

matrix<double> loop_transpose(const matrix<double>& a) {
    matrix<double> y({a.shape()[1], a.shape()[0]});
    for (std::size_t i = 0; i < a.shape()[0]; ++i) {
        for (std::size_t j = 0; j < a.shape()[1]; ++j) y(j, i) = a(i, j);
    }
    return y;
}

/// (p, n, m) triples for matmul: fixed ones (m = 1, non-square, 1×1) and a few drawn from a fixed seed.
std::vector<std::array<std::size_t, 3>> matmul_shapes() {
    std::vector<std::array<std::size_t, 3>> s = {{1, 1, 1}, {3, 4, 1}, {2, 3, 5},
                                                 {4, 2, 3}, {1, 5, 2}, {5, 1, 4}};
    std::mt19937_64 rng(2024);
    std::uniform_int_distribution<std::size_t> d(1, 6);
    for (int t = 0; t < 4; ++t) s.push_back({d(rng), d(rng), d(rng)});
    return s;
}

/// (rows, cols) pairs: fixed ones (single column, single row, non-square) and a few drawn from a fixed seed.
std::vector<shape2> shapes2() {
    std::vector<shape2> s = {{1, 1}, {4, 1}, {1, 4}, {2, 3}, {5, 2}};
    std::mt19937_64 rng(77);
    std::uniform_int_distribution<std::size_t> d(1, 6);
    for (int t = 0; t < 3; ++t) s.push_back({d(rng), d(rng)});
    return s;
}

}  // namespace

// ------------------------------------------------------------------------------------------------ matmul

TEST_CASE("linalg: matmul values", "[linalg][matmul]") {
    SECTION("hand-checkable 2x2 times 2x1") {
        xgrad::graph<double> g;
        matrix<double> a = {{1.0, 2.0}, {3.0, 4.0}};
        matrix<double> b = {{5.0}, {6.0}};
        auto y = xgrad::matmul(g.constant(a), g.constant(b));
        REQUIRE(y.shape() == shape2{2, 1});
        CHECK(y.value()(0, 0) == 1.0 * 5.0 + 2.0 * 6.0);
        CHECK(y.value()(1, 0) == 3.0 * 5.0 + 4.0 * 6.0);
    }
    SECTION("random shapes against the triple loop") {
        std::uint64_t seed = 100;
        for (const auto& [p, n, m] : matmul_shapes()) {
            ++seed;
            INFO("seed " << seed << " shape [" << p << "x" << n << "]·[" << n << "x" << m << "]");
            const matrix<double> a = random_matrix(p, n, seed), b = random_matrix(n, m, seed + 1000);
            xgrad::graph<double> g;
            auto y = xgrad::matmul(g.constant(a), g.constant(b));
            REQUIRE(y.shape() == shape2{p, m});
            XGRAD_REQUIRE_CLOSE(y.value(), loop_matmul(a, b), kRtol, kAtol);
        }
    }
}

TEST_CASE("linalg: matmul gradcheck", "[linalg][matmul][gradcheck]") {
    std::uint64_t seed = 200;
    for (const auto& [p, n, m] : matmul_shapes()) {
        ++seed;
        INFO("seed " << seed << " shape [" << p << "x" << n << "]·[" << n << "x" << m << "]");
        auto r = xgrad::gradcheck([](auto x) { return xgrad::matmul(x[0], x[1]); },
                                  {random_matrix(p, n, seed), random_matrix(n, m, seed + 1000)});
        INFO(r.report);
        REQUIRE(r.ok);
    }
}

TEST_CASE("linalg: matmul gradcheck with a shared input accumulates (X·X, Xᵀ·X)",
          "[linalg][matmul][gradcheck]") {
    for (std::size_t n : {1u, 3u, 4u}) {
        const std::uint64_t seed = 300 + n;
        INFO("seed " << seed << " shape [" << n << "x" << n << "]");
        auto r =
            xgrad::gradcheck([](auto x) { return xgrad::matmul(x[0], x[0]); }, {random_matrix(n, n, seed)});
        INFO(r.report);
        REQUIRE(r.ok);
    }
    // Non-square: Xᵀ·X is [m×m] from X [p×m]; X reaches matmul twice (directly and through transpose).
    const std::uint64_t seed = 310;
    INFO("seed " << seed << " shape [3x2]");
    auto r = xgrad::gradcheck([](auto x) { return xgrad::matmul(xgrad::transpose(x[0]), x[0]); },
                              {random_matrix(3, 2, seed)});
    INFO(r.report);
    REQUIRE(r.ok);
}

TEST_CASE("linalg: matmul backward is dA = dY·Bᵀ, dB = Aᵀ·dY", "[linalg][matmul]") {
    const std::size_t p = 3, n = 4, m = 2;
    const std::uint64_t seed = 400;
    INFO("seed " << seed << " shape [3x4]·[4x2]");
    const matrix<double> a = random_matrix(p, n, seed), b = random_matrix(n, m, seed + 1),
                         dy = random_matrix(p, m, seed + 2);
    // Hand formulas with plain loops.
    matrix<double> da({p, n}), db({n, m});
    for (std::size_t i = 0; i < p; ++i) {
        for (std::size_t k = 0; k < n; ++k) {
            double s = 0;
            for (std::size_t j = 0; j < m; ++j) s += dy(i, j) * b(k, j);  // (dY·Bᵀ)(i, k)
            da(i, k) = s;
        }
    }
    for (std::size_t k = 0; k < n; ++k) {
        for (std::size_t j = 0; j < m; ++j) {
            double s = 0;
            for (std::size_t i = 0; i < p; ++i) s += a(i, k) * dy(i, j);  // (Aᵀ·dY)(k, j)
            db(k, j) = s;
        }
    }
    SECTION("both inputs are variables") {
        xgrad::graph<double> g;
        auto va = g.variable(a, "A"), vb = g.variable(b, "B");
        g.backward(xgrad::matmul(va, vb), dy);
        XGRAD_REQUIRE_CLOSE(va.grad(), da, kRtol, kAtol);
        XGRAD_REQUIRE_CLOSE(vb.grad(), db, kRtol, kAtol);
    }
    SECTION("only B needs a gradient (A is data)") {
        xgrad::graph<double> g;
        auto vb = g.variable(b, "B");
        g.backward(xgrad::matmul(g.constant(a), vb), dy);
        XGRAD_REQUIRE_CLOSE(vb.grad(), db, kRtol, kAtol);
    }
    SECTION("only A needs a gradient (W·X with X data)") {
        xgrad::graph<double> g;
        auto va = g.variable(a, "A");
        g.backward(xgrad::matmul(va, g.constant(b)), dy);
        XGRAD_REQUIRE_CLOSE(va.grad(), da, kRtol, kAtol);
    }
}

TEST_CASE("linalg: matmul inner-dimension mismatch throws shape_error naming both shapes",
          "[linalg][matmul][error]") {
    xgrad::graph<double> g;
    auto a = g.variable(random_matrix(3, 4, 1)), b = g.variable(random_matrix(5, 2, 2));
    const std::size_t before = g.size();
    const std::string msg = shape_error_message([&] { xgrad::matmul(a, b); });
    INFO(msg);
    REQUIRE_THAT(msg, Catch::Contains("matmul"));
    REQUIRE_THAT(msg, Catch::Contains("[3×4]"));
    REQUIRE_THAT(msg, Catch::Contains("[5×2]"));
    REQUIRE_THAT(msg, Catch::Contains("linalg_test.cpp"));
    // The failed op leaves nothing on the tape, and the graph stays usable.
    REQUIRE(g.size() == before);
    auto ok = xgrad::matmul(a, g.variable(random_matrix(4, 2, 3)));
    REQUIRE(ok.shape() == shape2{3, 2});
}

TEST_CASE("linalg: matmul error names the tensors the user named", "[linalg][matmul][error]") {
    xgrad::graph<double> g;
    auto w = g.variable(random_matrix(2, 3, 1), "W1");
    auto x = g.constant(random_matrix(2, 5, 2), "X");
    const std::string msg = shape_error_message([&] { xgrad::matmul(w, x); });
    INFO(msg);
    REQUIRE_THAT(msg, Catch::Contains("W1"));
    REQUIRE_THAT(msg, Catch::Contains("[2×3]"));
    REQUIRE_THAT(msg, Catch::Contains("[2×5]"));
    REQUIRE_THAT(msg, Catch::Contains("linalg_test.cpp"));
}

TEST_CASE("linalg: matmul with an empty inner dimension gives zeros", "[linalg][matmul][edge]") {
    xgrad::graph<double> g;
    // Record a non-empty product first, then clear: the node (and its output buffer) is reused, so a kernel
    // that skipped writing the k = 0 result would expose the stale values.
    auto first = xgrad::matmul(g.constant(random_matrix(3, 2, 5)), g.constant(random_matrix(2, 4, 6)));
    REQUIRE(first.shape() == shape2{3, 4});
    g.clear();
    auto a = g.variable(matrix<double>({3, 0})), b = g.variable(matrix<double>({0, 4}));
    auto y = xgrad::matmul(a, b);
    REQUIRE(y.shape() == shape2{3, 4});
    XGRAD_REQUIRE_CLOSE(y.value(), matrix<double>({3, 4}, 0.0), 0.0, 0.0);
    // Backward through it works and gives empty gradients of the inputs' shapes.
    g.backward(xgrad::sum(y));
    REQUIRE(xgrad::shape_of(a.grad()) == shape2{3, 0});
    REQUIRE(xgrad::shape_of(b.grad()) == shape2{0, 4});
}

TEST_CASE("linalg: matmul in float matches double", "[linalg][matmul][float]") {
    std::uint64_t seed = 500;
    for (const auto& [p, n, m] : matmul_shapes()) {
        ++seed;
        INFO("seed " << seed << " shape [" << p << "x" << n << "]·[" << n << "x" << m << "]");
        const matrix<float> af = random_matrix<float>(p, n, seed), bf = random_matrix<float>(n, m, seed + 1);
        xgrad::graph<float> gf;
        auto yf = xgrad::matmul(gf.constant(af), gf.constant(bf));
        // Reference in double from the same (float-representable) inputs; float error ~ n·2⁻²⁴ per element.
        XGRAD_REQUIRE_CLOSE(to_double(yf.value()), loop_matmul(to_double(af), to_double(bf)), 1e-5, 1e-6);
    }
}

// ------------------------------------------------------------------------------------------------ transpose

TEST_CASE("linalg: transpose values", "[linalg][transpose]") {
    std::uint64_t seed = 600;
    for (const auto& s : shapes2()) {
        ++seed;
        INFO("seed " << seed << " shape [" << s[0] << "x" << s[1] << "]");
        const matrix<double> a = random_matrix(s[0], s[1], seed);
        xgrad::graph<double> g;
        auto y = xgrad::transpose(g.constant(a));
        REQUIRE(y.shape() == shape2{s[1], s[0]});
        XGRAD_REQUIRE_CLOSE(y.value(), loop_transpose(a), 0.0, 0.0);  // a copy: exact
        auto yy = xgrad::transpose(y);
        XGRAD_REQUIRE_CLOSE(yy.value(), a, 0.0, 0.0);
    }
}

TEST_CASE("linalg: transpose gradcheck", "[linalg][transpose][gradcheck]") {
    std::uint64_t seed = 700;
    for (const auto& s : shapes2()) {
        ++seed;
        INFO("seed " << seed << " shape [" << s[0] << "x" << s[1] << "]");
        auto r = xgrad::gradcheck([](auto x) { return xgrad::transpose(x[0]); },
                                  {random_matrix(s[0], s[1], seed)});
        INFO(r.report);
        REQUIRE(r.ok);
    }
    // Accumulation: X reaches the sum directly and through transpose(transpose(X)).
    const std::uint64_t s2 = 710;
    INFO("seed " << s2 << " shape [2x3]");
    auto r = xgrad::gradcheck(
        [](auto x) { return xgrad::add(x[0], xgrad::mul(x[0], xgrad::transpose(xgrad::transpose(x[0])))); },
        {random_matrix(2, 3, s2)});
    INFO(r.report);
    REQUIRE(r.ok);
}

TEST_CASE("linalg: transpose backward is dA = dYᵀ", "[linalg][transpose]") {
    const std::uint64_t seed = 800;
    INFO("seed " << seed << " shape [3x5]");
    const matrix<double> a = random_matrix(3, 5, seed), dy = random_matrix(5, 3, seed + 1);
    xgrad::graph<double> g;
    auto va = g.variable(a);
    g.backward(xgrad::transpose(va), dy);
    XGRAD_REQUIRE_CLOSE(va.grad(), loop_transpose(dy), 0.0, 0.0);
}

TEST_CASE("linalg: transpose of a row is a column and back (edge)", "[linalg][transpose][edge]") {
    xgrad::graph<double> g;
    matrix<double> row = {{1.0, 2.0, 3.0}};
    auto col = xgrad::transpose(g.constant(row));
    REQUIRE(col.shape() == shape2{3, 1});
    CHECK(col.value()(0, 0) == 1.0);
    CHECK(col.value()(1, 0) == 2.0);
    CHECK(col.value()(2, 0) == 3.0);
    auto empty = xgrad::transpose(g.constant(matrix<double>({0, 4})));
    REQUIRE(empty.shape() == shape2{4, 0});
}

// Regression: transpose's backward once computed dY(j, i) + β·G(i, j) even when β = 0, so a gradient buffer
// still holding Inf from an earlier step (zero_grad clears a flag, not the buffer) became 0·Inf = NaN.
TEST_CASE("linalg: transpose backward overwrites a stale gradient buffer when beta = 0",
          "[linalg][transpose][regression]") {
    xgrad::graph<double> g;
    auto x = g.variable(random_matrix(2, 3, 900));
    auto y = xgrad::transpose(x);
    // A diverged step leaves Inf in x's gradient buffer.
    g.backward(y, matrix<double>({3, 2}, std::numeric_limits<double>::infinity()));
    g.zero_grad();  // marks the gradient as zero; the buffer keeps its contents
    const matrix<double> dy = random_matrix(3, 2, 901);
    g.backward(y, dy);
    XGRAD_REQUIRE_CLOSE(x.grad(), loop_transpose(dy), 0.0, 0.0);
}

TEST_CASE("linalg: matmul and add_bias overwrite a stale gradient buffer when beta = 0", "[linalg][edge]") {
    const double inf = std::numeric_limits<double>::infinity();
    xgrad::graph<double> g;
    const matrix<double> a = random_matrix(2, 3, 910), b = random_matrix(3, 4, 911),
                         bias = random_matrix(2, 1, 912);
    auto va = g.variable(a), vb = g.variable(b), vbias = g.variable(bias);
    auto y = xgrad::add_bias(xgrad::matmul(va, vb), vbias);
    g.backward(y, matrix<double>({2, 4}, inf));
    g.zero_grad();
    g.backward(y, matrix<double>({2, 4}, 1.0));
    // With dY = 1: dA(i, k) = Σⱼ B(k, j), dB(k, j) = Σᵢ A(i, k), db(i) = m.
    matrix<double> da({2, 3}), db({3, 4});
    for (std::size_t i = 0; i < 2; ++i) {
        for (std::size_t k = 0; k < 3; ++k) {
            double s = 0;
            for (std::size_t j = 0; j < 4; ++j) s += b(k, j);
            da(i, k) = s;
        }
    }
    for (std::size_t k = 0; k < 3; ++k) {
        for (std::size_t j = 0; j < 4; ++j) db(k, j) = a(0, k) + a(1, k);
    }
    XGRAD_REQUIRE_CLOSE(va.grad(), da, kRtol, kAtol);
    XGRAD_REQUIRE_CLOSE(vb.grad(), db, kRtol, kAtol);
    XGRAD_REQUIRE_CLOSE(vbias.grad(), matrix<double>({2, 1}, 4.0), 0.0, 0.0);
}

TEST_CASE("linalg: transpose in float matches double", "[linalg][transpose][float]") {
    const matrix<float> af = random_matrix<float>(3, 5, 950);
    xgrad::graph<float> gf;
    auto yf = xgrad::transpose(gf.constant(af));
    XGRAD_REQUIRE_CLOSE(to_double(yf.value()), loop_transpose(to_double(af)), 0.0, 0.0);
}

// ------------------------------------------------------------------------------------------------ add_bias

TEST_CASE("linalg: add_bias values", "[linalg][add_bias]") {
    SECTION("hand-checkable") {
        xgrad::graph<double> g;
        matrix<double> a = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
        matrix<double> b = {{10.0}, {20.0}};
        auto y = xgrad::add_bias(g.constant(a), g.constant(b));
        REQUIRE(y.shape() == shape2{2, 3});
        CHECK(y.value()(0, 2) == 13.0);
        CHECK(y.value()(1, 0) == 24.0);
    }
    SECTION("random shapes against loops") {
        std::uint64_t seed = 1000;
        for (const auto& s : shapes2()) {
            ++seed;
            INFO("seed " << seed << " shape [" << s[0] << "x" << s[1] << "] + [" << s[0] << "x1]");
            const matrix<double> a = random_matrix(s[0], s[1], seed), b = random_matrix(s[0], 1, seed + 1);
            matrix<double> want({s[0], s[1]});
            for (std::size_t i = 0; i < s[0]; ++i) {
                for (std::size_t j = 0; j < s[1]; ++j) want(i, j) = a(i, j) + b(i, 0);
            }
            xgrad::graph<double> g;
            auto y = xgrad::add_bias(g.constant(a), g.constant(b));
            XGRAD_REQUIRE_CLOSE(y.value(), want, 0.0, 0.0);  // one addition per element: exact
        }
    }
}

TEST_CASE("linalg: add_bias gradcheck", "[linalg][add_bias][gradcheck]") {
    std::uint64_t seed = 1100;
    for (const auto& s : shapes2()) {
        ++seed;
        INFO("seed " << seed << " shape [" << s[0] << "x" << s[1] << "] + [" << s[0] << "x1]");
        auto r = xgrad::gradcheck([](auto x) { return xgrad::add_bias(x[0], x[1]); },
                                  {random_matrix(s[0], s[1], seed), random_matrix(s[0], 1, seed + 1)});
        INFO(r.report);
        REQUIRE(r.ok);
    }
    // The lecture's layer pre-activation A = W·X + b.
    const std::uint64_t s2 = 1150;
    INFO("seed " << s2 << " W [3x4], X [4x5], b [3x1]");
    auto r =
        xgrad::gradcheck([](auto x) { return xgrad::add_bias(xgrad::matmul(x[0], x[1]), x[2]); },
                         {random_matrix(3, 4, s2), random_matrix(4, 5, s2 + 1), random_matrix(3, 1, s2 + 2)});
    INFO(r.report);
    REQUIRE(r.ok);
}

TEST_CASE("linalg: add_bias backward is dA = dY, db = sum over columns", "[linalg][add_bias]") {
    const std::size_t p = 4, m = 6;
    const std::uint64_t seed = 1200;
    INFO("seed " << seed << " shape [4x6] + [4x1]");
    const matrix<double> a = random_matrix(p, m, seed), b = random_matrix(p, 1, seed + 1),
                         dy = random_matrix(p, m, seed + 2);
    matrix<double> db({p, 1});
    for (std::size_t i = 0; i < p; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < m; ++j) s += dy(i, j);
        db(i, 0) = s;
    }
    SECTION("both are variables") {
        xgrad::graph<double> g;
        auto va = g.variable(a), vb = g.variable(b);
        g.backward(xgrad::add_bias(va, vb), dy);
        XGRAD_REQUIRE_CLOSE(va.grad(), dy, 0.0, 0.0);
        XGRAD_REQUIRE_CLOSE(vb.grad(), db, kRtol, kAtol);
    }
    SECTION("only the bias needs a gradient") {
        xgrad::graph<double> g;
        auto vb = g.variable(b);
        g.backward(xgrad::add_bias(g.constant(a), vb), dy);
        XGRAD_REQUIRE_CLOSE(vb.grad(), db, kRtol, kAtol);
    }
    SECTION("a parameter bias accumulates over two backward passes") {
        xgrad::parameter<double> pb(b, "b");
        xgrad::graph<double> g;
        auto y = xgrad::add_bias(g.constant(a), g.param(pb));
        g.backward(y, dy);
        g.backward(y, dy);
        matrix<double> twice = db;
        for (auto& v : twice) v *= 2.0;
        XGRAD_REQUIRE_CLOSE(pb.grad(), twice, kRtol, kAtol);
    }
}

TEST_CASE("linalg: add_bias rejects a bias that is not p×1", "[linalg][add_bias][error]") {
    xgrad::graph<double> g;
    auto a = g.variable(random_matrix(3, 4, 1));
    SECTION("row bias [1×p]") {
        auto b = g.variable(random_matrix(1, 3, 2));
        const std::string msg = shape_error_message([&] { xgrad::add_bias(a, b); });
        INFO(msg);
        REQUIRE_THAT(msg, Catch::Contains("add_bias"));
        REQUIRE_THAT(msg, Catch::Contains("[1×3]"));
        REQUIRE_THAT(msg, Catch::Contains("[3×4]"));
        REQUIRE_THAT(msg, Catch::Contains("linalg_test.cpp"));
    }
    SECTION("row bias [1×m] (would broadcast with +, but add_bias is strict)") {
        auto b = g.variable(random_matrix(1, 4, 3));
        const std::string msg = shape_error_message([&] { xgrad::add_bias(a, b); });
        INFO(msg);
        REQUIRE_THAT(msg, Catch::Contains("add_bias"));
        REQUIRE_THAT(msg, Catch::Contains("[1×4]"));
        REQUIRE_THAT(msg, Catch::Contains("linalg_test.cpp"));
        REQUIRE_NOTHROW(xgrad::add(a, b));
    }
    SECTION("two columns [p×2]") {
        auto b = g.variable(random_matrix(3, 2, 4));
        const std::string msg = shape_error_message([&] { xgrad::add_bias(a, b); });
        INFO(msg);
        REQUIRE_THAT(msg, Catch::Contains("add_bias"));
        REQUIRE_THAT(msg, Catch::Contains("[3×2]"));
        REQUIRE_THAT(msg, Catch::Contains("linalg_test.cpp"));
    }
    SECTION("wrong number of rows [(p+1)×1]") {
        auto b = g.variable(random_matrix(4, 1, 5));
        const std::string msg = shape_error_message([&] { xgrad::add_bias(a, b); });
        INFO(msg);
        REQUIRE_THAT(msg, Catch::Contains("add_bias"));
        REQUIRE_THAT(msg, Catch::Contains("[4×1]"));
        REQUIRE_THAT(msg, Catch::Contains("linalg_test.cpp"));
    }
    SECTION("full matrix [p×m]") {
        auto b = g.variable(random_matrix(3, 4, 6));
        REQUIRE_THROWS_AS(xgrad::add_bias(a, b), xgrad::shape_error);
    }
}

TEST_CASE("linalg: add_bias in float matches double", "[linalg][add_bias][float]") {
    const matrix<double> a = random_matrix(3, 5, 1300), b = random_matrix(3, 1, 1301);
    xgrad::graph<double> gd;
    auto yd = xgrad::add_bias(gd.constant(a), gd.constant(b));
    xgrad::graph<float> gf;
    auto yf = xgrad::add_bias(gf.constant(to_float(a)), gf.constant(to_float(b)));
    XGRAD_REQUIRE_CLOSE(to_double(yf.value()), yd.value(), 1e-6, 1e-6);
}
