// Tests of the element-wise ops: add, sub, mul, div (with broadcasting), neg, the scalar forms, the C++
// operators, exp, log, square, pow. Expected values and derivatives are computed here with plain loops and
// <cmath>, never copied from the library.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

namespace {
using xgrad::test::shape_error_message;
using xgrad::test::to_double;
using xgrad::test::to_float;

using xgrad::matrix;
using xgrad::shape2;
using xgrad::var;
using xgrad::test::random_matrix;

constexpr double kRtol = 1e-12;  // double forward values and derivatives vs <cmath> (a few roundings apart)
constexpr double kAtol = 1e-14;
constexpr double kFloatRtol = 1e-5;  // float results vs double on the same inputs (single-precision rounding)
constexpr double kFloatAtol = 1e-6;
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string str(const shape2& s) {
    return "[" + std::to_string(s[0]) + "x" + std::to_string(s[1]) + "]";
}

/// Where inputs are drawn from: anywhere in [−1, 1), at least 0.5 away from zero (divisors), or in [0.5, 2).
enum class domain { any, nonzero, positive };

matrix<double> draw(std::size_t r, std::size_t c, std::uint64_t seed, domain d) {
    switch (d) {
        case domain::any:
            return random_matrix(r, c, seed);
        case domain::nonzero:
            return xgrad::test::random_away_from_zero(r, c, seed, 0.5);
        case domain::positive:
            return random_matrix(r, c, seed, 0.5, 2.0);
    }
    return {};
}

/// Shapes for unary ops: single element, single column (m = 1), single row, non-square, plus seeded random
/// ones.
std::vector<shape2> unary_shapes() {
    std::vector<shape2> s = {{1, 1}, {4, 1}, {1, 5}, {2, 3}, {5, 2}};
    std::mt19937_64 rng(31);
    std::uniform_int_distribution<std::size_t> d(1, 6);
    for (int t = 0; t < 3; ++t) s.push_back({d(rng), d(rng)});
    return s;
}

/// Operand shape pairs for binary ops: for each [p×m] (including m = 1, p = 1, non-square and seeded random
/// ones) the same shape, [p×1], [1×m] and [1×1] on either side, and both operands broadcasting
/// ([p×1] with [1×m] and [1×m] with [p×1]).
std::vector<std::pair<shape2, shape2>> broadcast_pairs() {
    std::vector<shape2> bases = {{3, 4}, {4, 1}, {1, 5}, {2, 3}, {1, 1}};
    std::mt19937_64 rng(47);
    std::uniform_int_distribution<std::size_t> d(1, 6);
    for (int t = 0; t < 2; ++t) bases.push_back({d(rng), d(rng)});
    std::set<std::pair<shape2, shape2>> pairs;
    for (const auto& [p, m] : bases) {
        const shape2 full{p, m}, col{p, 1}, row{1, m}, one{1, 1};
        for (const shape2& s : {full, col, row, one}) {
            pairs.insert({full, s});
            pairs.insert({s, full});
        }
        pairs.insert({col, row});
        pairs.insert({row, col});
    }
    return {pairs.begin(), pairs.end()};
}

std::size_t bdim(std::size_t x, std::size_t y) {
    return x == 1 ? y : x;
}

/// Y(i, j) = f(A(i', j'), B(i'', j'')) with NumPy broadcasting, by plain loops.
template <class F>
matrix<double> broadcast_ref(const matrix<double>& a, const matrix<double>& b, F f) {
    const shape2 sa = xgrad::shape_of(a), sb = xgrad::shape_of(b);
    const std::size_t r = bdim(sa[0], sb[0]), c = bdim(sa[1], sb[1]);
    matrix<double> y({r, c});
    for (std::size_t i = 0; i < r; ++i) {
        for (std::size_t j = 0; j < c; ++j) {
            y(i, j) = f(a(sa[0] == 1 ? 0 : i, sa[1] == 1 ? 0 : j), b(sb[0] == 1 ? 0 : i, sb[1] == 1 ? 0 : j));
        }
    }
    return y;
}

/// Sums a full-shape matrix down to `s` (over every dimension where s has extent 1), by plain loops.
matrix<double> reduce_to(const matrix<double>& full, const shape2& s) {
    matrix<double> g(s, 0.0);
    for (std::size_t i = 0; i < full.shape()[0]; ++i) {
        for (std::size_t j = 0; j < full.shape()[1]; ++j)
            g(s[0] == 1 ? 0 : i, s[1] == 1 ? 0 : j) += full(i, j);
    }
    return g;
}

using binary_fn = std::function<var<double>(const var<double>&, const var<double>&)>;

/// A binary op with its value f(a, b) and partial derivatives ∂f/∂a, ∂f/∂b written out by hand.
struct binary_case {
    std::string name;
    binary_fn op;
    double (*f)(double, double);
    double (*dfa)(double, double);
    double (*dfb)(double, double);
    domain b_domain;
};

binary_case add_case() {
    return {"add",
            [](const var<double>& a, const var<double>& b) { return xgrad::add(a, b); },
            [](double a, double b) { return a + b; },
            [](double, double) { return 1.0; },
            [](double, double) { return 1.0; },
            domain::any};
}
binary_case sub_case() {
    return {"sub",
            [](const var<double>& a, const var<double>& b) { return xgrad::sub(a, b); },
            [](double a, double b) { return a - b; },
            [](double, double) { return 1.0; },
            [](double, double) { return -1.0; },
            domain::any};
}
binary_case mul_case() {
    return {"mul",
            [](const var<double>& a, const var<double>& b) { return xgrad::mul(a, b); },
            [](double a, double b) { return a * b; },
            [](double, double b) { return b; },
            [](double a, double) { return a; },
            domain::any};
}
binary_case div_case() {
    return {"div",
            [](const var<double>& a, const var<double>& b) { return xgrad::div(a, b); },
            [](double a, double b) { return a / b; },
            [](double, double b) { return 1.0 / b; },
            [](double a, double b) { return -a / (b * b); },
            domain::nonzero};
}
/// The C++ operators on two vars: same rules as the named functions.
std::vector<binary_case> operator_cases() {
    binary_case plus = add_case(), minus = sub_case(), times = mul_case(), over = div_case();
    plus.name = "a + b";
    plus.op = [](const var<double>& a, const var<double>& b) { return a + b; };
    minus.name = "a - b";
    minus.op = [](const var<double>& a, const var<double>& b) { return a - b; };
    times.name = "a * b";
    times.op = [](const var<double>& a, const var<double>& b) { return a * b; };
    over.name = "a / b";
    over.op = [](const var<double>& a, const var<double>& b) { return a / b; };
    return {plus, minus, times, over};
}

/// Forward values over every broadcast pair, against broadcast_ref.
void check_binary_values(const binary_case& c, std::uint64_t seed) {
    for (const auto& [sa, sb] : broadcast_pairs()) {
        seed += 2;
        INFO(c.name << " seed " << seed << " shapes " << str(sa) << " with " << str(sb));
        const matrix<double> a = draw(sa[0], sa[1], seed, domain::any);
        const matrix<double> b = draw(sb[0], sb[1], seed + 1, c.b_domain);
        xgrad::graph<double> g;
        auto y = c.op(g.constant(a), g.constant(b));
        const matrix<double> want = broadcast_ref(a, b, c.f);
        REQUIRE(y.shape() == xgrad::shape_of(want));
        XGRAD_REQUIRE_CLOSE(y.value(), want, kRtol, kAtol);
    }
}

/// Backward with an explicit seed dY against dA = sum_to(dY ⊙ ∂f/∂a), dB = sum_to(dY ⊙ ∂f/∂b) by loops.
void check_binary_backward(const binary_case& c, std::uint64_t seed) {
    for (const auto& [sa, sb] : broadcast_pairs()) {
        seed += 3;
        INFO(c.name << " seed " << seed << " shapes " << str(sa) << " with " << str(sb));
        const matrix<double> a = draw(sa[0], sa[1], seed, domain::any);
        const matrix<double> b = draw(sb[0], sb[1], seed + 1, c.b_domain);
        const shape2 full{bdim(sa[0], sb[0]), bdim(sa[1], sb[1])};
        const matrix<double> dy = random_matrix(full[0], full[1], seed + 2);
        const matrix<double> ga = broadcast_ref(a, b, c.dfa), gb = broadcast_ref(a, b, c.dfb);
        matrix<double> da_full(full), db_full(full);
        for (std::size_t k = 0; k < dy.size(); ++k) {
            da_full.data()[k] = dy.data()[k] * ga.data()[k];
            db_full.data()[k] = dy.data()[k] * gb.data()[k];
        }
        xgrad::graph<double> g;
        auto va = g.variable(a), vb = g.variable(b);
        g.backward(c.op(va, vb), dy);
        XGRAD_REQUIRE_CLOSE(va.grad(), reduce_to(da_full, sa), kRtol, kAtol);
        XGRAD_REQUIRE_CLOSE(vb.grad(), reduce_to(db_full, sb), kRtol, kAtol);
    }
}

void check_binary_gradcheck(const binary_case& c, std::uint64_t seed) {
    for (const auto& [sa, sb] : broadcast_pairs()) {
        seed += 2;
        INFO(c.name << " seed " << seed << " shapes " << str(sa) << " with " << str(sb));
        const binary_fn op = c.op;
        auto r = xgrad::gradcheck(
            [op](auto x) { return op(x[0], x[1]); },
            {draw(sa[0], sa[1], seed, domain::any), draw(sb[0], sb[1], seed + 1, c.b_domain)});
        INFO(r.report);
        REQUIRE(r.ok);
    }
}

using unary_fn = std::function<var<double>(const var<double>&)>;

/// A unary op with its value and derivative written out by hand.
struct unary_case {
    std::string name;
    unary_fn op;
    std::function<double(double)> f, df;
    domain dom;
};

void check_unary_values_and_derivative(const unary_case& c, std::uint64_t seed) {
    for (const auto& s : unary_shapes()) {
        seed += 2;
        INFO(c.name << " seed " << seed << " shape " << str(s));
        const matrix<double> x = draw(s[0], s[1], seed, c.dom), dy = random_matrix(s[0], s[1], seed + 1);
        matrix<double> want(s), dx(s);
        for (std::size_t k = 0; k < x.size(); ++k) {
            want.data()[k] = c.f(x.data()[k]);
            dx.data()[k] = dy.data()[k] * c.df(x.data()[k]);
        }
        xgrad::graph<double> g;
        auto vx = g.variable(x);
        auto y = c.op(vx);
        REQUIRE(y.shape() == s);
        XGRAD_REQUIRE_CLOSE(y.value(), want, kRtol, kAtol);
        g.backward(y, dy);
        XGRAD_REQUIRE_CLOSE(vx.grad(), dx, kRtol, kAtol);
    }
}

void check_unary_gradcheck(const unary_case& c, std::uint64_t seed) {
    for (const auto& s : unary_shapes()) {
        ++seed;
        INFO(c.name << " seed " << seed << " shape " << str(s));
        const unary_fn op = c.op;
        auto r = xgrad::gradcheck([op](auto x) { return op(x[0]); }, {draw(s[0], s[1], seed, c.dom)});
        INFO(r.report);
        REQUIRE(r.ok);
    }
}

constexpr double kS = 2.5;  // the scalar of the scalar ops

unary_case neg_case() {
    return {"neg", [](const var<double>& x) { return xgrad::neg(x); }, [](double x) { return -x; },
            [](double) { return -1.0; }, domain::any};
}
unary_case add_scalar_case() {
    return {"add_scalar", [](const var<double>& x) { return xgrad::add_scalar(x, kS); },
            [](double x) { return x + kS; }, [](double) { return 1.0; }, domain::any};
}
unary_case mul_scalar_case() {
    return {"mul_scalar", [](const var<double>& x) { return xgrad::mul_scalar(x, -kS); },
            [](double x) { return -kS * x; }, [](double) { return -kS; }, domain::any};
}
unary_case rsub_scalar_case() {
    return {"rsub_scalar", [](const var<double>& x) { return xgrad::rsub_scalar(x, kS); },
            [](double x) { return kS - x; }, [](double) { return -1.0; }, domain::any};
}
unary_case rdiv_scalar_case() {
    return {"rdiv_scalar", [](const var<double>& x) { return xgrad::rdiv_scalar(x, kS); },
            [](double x) { return kS / x; }, [](double x) { return -kS / (x * x); }, domain::nonzero};
}
unary_case exp_case() {
    return {"exp", [](const var<double>& x) { return xgrad::exp(x); }, [](double x) { return std::exp(x); },
            [](double x) { return std::exp(x); }, domain::any};
}
unary_case log_case() {
    return {"log", [](const var<double>& x) { return xgrad::log(x); }, [](double x) { return std::log(x); },
            [](double x) { return 1.0 / x; }, domain::positive};
}
unary_case square_case() {
    return {"square", [](const var<double>& x) { return xgrad::square(x); }, [](double x) { return x * x; },
            [](double x) { return 2.0 * x; }, domain::any};
}
unary_case pow_case(double p, domain d) {
    return {"pow p=" + std::to_string(p), [p](const var<double>& x) { return xgrad::pow(x, p); },
            [p](double x) { return std::pow(x, p); }, [p](double x) { return p * std::pow(x, p - 1.0); }, d};
}
std::vector<unary_case> pow_cases() {
    return {pow_case(2.0, domain::any),       pow_case(3.0, domain::any),
            pow_case(-1.0, domain::nonzero),  pow_case(-2.0, domain::nonzero),
            pow_case(0.5, domain::positive),  pow_case(1.5, domain::positive),
            pow_case(-0.5, domain::positive), pow_case(1.0, domain::any)};
}

/// The C++ operators with a scalar (on either side) and unary minus.
std::vector<unary_case> scalar_operator_cases() {
    return {
        {"x + s", [](const var<double>& x) { return x + kS; }, [](double x) { return x + kS; },
         [](double) { return 1.0; }, domain::any},
        {"s + x", [](const var<double>& x) { return kS + x; }, [](double x) { return kS + x; },
         [](double) { return 1.0; }, domain::any},
        {"x - s", [](const var<double>& x) { return x - kS; }, [](double x) { return x - kS; },
         [](double) { return 1.0; }, domain::any},
        {"s - x", [](const var<double>& x) { return kS - x; }, [](double x) { return kS - x; },
         [](double) { return -1.0; }, domain::any},
        {"x * s", [](const var<double>& x) { return x * kS; }, [](double x) { return x * kS; },
         [](double) { return kS; }, domain::any},
        {"s * x", [](const var<double>& x) { return kS * x; }, [](double x) { return kS * x; },
         [](double) { return kS; }, domain::any},
        {"x / s", [](const var<double>& x) { return x / kS; }, [](double x) { return x / kS; },
         [](double) { return 1.0 / kS; }, domain::any},
        {"s / x", [](const var<double>& x) { return kS / x; }, [](double x) { return kS / x; },
         [](double x) { return -kS / (x * x); }, domain::nonzero},
        {"-x", [](const var<double>& x) { return -x; }, [](double x) { return -x; },
         [](double) { return -1.0; }, domain::any},
    };
}

}  // namespace

// ------------------------------------------------------------------------------------------------ binary ops

TEST_CASE("elementwise: add values (broadcasting)", "[elementwise][add]") {
    SECTION("hand-checkable") {
        xgrad::graph<double> g;
        auto y =
            xgrad::add(g.constant(matrix<double>{{1.0, 2.0}}), g.constant(matrix<double>{{10.0}, {20.0}}));
        REQUIRE(y.shape() == shape2{2, 2});  // [1×2] + [2×1] → [2×2]
        CHECK(y.value()(0, 0) == 11.0);
        CHECK(y.value()(0, 1) == 12.0);
        CHECK(y.value()(1, 0) == 21.0);
        CHECK(y.value()(1, 1) == 22.0);
    }
    SECTION("every broadcast pair") {
        check_binary_values(add_case(), 1000);
    }
}
TEST_CASE("elementwise: add backward is sum_to(dY) (broadcasting)", "[elementwise][add]") {
    check_binary_backward(add_case(), 1100);
}
TEST_CASE("elementwise: add gradcheck (broadcasting)", "[elementwise][add][gradcheck]") {
    check_binary_gradcheck(add_case(), 1200);
}

TEST_CASE("elementwise: sub values (broadcasting)", "[elementwise][sub]") {
    SECTION("hand-checkable") {
        xgrad::graph<double> g;
        auto y = xgrad::sub(g.constant(matrix<double>{{5.0, 7.0}}), g.constant(matrix<double>{{2.0}}));
        CHECK(y.value()(0, 0) == 3.0);
        CHECK(y.value()(0, 1) == 5.0);
    }
    SECTION("every broadcast pair") {
        check_binary_values(sub_case(), 2000);
    }
}
TEST_CASE("elementwise: sub backward is sum_to(dY), -sum_to(dY) (broadcasting)", "[elementwise][sub]") {
    check_binary_backward(sub_case(), 2100);
}
TEST_CASE("elementwise: sub gradcheck (broadcasting)", "[elementwise][sub][gradcheck]") {
    check_binary_gradcheck(sub_case(), 2200);
}

TEST_CASE("elementwise: mul values (broadcasting)", "[elementwise][mul]") {
    SECTION("hand-checkable") {
        xgrad::graph<double> g;
        auto y = xgrad::mul(g.constant(matrix<double>{{2.0}, {3.0}}), g.constant(matrix<double>{{4.0, 5.0}}));
        CHECK(y.value()(0, 0) == 8.0);
        CHECK(y.value()(1, 1) == 15.0);
    }
    SECTION("every broadcast pair") {
        check_binary_values(mul_case(), 3000);
    }
}
TEST_CASE("elementwise: mul backward is sum_to(dY*B), sum_to(dY*A) (broadcasting)", "[elementwise][mul]") {
    check_binary_backward(mul_case(), 3100);
}
TEST_CASE("elementwise: mul gradcheck (broadcasting)", "[elementwise][mul][gradcheck]") {
    check_binary_gradcheck(mul_case(), 3200);
}

TEST_CASE("elementwise: div values (broadcasting)", "[elementwise][div]") {
    SECTION("hand-checkable") {
        xgrad::graph<double> g;
        auto y = xgrad::div(g.constant(matrix<double>{{6.0, 9.0}}), g.constant(matrix<double>{{3.0}}));
        CHECK(y.value()(0, 0) == 2.0);
        CHECK(y.value()(0, 1) == 3.0);
    }
    SECTION("every broadcast pair") {
        check_binary_values(div_case(), 4000);
    }
}
TEST_CASE("elementwise: div backward is sum_to(dY/B), -sum_to(dY*A/B^2) (broadcasting)",
          "[elementwise][div]") {
    check_binary_backward(div_case(), 4100);
}
TEST_CASE("elementwise: div gradcheck (broadcasting)", "[elementwise][div][gradcheck]") {
    check_binary_gradcheck(div_case(), 4200);
}

TEST_CASE("elementwise: div by a broadcast column", "[elementwise][div][edge]") {
    // A [p×m] ⊘ b [p×1]: every column divided by the same column b (e.g. normalising each unit).
    const std::size_t p = 3, m = 5;
    const std::uint64_t seed = 4300;
    INFO("seed " << seed << " shapes [3x5] / [3x1]");
    const matrix<double> a = random_matrix(p, m, seed),
                         b = xgrad::test::random_away_from_zero(p, 1, seed + 1, 0.5);
    const matrix<double> dy = random_matrix(p, m, seed + 2);
    matrix<double> want({p, m}), da({p, m}), db({p, 1}, 0.0);
    for (std::size_t i = 0; i < p; ++i) {
        for (std::size_t j = 0; j < m; ++j) {
            want(i, j) = a(i, j) / b(i, 0);
            da(i, j) = dy(i, j) / b(i, 0);
            db(i, 0) -= dy(i, j) * a(i, j) / (b(i, 0) * b(i, 0));  // −Σⱼ dY·A/b²
        }
    }
    xgrad::graph<double> g;
    auto va = g.variable(a), vb = g.variable(b);
    auto y = xgrad::div(va, vb);
    XGRAD_REQUIRE_CLOSE(y.value(), want, kRtol, kAtol);
    g.backward(y, dy);
    XGRAD_REQUIRE_CLOSE(va.grad(), da, kRtol, kAtol);
    XGRAD_REQUIRE_CLOSE(vb.grad(), db, 1e-11, 1e-13);
    for (std::size_t m1 : {std::size_t{1}, std::size_t{4}}) {
        const std::uint64_t s2 = seed + 10 + m1;
        INFO("gradcheck seed " << s2 << " shapes [3x" << m1 << "] / [3x1]");
        auto r = xgrad::gradcheck(
            [](auto x) { return xgrad::div(x[0], x[1]); },
            {random_matrix(3, m1, s2), xgrad::test::random_away_from_zero(3, 1, s2 + 1, 0.5)});
        INFO(r.report);
        REQUIRE(r.ok);
    }
}

TEST_CASE("elementwise: a shared operand accumulates its gradient (x*x, x/x, x-x)",
          "[elementwise][gradcheck]") {
    std::uint64_t seed = 4400;
    for (const auto& s : unary_shapes()) {
        ++seed;
        INFO("seed " << seed << " shape " << str(s));
        const matrix<double> x = xgrad::test::random_away_from_zero(s[0], s[1], seed, 0.5);
        auto r1 = xgrad::gradcheck([](auto v) { return xgrad::mul(v[0], v[0]); }, {x});
        INFO(r1.report);
        REQUIRE(r1.ok);
        auto r2 = xgrad::gradcheck([](auto v) { return xgrad::add(xgrad::div(v[0], v[0]), v[0]); }, {x});
        INFO(r2.report);
        REQUIRE(r2.ok);
        auto r3 = xgrad::gradcheck([](auto v) { return xgrad::mul(xgrad::sub(v[0], v[0]), v[0]); }, {x});
        INFO(r3.report);
        REQUIRE(r3.ok);
    }
}

TEST_CASE("elementwise: non-broadcastable binary ops throw shape_error naming both shapes",
          "[elementwise][error]") {
    const std::vector<std::pair<std::string, binary_fn>> ops = {
        {"add", [](const var<double>& a, const var<double>& b) { return xgrad::add(a, b); }},
        {"sub", [](const var<double>& a, const var<double>& b) { return xgrad::sub(a, b); }},
        {"mul", [](const var<double>& a, const var<double>& b) { return xgrad::mul(a, b); }},
        {"div", [](const var<double>& a, const var<double>& b) { return xgrad::div(a, b); }},
    };
    const std::vector<std::pair<shape2, shape2>> bad = {
        {{3, 4}, {2, 4}}, {{3, 4}, {3, 2}}, {{3, 4}, {4, 3}}, {{3, 4}, {2, 1}}, {{1, 4}, {3, 2}}};
    for (const auto& [name, op] : ops) {
        for (const auto& [sa, sb] : bad) {
            INFO(name << " " << str(sa) << " with " << str(sb));
            xgrad::graph<double> g;
            auto a = g.variable(random_matrix(sa[0], sa[1], 1)),
                 b = g.variable(random_matrix(sb[0], sb[1], 2));
            const std::size_t before = g.size();
            const std::string msg = shape_error_message([&] { op(a, b); });
            INFO(msg);
            REQUIRE_THAT(msg, Catch::StartsWith(name));
            REQUIRE_THAT(msg, Catch::Contains(xgrad::to_string(sa)));
            REQUIRE_THAT(msg, Catch::Contains(xgrad::to_string(sb)));
            REQUIRE_THAT(msg, Catch::Contains("elementwise_test.cpp"));
            REQUIRE(g.size() == before);  // nothing recorded
        }
    }
}

TEST_CASE("elementwise: non-broadcastable operators report the caller's line",
          "[elementwise][operators][error]") {
    xgrad::graph<double> g;
    auto a = g.variable(random_matrix(3, 4, 1)), b = g.variable(random_matrix(2, 4, 2));
    const std::string line = std::to_string(__LINE__ + 1);
    const std::string msg = shape_error_message([&] { (void)(a + b); });
    INFO(msg);
    REQUIRE_THAT(msg, Catch::StartsWith("add"));
    REQUIRE_THAT(msg, Catch::Contains("[3×4]"));
    REQUIRE_THAT(msg, Catch::Contains("[2×4]"));
    REQUIRE_THAT(msg, Catch::Contains("elementwise_test.cpp:" + line));
    REQUIRE_THAT(shape_error_message([&] { (void)(a - b); }), Catch::StartsWith("sub"));
    REQUIRE_THAT(shape_error_message([&] { (void)(a * b); }), Catch::StartsWith("mul"));
    REQUIRE_THAT(shape_error_message([&] { (void)(a / b); }), Catch::StartsWith("div"));
}

// ------------------------------------------------------------------------------------------------ operators

TEST_CASE("elementwise: operators + - * / on two vars, values and backward (broadcasting)",
          "[elementwise][operators]") {
    std::uint64_t seed = 5000;
    for (const auto& c : operator_cases()) {
        check_binary_values(c, seed);
        check_binary_backward(c, seed + 100);
        seed += 1000;
    }
}

TEST_CASE("elementwise: operators + - * / on two vars gradcheck", "[elementwise][operators][gradcheck]") {
    std::uint64_t seed = 6000;
    for (const auto& c : operator_cases()) {
        check_binary_gradcheck(c, seed);
        seed += 1000;
    }
}

TEST_CASE("elementwise: operators with a scalar and unary minus, values and derivative",
          "[elementwise][operators]") {
    std::uint64_t seed = 7000;
    for (const auto& c : scalar_operator_cases()) {
        check_unary_values_and_derivative(c, seed);
        seed += 100;
    }
    SECTION("hand-checkable") {
        xgrad::graph<double> g;
        auto x = g.constant(matrix<double>{{4.0}});
        CHECK((x + 1.0).item() == 5.0);
        CHECK((1.0 - x).item() == -3.0);
        CHECK((x * 3.0).item() == 12.0);
        CHECK((2.0 / x).item() == 0.5);
        CHECK((x / 2.0).item() == 2.0);
        CHECK((-x).item() == -4.0);
    }
}

TEST_CASE("elementwise: operators with a scalar and unary minus gradcheck",
          "[elementwise][operators][gradcheck]") {
    std::uint64_t seed = 7500;
    for (const auto& c : scalar_operator_cases()) {
        check_unary_gradcheck(c, seed);
        seed += 100;
    }
    // A lecture-style expression mixing them: (1 − σ-like)(x) = 1 − 1/(1 + e^(−x)), then scaled and shifted.
    const std::uint64_t s2 = 7999;
    INFO("seed " << s2 << " shape [3x2]");
    auto r = xgrad::gradcheck(
        [](auto x) { return 0.5 * (1.0 - 1.0 / (1.0 + xgrad::exp(-x[0]))) + x[0] * x[1] / 3.0 - 2.0; },
        {random_matrix(3, 2, s2), random_matrix(3, 1, s2 + 1)});
    INFO(r.report);
    REQUIRE(r.ok);
}

// ------------------------------------------------------------------------------------------------ neg and
// scalars

TEST_CASE("elementwise: neg values and derivative", "[elementwise][neg]") {
    check_unary_values_and_derivative(neg_case(), 8000);
    xgrad::graph<double> g;
    auto x = g.constant(matrix<double>{{1.5, -2.0}});
    auto y = xgrad::neg(xgrad::neg(x));
    XGRAD_REQUIRE_CLOSE(y.value(), x.value(), 0.0, 0.0);  // −(−x) = x exactly
}
TEST_CASE("elementwise: neg gradcheck", "[elementwise][neg][gradcheck]") {
    check_unary_gradcheck(neg_case(), 8100);
}

TEST_CASE("elementwise: add_scalar values and derivative", "[elementwise][scalar]") {
    check_unary_values_and_derivative(add_scalar_case(), 8200);
}
TEST_CASE("elementwise: add_scalar gradcheck", "[elementwise][scalar][gradcheck]") {
    check_unary_gradcheck(add_scalar_case(), 8300);
}

TEST_CASE("elementwise: mul_scalar values and derivative", "[elementwise][scalar]") {
    check_unary_values_and_derivative(mul_scalar_case(), 8400);
    SECTION("edge: s = 0 gives zeros and a zero gradient") {
        xgrad::graph<double> g;
        auto x = g.variable(random_matrix(2, 3, 8450));
        auto y = xgrad::mul_scalar(x, 0.0);
        XGRAD_REQUIRE_CLOSE(y.value(), matrix<double>({2, 3}, 0.0), 0.0, 0.0);
        g.backward(xgrad::sum(y));
        XGRAD_REQUIRE_CLOSE(x.grad(), matrix<double>({2, 3}, 0.0), 0.0, 0.0);
    }
}
TEST_CASE("elementwise: mul_scalar gradcheck", "[elementwise][scalar][gradcheck]") {
    check_unary_gradcheck(mul_scalar_case(), 8500);
}

TEST_CASE("elementwise: rsub_scalar values and derivative", "[elementwise][scalar]") {
    check_unary_values_and_derivative(rsub_scalar_case(), 8600);
}
TEST_CASE("elementwise: rsub_scalar gradcheck", "[elementwise][scalar][gradcheck]") {
    check_unary_gradcheck(rsub_scalar_case(), 8700);
}

TEST_CASE("elementwise: rdiv_scalar values and derivative", "[elementwise][scalar]") {
    check_unary_values_and_derivative(rdiv_scalar_case(), 8800);
    SECTION("edge: s / 0 is a signed infinity") {
        xgrad::graph<double> g;
        auto y = xgrad::rdiv_scalar(g.constant(matrix<double>{{0.0, -0.0}}), 1.0);
        CHECK(y.value()(0, 0) == kInf);
        CHECK(y.value()(0, 1) == -kInf);
    }
}
TEST_CASE("elementwise: rdiv_scalar gradcheck", "[elementwise][scalar][gradcheck]") {
    check_unary_gradcheck(rdiv_scalar_case(), 8900);
}

// ------------------------------------------------------------------------------------------------ exp, log,
// square

TEST_CASE("elementwise: exp values and derivative", "[elementwise][exp]") {
    check_unary_values_and_derivative(exp_case(), 9000);
}
TEST_CASE("elementwise: exp gradcheck", "[elementwise][exp][gradcheck]") {
    check_unary_gradcheck(exp_case(), 9100);
}
TEST_CASE("elementwise: exp edge cases (0, underflow, overflow)", "[elementwise][exp][edge]") {
    xgrad::graph<double> g;
    auto x = g.variable(matrix<double>{{0.0, -800.0, 800.0}});
    auto y = xgrad::exp(x);
    CHECK(y.value()(0, 0) == 1.0);
    CHECK(y.value()(0, 1) == 0.0);   // underflows to 0, not NaN
    CHECK(y.value()(0, 2) == kInf);  // overflows to +Inf (no clamping)
    g.backward(y, matrix<double>{{1.0, 1.0, 0.0}});
    CHECK(x.grad()(0, 0) == 1.0);
    CHECK(x.grad()(0, 1) == 0.0);
}

TEST_CASE("elementwise: log values and derivative", "[elementwise][log]") {
    check_unary_values_and_derivative(log_case(), 9200);
}
TEST_CASE("elementwise: log gradcheck", "[elementwise][log][gradcheck]") {
    check_unary_gradcheck(log_case(), 9300);
}
TEST_CASE("elementwise: log near 0 is finite, log(0) is -inf", "[elementwise][log][edge]") {
    const double tiny = 1e-300;
    xgrad::graph<double> g;
    auto x = g.variable(matrix<double>{{tiny, 1.0, 0.0}});
    auto y = xgrad::log(x);
    CHECK(std::isfinite(y.value()(0, 0)));
    CHECK(std::abs(y.value()(0, 0) - std::log(tiny)) <= 1e-15 * std::abs(std::log(tiny)));
    CHECK(y.value()(0, 1) == 0.0);
    CHECK(y.value()(0, 2) == -kInf);  // not clamped
    g.backward(y, matrix<double>{{1.0, 1.0, 1.0}});
    CHECK(std::isfinite(x.grad()(0, 0)));
    CHECK(std::abs(x.grad()(0, 0) - 1.0 / tiny) <= 1e-15 * (1.0 / tiny));  // 1/x = 1e300
    CHECK(x.grad()(0, 1) == 1.0);
    CHECK(x.grad()(0, 2) == kInf);  // 1/0
}
TEST_CASE("elementwise: log near 0 in float is finite", "[elementwise][log][edge][float]") {
    const float tiny = 1e-30f;
    xgrad::graph<float> g;
    auto x = g.variable(matrix<float>{{tiny}});
    auto y = xgrad::log(x);
    CHECK(std::isfinite(y.item()));
    CHECK(std::abs(static_cast<double>(y.item()) - std::log(static_cast<double>(tiny))) <= 1e-5 * 69.1);
    g.backward(y);
    CHECK(std::isfinite(x.grad()(0, 0)));
    CHECK(std::abs(static_cast<double>(x.grad()(0, 0)) * static_cast<double>(tiny) - 1.0) <= 1e-6);
}

TEST_CASE("elementwise: square values and derivative", "[elementwise][square]") {
    check_unary_values_and_derivative(square_case(), 9400);
    xgrad::graph<double> g;
    auto x = g.variable(matrix<double>{{-3.0, 0.0}});
    auto y = xgrad::square(x);
    CHECK(y.value()(0, 0) == 9.0);
    CHECK(y.value()(0, 1) == 0.0);
    g.backward(xgrad::sum(y));
    CHECK(x.grad()(0, 0) == -6.0);
    CHECK(x.grad()(0, 1) == 0.0);
}
TEST_CASE("elementwise: square gradcheck", "[elementwise][square][gradcheck]") {
    check_unary_gradcheck(square_case(), 9500);
}

// ------------------------------------------------------------------------------------------------ pow

TEST_CASE("elementwise: pow values and derivative", "[elementwise][pow]") {
    std::uint64_t seed = 9600;
    for (const auto& c : pow_cases()) {
        check_unary_values_and_derivative(c, seed);
        seed += 100;
    }
}
TEST_CASE("elementwise: pow gradcheck", "[elementwise][pow][gradcheck]") {
    std::uint64_t seed = 10600;
    for (const auto& c : pow_cases()) {
        check_unary_gradcheck(c, seed);
        seed += 100;
    }
}
TEST_CASE("elementwise: pow with p = 0 is 1 with zero gradient, also at x = 0", "[elementwise][pow][edge]") {
    xgrad::graph<double> g;
    auto x = g.variable(matrix<double>{{-2.0, 0.0, 0.5, 3.0}});
    auto y = xgrad::pow(x, 0.0);
    XGRAD_REQUIRE_CLOSE(y.value(), matrix<double>({1, 4}, 1.0), 0.0, 0.0);
    g.backward(xgrad::sum(y));
    XGRAD_REQUIRE_CLOSE(x.grad(), matrix<double>({1, 4}, 0.0), 0.0, 0.0);  // no 0·0^(−1) = NaN
}
TEST_CASE("elementwise: pow with p = 1 is the identity with unit gradient, also at x = 0",
          "[elementwise][pow][edge]") {
    const matrix<double> v = {{-2.0, 0.0, 0.5, 3.0}};
    xgrad::graph<double> g;
    auto x = g.variable(v);
    auto y = xgrad::pow(x, 1.0);
    XGRAD_REQUIRE_CLOSE(y.value(), v, 0.0, 0.0);
    g.backward(xgrad::sum(y));
    XGRAD_REQUIRE_CLOSE(x.grad(), matrix<double>({1, 4}, 1.0), 0.0, 0.0);
}
TEST_CASE("elementwise: pow with p = 0.5 is sqrt with gradient 1/(2 sqrt x)", "[elementwise][pow][edge]") {
    const matrix<double> v = {{4.0, 0.25, 2.0, 0.0}};
    xgrad::graph<double> g;
    auto x = g.variable(v);
    auto y = xgrad::pow(x, 0.5);
    CHECK(y.value()(0, 0) == 2.0);
    CHECK(y.value()(0, 1) == 0.5);
    CHECK(std::abs(y.value()(0, 2) - std::sqrt(2.0)) <= 1e-15 * std::sqrt(2.0));
    CHECK(y.value()(0, 3) == 0.0);
    g.backward(xgrad::sum(y));
    CHECK(x.grad()(0, 0) == 0.25);  // 1/(2·2)
    CHECK(x.grad()(0, 1) == 1.0);   // 1/(2·0.5)
    CHECK(std::abs(x.grad()(0, 2) - 0.5 / std::sqrt(2.0)) <= 1e-15);
    CHECK(x.grad()(0, 3) == kInf);  // the derivative of √x at 0
}
TEST_CASE("elementwise: pow agrees with square and rdiv_scalar", "[elementwise][pow]") {
    const matrix<double> v = xgrad::test::random_away_from_zero(3, 2, 10900, 0.5);
    xgrad::graph<double> g;
    auto x = g.constant(v);
    XGRAD_REQUIRE_CLOSE(xgrad::pow(x, 2.0).value(), xgrad::square(x).value(), kRtol, kAtol);
    XGRAD_REQUIRE_CLOSE(xgrad::pow(x, -1.0).value(), xgrad::rdiv_scalar(x, 1.0).value(), kRtol, kAtol);
}

// ------------------------------------------------------------------------------------------------ float

TEST_CASE("elementwise: float forward values match double", "[elementwise][float]") {
    std::uint64_t seed = 11000;
    for (const auto& [sa, sb] : broadcast_pairs()) {
        seed += 2;
        INFO("seed " << seed << " shapes " << str(sa) << " with " << str(sb));
        // Same float-representable inputs in both precisions.
        const matrix<float> af = to_float(random_matrix(sa[0], sa[1], seed, 0.5, 2.0));
        const matrix<float> bf = to_float(random_matrix(sb[0], sb[1], seed + 1, 0.5, 2.0));
        xgrad::graph<float> gf;
        xgrad::graph<double> gd;
        auto a32 = gf.constant(af), b32 = gf.constant(bf);
        auto a64 = gd.constant(to_double(af)), b64 = gd.constant(to_double(bf));
        XGRAD_REQUIRE_CLOSE(to_double((a32 + b32).value()), (a64 + b64).value(), kFloatRtol, kFloatAtol);
        XGRAD_REQUIRE_CLOSE(to_double((a32 - b32).value()), (a64 - b64).value(), kFloatRtol, kFloatAtol);
        XGRAD_REQUIRE_CLOSE(to_double((a32 * b32).value()), (a64 * b64).value(), kFloatRtol, kFloatAtol);
        XGRAD_REQUIRE_CLOSE(to_double((a32 / b32).value()), (a64 / b64).value(), kFloatRtol, kFloatAtol);
        XGRAD_REQUIRE_CLOSE(to_double(xgrad::exp(a32).value()), xgrad::exp(a64).value(), kFloatRtol,
                            kFloatAtol);
        XGRAD_REQUIRE_CLOSE(to_double(xgrad::log(a32).value()), xgrad::log(a64).value(), kFloatRtol,
                            kFloatAtol);
        XGRAD_REQUIRE_CLOSE(to_double(xgrad::square(a32).value()), xgrad::square(a64).value(), kFloatRtol,
                            kFloatAtol);
        XGRAD_REQUIRE_CLOSE(to_double(xgrad::pow(a32, 1.5f).value()), xgrad::pow(a64, 1.5).value(),
                            kFloatRtol, kFloatAtol);
        XGRAD_REQUIRE_CLOSE(to_double((2.5f - a32).value()), (2.5 - a64).value(), kFloatRtol, kFloatAtol);
        XGRAD_REQUIRE_CLOSE(to_double((2.5f / a32).value()), (2.5 / a64).value(), kFloatRtol, kFloatAtol);
        XGRAD_REQUIRE_CLOSE(to_double((-a32 * 0.5f + 1.0f).value()), (-a64 * 0.5 + 1.0).value(), kFloatRtol,
                            kFloatAtol);
    }
}

TEST_CASE("elementwise: float backward matches double (broadcast mul and div)", "[elementwise][float]") {
    const std::uint64_t seed = 11500;
    INFO("seed " << seed << " shapes [3x4] with [3x1]");
    const matrix<float> af = to_float(random_matrix(3, 4, seed, 0.5, 2.0));
    const matrix<float> bf = to_float(random_matrix(3, 1, seed + 1, 0.5, 2.0));
    xgrad::graph<float> gf;
    xgrad::graph<double> gd;
    auto a32 = gf.variable(af), b32 = gf.variable(bf);
    auto a64 = gd.variable(to_double(af)), b64 = gd.variable(to_double(bf));
    gf.backward(xgrad::sum(a32 * b32 + a32 / b32));
    gd.backward(xgrad::sum(a64 * b64 + a64 / b64));
    XGRAD_REQUIRE_CLOSE(to_double(a32.grad()), a64.grad(), kFloatRtol, kFloatAtol);
    XGRAD_REQUIRE_CLOSE(to_double(b32.grad()), b64.grad(), kFloatRtol, kFloatAtol);
}

// ------------------------------------------------------------------------------------------------ stale
// buffers

TEST_CASE("elementwise: backward overwrites a stale gradient buffer after zero_grad", "[elementwise][edge]") {
    // zero_grad only clears a flag; the next delivery must overwrite (β = 0), not add 0·(old Inf) = NaN.
    xgrad::graph<double> g;
    const matrix<double> a = random_matrix(2, 3, 12000, 0.5, 2.0), b = random_matrix(2, 1, 12001, 0.5, 2.0);
    auto va = g.variable(a), vb = g.variable(b);
    auto y = xgrad::log(xgrad::exp(-va) * vb + xgrad::pow(va, 2.0) / vb + 1.0);
    g.backward(y, matrix<double>({2, 3}, kInf));
    g.zero_grad();
    g.backward(y, matrix<double>({2, 3}, 1.0));
    // By hand: u = e^(−a)·b + a²/b + 1 > 0, y = ln u; ∂y/∂a = (−e^(−a)·b + 2a/b)/u, ∂y/∂b = Σⱼ (e^(−a) −
    // a²/b²)/u.
    matrix<double> da({2, 3}), db({2, 1}, 0.0);
    for (std::size_t i = 0; i < 2; ++i) {
        for (std::size_t j = 0; j < 3; ++j) {
            const double x = a(i, j), s = b(i, 0), u = std::exp(-x) * s + x * x / s + 1.0;
            da(i, j) = (-std::exp(-x) * s + 2.0 * x / s) / u;
            db(i, 0) += (std::exp(-x) - x * x / (s * s)) / u;
        }
    }
    XGRAD_REQUIRE_CLOSE(va.grad(), da, 1e-10, 1e-12);
    XGRAD_REQUIRE_CLOSE(vb.grad(), db, 1e-10, 1e-12);
}

TEST_CASE("elementwise: xlogy values, gradcheck and 0·log 0 = 0", "[elementwise]") {
    using xgrad::matrix;
    const matrix<double> x = {{0.5, 0.0, 2.0}, {1.5, 0.25, 0.0}};
    const matrix<double> y = {{0.3, 0.7, 1.8}, {0.9, 0.05, 0.0}};
    xgrad::graph<double> g;
    auto xv = g.variable(x), yv = g.variable(y);
    auto z = xgrad::xlogy(xv, yv);
    for (std::size_t i = 0; i < 2; ++i) {
        for (std::size_t j = 0; j < 3; ++j) {
            const double want = x(i, j) == 0 ? 0.0 : x(i, j) * std::log(y(i, j));
            CHECK(z.value()(i, j) == Approx(want).epsilon(1e-15));
        }
    }
    // At x = 0 (also with y = 0) the value and dY are exactly 0: the convention of cross-entropy terms.
    g.backward(xgrad::sum(z));
    CHECK(z.value()(1, 2) == 0.0);
    CHECK(yv.grad()(1, 2) == 0.0);
    CHECK(yv.grad()(0, 1) == 0.0);
    CHECK(yv.grad()(0, 0) == Approx(0.5 / 0.3));
    CHECK(xv.grad()(0, 0) == Approx(std::log(0.3)));

    for (std::uint64_t seed : {61u, 62u}) {
        const std::size_t r = seed == 61u ? 3 : 1, c = seed == 61u ? 4 : 5;  // non-square, and m = 1 rows
        INFO("seed " << seed << " shape " << r << "x" << c);
        auto r1 = xgrad::gradcheck([](auto v) { return xgrad::xlogy(v[0], v[1]); },
                                   {xgrad::test::random_matrix(r, c, seed),
                                    xgrad::test::random_matrix<double>(r, c, seed + 100, 0.2, 2.0)});
        INFO(r1.report);
        CHECK(r1.ok);
    }
    xgrad::graph<double> h;
    CHECK_THROWS_AS(
        xgrad::xlogy(h.constant(matrix<double>({2, 3}, 1.0)), h.constant(matrix<double>({3, 2}, 1.0))),
        xgrad::shape_error);
}
