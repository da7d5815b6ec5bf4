// Softmax and log-softmax over the class axis (rows), per column (example): values against plain-loop
// references, gradchecks, huge logits, and the full Jacobian (not Hinton's diagonal y(1 − y)).
#include <cmath>
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

const std::vector<std::pair<std::size_t, std::size_t>> kShapes = {{3, 4}, {4, 1}, {1, 3},
                                                                  {2, 7}, {5, 5}, {10, 2}};

/// Softmax per column written straight from the definition e^zᵢ / Σₖ e^zₖ (no shift: only for moderate z).
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

/// log-softmax per column in long double with the max shift (valid for any finite z).
matrix<double> log_softmax_shifted(const matrix<double>& z) {
    const std::size_t c = z.shape()[0], m = z.shape()[1];
    matrix<double> y(z.shape());
    for (std::size_t j = 0; j < m; ++j) {
        long double mx = z(0, j);
        for (std::size_t i = 1; i < c; ++i) mx = std::max<long double>(mx, z(i, j));
        long double s = 0;
        for (std::size_t i = 0; i < c; ++i) s += std::exp(static_cast<long double>(z(i, j)) - mx);
        for (std::size_t i = 0; i < c; ++i) y(i, j) = static_cast<double>(z(i, j) - mx - std::log(s));
    }
    return y;
}

matrix<double> softmax_shifted(const matrix<double>& z) {
    matrix<double> y = log_softmax_shifted(z);
    for (auto& v : y) v = std::exp(v);
    return y;
}

/// dZ = Jᵀ·dY per column with the explicit Jacobian J_ij = ∂y_i/∂z_j = y_i(δ_ij − y_j).
matrix<double> softmax_jvp_explicit(const matrix<double>& y, const matrix<double>& dy) {
    const std::size_t c = y.shape()[0], m = y.shape()[1];
    matrix<double> dz({c, m}, 0.0);
    for (std::size_t col = 0; col < m; ++col) {
        for (std::size_t j = 0; j < c; ++j) {  // dz_j = Σ_i dy_i · J_ij
            for (std::size_t i = 0; i < c; ++i) {
                const double jac = y(i, col) * ((i == j ? 1.0 : 0.0) - y(j, col));
                dz(j, col) += dy(i, col) * jac;
            }
        }
    }
    return dz;
}

/// Hinton's ∂y_i/∂z_i = y_i(1 − y_i) applied element-wise: only the diagonal of the Jacobian.
matrix<double> softmax_diagonal_only(const matrix<double>& y, const matrix<double>& dy) {
    matrix<double> dz(y.shape());
    for (std::size_t k = 0; k < y.size(); ++k) dz.data()[k] = dy.data()[k] * y.data()[k] * (1 - y.data()[k]);
    return dz;
}

struct forward_backward {
    matrix<double> y, dz;
};
template <class Op>
forward_backward run(Op op, const matrix<double>& z, const matrix<double>& dy) {
    xgrad::graph<double> g;
    var<double> v = g.variable(z, "Z");
    var<double> y = op(v);
    g.backward(y, dy);
    return {y.value(), v.grad()};
}

void require_columns_sum_to_one(const matrix<double>& y, double tol) {
    for (std::size_t j = 0; j < y.shape()[1]; ++j) {
        double s = 0;
        for (std::size_t i = 0; i < y.shape()[0]; ++i) s += y(i, j);
        INFO("column " << j << " sums to " << s);
        REQUIRE(std::abs(s - 1.0) <= tol);
    }
}

void require_all_finite(const matrix<double>& m) {
    INFO(xgrad::test::show(m));
    for (double v : m) REQUIRE(std::isfinite(v));
}

auto softmax_fn = [](const var<double>& z) { return xgrad::softmax(z); };
auto log_softmax_fn = [](const var<double>& z) { return xgrad::log_softmax(z); };

}  // namespace

// ---------------------------------------------------------------- softmax

TEST_CASE("softmax: values match e^z / sum e^z per column and columns sum to 1", "[softmax]") {
    std::uint64_t seed = 21;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed++, -4.0, 4.0);
        xgrad::graph<double> g;
        const matrix<double> y = xgrad::softmax(g.constant(z)).value();
        XGRAD_REQUIRE_CLOSE(y, softmax_naive(z), 1e-14, 1e-16);
        require_columns_sum_to_one(y, 1e-14);
    }
}

TEST_CASE("softmax: normalises each column (examples are columns) not each row", "[softmax]") {
    const matrix<double> z = {{0.0, 3.0}, {0.0, 1.0}};  // column 0 uniform; row 0 is not
    xgrad::graph<double> g;
    const matrix<double> y = xgrad::softmax(g.constant(z)).value();
    CHECK(y(0, 0) == 0.5);
    CHECK(y(1, 0) == 0.5);
    CHECK(std::abs(y(0, 1) - std::exp(3.0) / (std::exp(3.0) + std::exp(1.0))) <= 1e-15);
}

TEST_CASE("softmax: gradcheck at several shapes", "[softmax]") {
    std::uint64_t seed = 31;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed++, -3.0, 3.0);
        auto r = xgrad::gradcheck([](auto x) { return xgrad::softmax(x[0]); }, {z});
        INFO(r.report);
        REQUIRE(r.ok);
    }
}

TEST_CASE("softmax: logits of +-1000 and +-1e4 stay finite and columns sum to 1", "[softmax]") {
    const matrix<double> z = {
        {1000.0, -1000.0, 1e4, -1e4, 5.0}, {-1000.0, 1000.0, -1e4, -1e4, 1e4}, {0.0, 999.0, 0.0, -1e4, -1e4}};
    const forward_backward r = run(softmax_fn, z, xgrad::test::random_matrix<double>(3, 5, 41));
    require_all_finite(r.y);
    require_all_finite(r.dz);
    require_columns_sum_to_one(r.y, 1e-14);
    XGRAD_REQUIRE_CLOSE(r.y, softmax_shifted(z), 1e-14, 1e-300);
    CHECK(r.y(0, 0) == 1.0);
    CHECK(r.y(1, 0) == 0.0);
    CHECK(std::abs(r.y(0, 3) - 1.0 / 3.0) <= 1e-16);  // three equal logits of −1e4
}

TEST_CASE("softmax: backward equals the explicit Jacobian-vector product J_ij = y_i(d_ij - y_j)",
          "[softmax]") {
    std::uint64_t seed = 51;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed, -3.0, 3.0);
        const matrix<double> dy = xgrad::test::random_matrix<double>(c, m, seed + 500);
        ++seed;
        const forward_backward r = run(softmax_fn, z, dy);
        XGRAD_REQUIRE_CLOSE(r.dz, softmax_jvp_explicit(r.y, dy), 1e-12, 1e-15);
    }
}

TEST_CASE("softmax: the diagonal-only rule y_i(1 - y_i) is NOT the backward for a generic dY", "[softmax]") {
    const matrix<double> z = xgrad::test::random_matrix<double>(4, 3, 61, -2.0, 2.0);
    const matrix<double> dy = xgrad::test::random_matrix<double>(4, 3, 62);
    const forward_backward r = run(softmax_fn, z, dy);
    const matrix<double> full = softmax_jvp_explicit(r.y, dy);
    const matrix<double> diag = softmax_diagonal_only(r.y, dy);
    INFO("backward " << xgrad::test::show(r.dz));
    INFO("diagonal " << xgrad::test::show(diag));
    XGRAD_REQUIRE_CLOSE(r.dz, full, 1e-12, 1e-15);
    // They differ by the off-diagonal terms −y_i Σ_{j≠i} y_j dy_j: by far more than any rounding.
    CHECK(xgrad::test::closeness(r.dz, diag, 1e-3, 1e-3) > 10.0);
}

TEST_CASE("softmax: over 0 classes throws shape_error naming the op", "[softmax]") {
    xgrad::graph<double> g;
    var<double> z = g.variable(matrix<double>({0, 3}));
    CHECK_THAT(message_of<xgrad::shape_error>([&] { xgrad::softmax(z); }), Contains("softmax"));
    CHECK_THAT(message_of<xgrad::shape_error>([&] { xgrad::log_softmax(z); }), Contains("log_softmax"));
}

// Regression: backward once wrote dZ = y(dY − s) + β·G with β = 0 for a zeroed gradient, so NaN/Inf left in
// the reused gradient buffer survived as 0·NaN = NaN (now write_gradient in op.hpp).
TEST_CASE(
    "softmax: backward after zero_grad overwrites a stale NaN gradient buffer (regression: 0*NaN from "
    "beta*G)",
    "[softmax]") {
    xgrad::graph<double> g;
    var<double> z = g.variable({{0.5, -1.0}, {2.0, 0.0}, {-0.5, 1.0}}, "Z");
    var<double> y = xgrad::softmax(z);
    g.backward(y, matrix<double>(y.shape(), std::numeric_limits<double>::quiet_NaN()));  // a bad step
    REQUIRE(std::isnan(z.grad()(0, 0)));
    g.zero_grad();  // dZ is zero again: the next backward must overwrite, not scale the old buffer by 0
    const matrix<double> dy = xgrad::test::random_matrix<double>(3, 2, 71);
    g.backward(y, dy);
    require_all_finite(z.grad());
    XGRAD_REQUIRE_CLOSE(z.grad(), softmax_jvp_explicit(y.value(), dy), 1e-12, 1e-15);
}

// ---------------------------------------------------------------- log_softmax

TEST_CASE("log_softmax: values match log(e^z / sum e^z) per column", "[softmax]") {
    std::uint64_t seed = 81;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed++, -4.0, 4.0);
        matrix<double> want = softmax_naive(z);
        for (auto& v : want) v = std::log(v);
        xgrad::graph<double> g;
        const matrix<double> y = xgrad::log_softmax(g.constant(z)).value();
        XGRAD_REQUIRE_CLOSE(y, want, 1e-13, 1e-15);
        matrix<double> e = y;
        for (auto& v : e) v = std::exp(v);
        require_columns_sum_to_one(e, 1e-14);
    }
}

TEST_CASE("log_softmax: gradcheck at several shapes", "[softmax]") {
    std::uint64_t seed = 91;
    for (auto [c, m] : kShapes) {
        INFO("seed " << seed << ", shape [" << c << "x" << m << "]");
        const matrix<double> z = xgrad::test::random_matrix<double>(c, m, seed++, -3.0, 3.0);
        auto r = xgrad::gradcheck([](auto x) { return xgrad::log_softmax(x[0]); }, {z});
        INFO(r.report);
        REQUIRE(r.ok);
    }
}

TEST_CASE("log_softmax: backward equals the explicit Jacobian d_ij - softmax_j", "[softmax]") {
    const matrix<double> z = xgrad::test::random_matrix<double>(5, 3, 101, -3.0, 3.0);
    const matrix<double> dy = xgrad::test::random_matrix<double>(5, 3, 102);
    const forward_backward r = run(log_softmax_fn, z, dy);
    const matrix<double> p = softmax_naive(z);
    matrix<double> want({5, 3}, 0.0);
    for (std::size_t col = 0; col < 3; ++col) {
        for (std::size_t j = 0; j < 5; ++j) {
            for (std::size_t i = 0; i < 5; ++i)
                want(j, col) += dy(i, col) * ((i == j ? 1.0 : 0.0) - p(j, col));
        }
    }
    XGRAD_REQUIRE_CLOSE(r.dz, want, 1e-12, 1e-15);
}

TEST_CASE("log_softmax: logits of +-1000 and +-1e4 stay finite and exp sums to 1 per column", "[softmax]") {
    const matrix<double> z = {
        {1000.0, -1000.0, 1e4, -1e4}, {-1000.0, 1000.0, -1e4, -1e4}, {0.0, 999.0, 0.0, -1e4}};
    const forward_backward r = run(log_softmax_fn, z, xgrad::test::random_matrix<double>(3, 4, 111));
    require_all_finite(r.y);
    require_all_finite(r.dz);
    // lse is rounded to the spacing of doubles near |z| (1.1e-13 at 1e3, 1.8e-12 at 1e4), so z − lse carries
    // that absolute error: atol 1e-11 (about 5 ulps of 1e4); the sum of e^y inherits it.
    XGRAD_REQUIRE_CLOSE(r.y, log_softmax_shifted(z), 1e-15, 1e-11);
    CHECK(r.y(1, 0) == -2000.0);  // z − lse with lse = 1000 (+ e^−1000, lost)
    CHECK(r.y(1, 2) == -2e4);
    matrix<double> e = r.y;
    for (auto& v : e) v = std::exp(v);
    require_columns_sum_to_one(e, 1e-11);
}
