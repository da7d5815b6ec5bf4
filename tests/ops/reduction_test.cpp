// Tests of the reductions: sum and mean, of the whole tensor and along axis 0 (over rows → [1×c]) and axis 1
// (over columns → [r×1]). Expected values are computed here with plain loops.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

namespace {
using xgrad::test::shape_error_message;
using xgrad::test::to_double;

using xgrad::matrix;
using xgrad::shape2;
using xgrad::var;
using xgrad::test::random_matrix;

constexpr double kRtol = 1e-12;  // double sums of ≤ 36 terms vs loops (summation order may differ)
constexpr double kAtol = 1e-13;
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string str(const shape2& s) {
    return "[" + std::to_string(s[0]) + "x" + std::to_string(s[1]) + "]";
}

/// Shapes: single element, single column (m = 1), single row, non-square, plus seeded random ones.
std::vector<shape2> shapes() {
    std::vector<shape2> s = {{1, 1}, {4, 1}, {1, 5}, {2, 3}, {6, 4}};
    std::mt19937_64 rng(53);
    std::uniform_int_distribution<std::size_t> d(1, 6);
    for (int t = 0; t < 3; ++t) s.push_back({d(rng), d(rng)});
    return s;
}

/// axis −1 here means "whole tensor" (the overloads without an axis).
enum class how { whole, axis0, axis1 };

const char* describe(how h) {
    switch (h) {
        case how::whole:
            return "whole";
        case how::axis0:
            return "axis 0";
        case how::axis1:
            return "axis 1";
    }
    return "?";
}

/// Reference reduction by plain loops: whole → [1×1], axis 0 → [1×c], axis 1 → [r×1]; mean divides by the
/// count.
matrix<double> loop_reduce(const matrix<double>& a, how h, bool mean) {
    const std::size_t r = a.shape()[0], c = a.shape()[1];
    if (h == how::whole) {
        double s = 0;
        for (std::size_t i = 0; i < r; ++i) {
            for (std::size_t j = 0; j < c; ++j) s += a(i, j);
        }
        return matrix<double>({1, 1}, mean ? s / static_cast<double>(r * c) : s);
    }
    if (h == how::axis0) {
        matrix<double> y({1, c});
        for (std::size_t j = 0; j < c; ++j) {
            double s = 0;
            for (std::size_t i = 0; i < r; ++i) s += a(i, j);
            y(0, j) = mean ? s / static_cast<double>(r) : s;
        }
        return y;
    }
    matrix<double> y({r, 1});
    for (std::size_t i = 0; i < r; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < c; ++j) s += a(i, j);
        y(i, 0) = mean ? s / static_cast<double>(c) : s;
    }
    return y;
}

/// dA for a seed dY by plain loops: dY broadcast back along the reduced axis, divided by the count for mean.
matrix<double> loop_reduce_backward(const shape2& s, const matrix<double>& dy, how h, bool mean) {
    const std::size_t r = s[0], c = s[1];
    matrix<double> da(s);
    for (std::size_t i = 0; i < r; ++i) {
        for (std::size_t j = 0; j < c; ++j) {
            switch (h) {
                case how::whole:
                    da(i, j) = mean ? dy(0, 0) / static_cast<double>(r * c) : dy(0, 0);
                    break;
                case how::axis0:
                    da(i, j) = mean ? dy(0, j) / static_cast<double>(r) : dy(0, j);
                    break;
                case how::axis1:
                    da(i, j) = mean ? dy(i, 0) / static_cast<double>(c) : dy(i, 0);
                    break;
            }
        }
    }
    return da;
}

template <class T>
var<T> reduce(const var<T>& a, how h, bool mean) {
    switch (h) {
        case how::whole:
            return mean ? xgrad::mean(a) : xgrad::sum(a);
        case how::axis0:
            return mean ? xgrad::mean(a, 0) : xgrad::sum(a, 0);
        case how::axis1:
            return mean ? xgrad::mean(a, 1) : xgrad::sum(a, 1);
    }
    return a;
}

shape2 reduced_shape(const shape2& s, how h) {
    return h == how::whole ? shape2{1, 1} : h == how::axis0 ? shape2{1, s[1]} : shape2{s[0], 1};
}

void check_values(how h, bool mean, std::uint64_t seed) {
    for (const auto& s : shapes()) {
        ++seed;
        INFO((mean ? "mean " : "sum ") << describe(h) << " seed " << seed << " shape " << str(s));
        const matrix<double> a = random_matrix(s[0], s[1], seed);
        xgrad::graph<double> g;
        auto y = reduce(g.constant(a), h, mean);
        REQUIRE(y.shape() == reduced_shape(s, h));
        XGRAD_REQUIRE_CLOSE(y.value(), loop_reduce(a, h, mean), kRtol, kAtol);
    }
}

void check_backward(how h, bool mean, std::uint64_t seed) {
    for (const auto& s : shapes()) {
        seed += 2;
        INFO((mean ? "mean " : "sum ") << describe(h) << " seed " << seed << " shape " << str(s));
        const matrix<double> a = random_matrix(s[0], s[1], seed);
        const shape2 out = reduced_shape(s, h);
        const matrix<double> dy = random_matrix(out[0], out[1], seed + 1);
        xgrad::graph<double> g;
        auto va = g.variable(a);
        g.backward(reduce(va, h, mean), dy);
        XGRAD_REQUIRE_CLOSE(va.grad(), loop_reduce_backward(s, dy, h, mean), kRtol, kAtol);
    }
}

void check_gradcheck(how h, bool mean, std::uint64_t seed) {
    for (const auto& s : shapes()) {
        ++seed;
        INFO((mean ? "mean " : "sum ") << describe(h) << " seed " << seed << " shape " << str(s));
        auto r = xgrad::gradcheck([h, mean](auto x) { return reduce(x[0], h, mean); },
                                  {random_matrix(s[0], s[1], seed)});
        INFO(r.report);
        REQUIRE(r.ok);
    }
}

}  // namespace

// ------------------------------------------------------------------------------------------------ sum

TEST_CASE("reduction: sum values (whole, axis 0, axis 1)", "[reduction][sum]") {
    SECTION("hand-checkable") {
        xgrad::graph<double> g;
        auto a = g.constant(matrix<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
        CHECK(xgrad::sum(a).item() == 21.0);
        auto s0 = xgrad::sum(a, 0);
        REQUIRE(s0.shape() == shape2{1, 3});
        CHECK(s0.value()(0, 0) == 5.0);
        CHECK(s0.value()(0, 2) == 9.0);
        auto s1 = xgrad::sum(a, 1);
        REQUIRE(s1.shape() == shape2{2, 1});
        CHECK(s1.value()(0, 0) == 6.0);
        CHECK(s1.value()(1, 0) == 15.0);
    }
    SECTION("whole") {
        check_values(how::whole, false, 100);
    }
    SECTION("axis 0") {
        check_values(how::axis0, false, 200);
    }
    SECTION("axis 1") {
        check_values(how::axis1, false, 300);
    }
}

TEST_CASE("reduction: sum backward broadcasts dY back (whole, axis 0, axis 1)", "[reduction][sum]") {
    SECTION("whole") {
        check_backward(how::whole, false, 400);
    }
    SECTION("axis 0") {
        check_backward(how::axis0, false, 500);
    }
    SECTION("axis 1") {
        check_backward(how::axis1, false, 600);
    }
}

TEST_CASE("reduction: sum gradcheck (whole, axis 0, axis 1)", "[reduction][sum][gradcheck]") {
    SECTION("whole") {
        check_gradcheck(how::whole, false, 700);
    }
    SECTION("axis 0") {
        check_gradcheck(how::axis0, false, 800);
    }
    SECTION("axis 1") {
        check_gradcheck(how::axis1, false, 900);
    }
}

TEST_CASE("reduction: sum of an empty extent is zero", "[reduction][sum][edge]") {
    xgrad::graph<double> g;
    auto a = g.variable(matrix<double>({0, 3}));
    CHECK(xgrad::sum(a).item() == 0.0);
    auto s0 = xgrad::sum(a, 0);  // no rows: each column sums to 0
    REQUIRE(s0.shape() == shape2{1, 3});
    XGRAD_REQUIRE_CLOSE(s0.value(), matrix<double>({1, 3}, 0.0), 0.0, 0.0);
    auto s1 = xgrad::sum(a, 1);  // no rows to produce
    REQUIRE(s1.shape() == shape2{0, 1});
    g.backward(xgrad::sum(s0));
    REQUIRE(xgrad::shape_of(a.grad()) == shape2{0, 3});
}

// ------------------------------------------------------------------------------------------------ mean

TEST_CASE("reduction: mean values (whole, axis 0, axis 1)", "[reduction][mean]") {
    SECTION("hand-checkable") {
        xgrad::graph<double> g;
        auto a = g.constant(matrix<double>{{1.0, 2.0, 3.0}, {5.0, 6.0, 7.0}});
        CHECK(xgrad::mean(a).item() == 4.0);
        auto m0 = xgrad::mean(a, 0);
        REQUIRE(m0.shape() == shape2{1, 3});
        CHECK(m0.value()(0, 0) == 3.0);
        CHECK(m0.value()(0, 2) == 5.0);
        auto m1 = xgrad::mean(a, 1);
        REQUIRE(m1.shape() == shape2{2, 1});
        CHECK(m1.value()(0, 0) == 2.0);
        CHECK(m1.value()(1, 0) == 6.0);
    }
    SECTION("whole") {
        check_values(how::whole, true, 1100);
    }
    SECTION("axis 0") {
        check_values(how::axis0, true, 1200);
    }
    SECTION("axis 1") {
        check_values(how::axis1, true, 1300);
    }
}

TEST_CASE("reduction: mean backward is dY/n broadcast back (whole, axis 0, axis 1)", "[reduction][mean]") {
    SECTION("whole") {
        check_backward(how::whole, true, 1400);
    }
    SECTION("axis 0") {
        check_backward(how::axis0, true, 1500);
    }
    SECTION("axis 1") {
        check_backward(how::axis1, true, 1600);
    }
}

TEST_CASE("reduction: mean gradcheck (whole, axis 0, axis 1)", "[reduction][mean][gradcheck]") {
    SECTION("whole") {
        check_gradcheck(how::whole, true, 1700);
    }
    SECTION("axis 0") {
        check_gradcheck(how::axis0, true, 1800);
    }
    SECTION("axis 1") {
        check_gradcheck(how::axis1, true, 1900);
    }
}

TEST_CASE("reduction: mean of an empty extent is rejected with shape_error",
          "[reduction][mean][edge][error]") {
    xgrad::graph<double> g;
    auto rows0 = g.variable(matrix<double>({0, 3}));
    auto cols0 = g.variable(matrix<double>({3, 0}));
    for (const auto& [label, fn] : std::vector<std::pair<std::string, std::function<void()>>>{
             {"mean of [0x3]", [&] { xgrad::mean(rows0); }},
             {"mean of [3x0]", [&] { xgrad::mean(cols0); }},
             {"mean axis 0 of [0x3]", [&] { xgrad::mean(rows0, 0); }},
             {"mean axis 1 of [3x0]", [&] { xgrad::mean(cols0, 1); }},
         }) {
        INFO(label);
        const std::size_t before = g.size();
        const std::string msg = shape_error_message(fn);
        INFO(msg);
        REQUIRE_THAT(msg, Catch::StartsWith("mean"));
        REQUIRE_THAT(msg, Catch::Contains("empty"));
        REQUIRE_THAT(msg, Catch::Contains("reduction_test.cpp"));
        REQUIRE(g.size() == before);
    }
    // Reducing along the non-empty axis is fine: nothing is divided by zero.
    auto m1 = xgrad::mean(rows0, 1);
    REQUIRE(m1.shape() == shape2{0, 1});
    auto m0 = xgrad::mean(cols0, 0);
    REQUIRE(m0.shape() == shape2{1, 0});
}

// ------------------------------------------------------------------------------------------------ axis
// errors

TEST_CASE("reduction: axis other than 0 or 1 is rejected with shape_error", "[reduction][edge][error]") {
    xgrad::graph<double> g;
    auto a = g.variable(random_matrix(3, 4, 1));
    for (int axis : {2, -1, 3, -2}) {
        for (bool mean : {false, true}) {
            INFO((mean ? "mean" : "sum") << " axis " << axis);
            const std::size_t before = g.size();
            const std::string msg =
                shape_error_message([&] { mean ? xgrad::mean(a, axis) : xgrad::sum(a, axis); });
            INFO(msg);
            REQUIRE_THAT(msg, Catch::StartsWith(mean ? "mean" : "sum"));
            REQUIRE_THAT(msg, Catch::Contains("axis"));
            REQUIRE_THAT(msg, Catch::Contains(std::to_string(axis)));
            REQUIRE_THAT(msg, Catch::Contains("reduction_test.cpp"));
            REQUIRE(g.size() == before);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// compositions

TEST_CASE("reduction: lecture formulas db = (1/m) sum(dA, axis=1) and column means", "[reduction]") {
    // mean(A, 1) is (1/m)·np.sum(A, axis=1): [p×m] → [p×1]; its gradient spreads dY/m over the columns.
    const std::uint64_t seed = 2000;
    INFO("seed " << seed << " shape [3x5]");
    const matrix<double> a = random_matrix(3, 5, seed);
    xgrad::graph<double> g;
    auto va = g.variable(a);
    auto via_mean = xgrad::mean(va, 1);
    auto via_sum = xgrad::mul_scalar(xgrad::sum(va, 1), 1.0 / 5.0);
    XGRAD_REQUIRE_CLOSE(via_mean.value(), via_sum.value(), kRtol, kAtol);
    // Reductions chained: sum(sum(A, 0), 1) = sum(A) = r·c·mean(A).
    REQUIRE(std::abs(xgrad::sum(xgrad::sum(va, 0), 1).item() - xgrad::sum(va).item()) <= 1e-13);
    REQUIRE(std::abs(xgrad::sum(va).item() - 15.0 * xgrad::mean(va).item()) <= 1e-13);
    auto r = xgrad::gradcheck(
        [](auto x) { return xgrad::mean(xgrad::mul(xgrad::sum(x[0], 0), xgrad::mean(x[0], 1)), 0); },
        {random_matrix(3, 1, seed + 1)});
    INFO(r.report);
    REQUIRE(r.ok);
    auto r2 = xgrad::gradcheck([](auto x) { return xgrad::mul(xgrad::sum(x[0], 1), xgrad::mean(x[0], 0)); },
                               {random_matrix(4, 3, seed + 2)});
    INFO(r2.report);
    REQUIRE(r2.ok);
}

TEST_CASE("reduction: backward overwrites a stale gradient buffer after zero_grad", "[reduction][edge]") {
    xgrad::graph<double> g;
    const matrix<double> a = random_matrix(3, 4, 2100);
    auto va = g.variable(a);
    for (how h : {how::whole, how::axis0, how::axis1}) {
        for (bool mean : {false, true}) {
            INFO((mean ? "mean " : "sum ") << describe(h));
            auto y = reduce(va, h, mean);
            const shape2 out = reduced_shape({3, 4}, h);
            g.zero_grad();
            g.backward(y, matrix<double>(out, kInf));
            g.zero_grad();
            const matrix<double> dy = random_matrix(out[0], out[1], 2101);
            g.backward(y, dy);
            XGRAD_REQUIRE_CLOSE(va.grad(), loop_reduce_backward({3, 4}, dy, h, mean), kRtol, kAtol);
        }
    }
}

// ------------------------------------------------------------------------------------------------ float

TEST_CASE("reduction: float forward values match double", "[reduction][float]") {
    std::uint64_t seed = 3000;
    for (const auto& s : shapes()) {
        ++seed;
        INFO("seed " << seed << " shape " << str(s));
        const matrix<float> af = random_matrix<float>(s[0], s[1], seed);
        const matrix<double> ad = to_double(af);
        xgrad::graph<float> gf;
        auto a32 = gf.constant(af);
        for (how h : {how::whole, how::axis0, how::axis1}) {
            for (bool mean : {false, true}) {
                INFO((mean ? "mean " : "sum ") << describe(h));
                // Sums of ≤ 36 terms in [−1, 1): float error ≲ 36·2⁻²⁴·Σ|aᵢ|, covered by atol 1e-5.
                XGRAD_REQUIRE_CLOSE(to_double(reduce(a32, h, mean).value()), loop_reduce(ad, h, mean), 1e-5,
                                    1e-5);
            }
        }
    }
}
