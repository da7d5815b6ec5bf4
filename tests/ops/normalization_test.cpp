// batch_norm (per feature and per channel, training and evaluation) and layer_norm (per example): values
// computed here from the definitions, gradchecks at random shapes, the running statistics, large offsets
// (two-pass variance), float against double, and bad inputs.
#include <cmath>
#include <string>
#include <vector>

#include "support.hpp"

namespace {
using Catch::Matchers::Contains;
using xgrad::matrix;
using xgrad::shape2;
using xgrad::test::random_matrix;

/// batch_norm's training output from the definition, in long double: groups of `size` consecutive values
/// (row-major), γ and β per group.
matrix<double> bn_reference(const matrix<double>& x, const matrix<double>& gamma, const matrix<double>& beta,
                            std::size_t groups, double eps, std::vector<double>* means = nullptr,
                            std::vector<double>* vars = nullptr) {
    const std::size_t size = x.size() / groups;
    matrix<double> y(x.shape());
    for (std::size_t c = 0; c < groups; ++c) {
        long double s = 0;
        for (std::size_t k = 0; k < size; ++k) s += x.data()[c * size + k];
        const long double mu = s / size;
        long double q = 0;
        for (std::size_t k = 0; k < size; ++k)
            q += (x.data()[c * size + k] - mu) * (x.data()[c * size + k] - mu);
        const long double var = q / size;
        if (means != nullptr) means->push_back(static_cast<double>(mu));
        if (vars != nullptr) vars->push_back(static_cast<double>(var));
        for (std::size_t k = 0; k < size; ++k)
            y.data()[c * size + k] = static_cast<double>(
                gamma.data()[c] * (x.data()[c * size + k] - mu) / std::sqrt(var + eps) + beta.data()[c]);
    }
    return y;
}

/// layer_norm's output from the definition, per column.
matrix<double> ln_reference(const matrix<double>& x, const matrix<double>& gamma, const matrix<double>& beta,
                            double eps) {
    const std::size_t d = x.shape()[0], m = x.shape()[1];
    matrix<double> y(x.shape());
    for (std::size_t j = 0; j < m; ++j) {
        long double s = 0;
        for (std::size_t i = 0; i < d; ++i) s += x(i, j);
        const long double mu = s / d;
        long double q = 0;
        for (std::size_t i = 0; i < d; ++i) q += (x(i, j) - mu) * (x(i, j) - mu);
        const long double var = q / d;
        for (std::size_t i = 0; i < d; ++i)
            y(i, j) = static_cast<double>(gamma(i, 0) * (x(i, j) - mu) / std::sqrt(var + eps) + beta(i, 0));
    }
    return y;
}

xgrad::batch_norm_options per_channel(std::size_t c, bool training = true) {
    xgrad::batch_norm_options o;
    o.channels = c;
    o.training = training;
    return o;
}

}  // namespace

// ------------------------------------------------------------------------------------------------ batch_norm

TEST_CASE("batch_norm: per feature, each row is standardised over the batch, then scaled and shifted",
          "[normalization][batch_norm]") {
    for (const auto& [n, m] : {std::pair<std::size_t, std::size_t>{3, 5}, {4, 2}, {1, 7}, {6, 3}}) {
        INFO(n << "×" << m);
        const matrix<double> x = random_matrix(n, m, 10 + n, -3.0, 5.0);
        const matrix<double> gamma = random_matrix(n, 1, 20 + n, 0.5, 2.0),
                             beta = random_matrix(n, 1, 30 + n);
        xgrad::graph<double> g;
        const auto y =
            xgrad::batch_norm(g.constant(x), g.constant(gamma), g.constant(beta), nullptr, nullptr);
        XGRAD_REQUIRE_CLOSE(y.value(), bn_reference(x, gamma, beta, n, 1e-5), 1e-12, 1e-13);
        // with γ = 1, β = 0 every row has mean 0 and variance σ²/(σ² + ε)
        const auto z = xgrad::batch_norm(g.constant(x), g.constant(matrix<double>({n, 1}, 1.0)),
                                         g.constant(matrix<double>({n, 1}, 0.0)), nullptr, nullptr);
        for (std::size_t i = 0; i < n; ++i) {
            double s = 0;
            for (std::size_t j = 0; j < m; ++j) s += z.value()(i, j);
            CHECK(std::abs(s / m) < 1e-12);
        }
    }
}

TEST_CASE("batch_norm: per channel of a (C·H·W × m) batch, one statistic over H·W·m values",
          "[normalization][batch_norm]") {
    const std::size_t c = 3, hw = 4, m = 2;  // 3 channels of 2×2 images, 2 images
    const matrix<double> x = random_matrix(c * hw, m, 41, -2.0, 2.0);
    const matrix<double> gamma = random_matrix(c, 1, 42, 0.5, 1.5), beta = random_matrix(c, 1, 43);
    xgrad::graph<double> g;
    const auto y = xgrad::batch_norm(g.constant(x), g.constant(gamma), g.constant(beta), nullptr, nullptr,
                                     per_channel(c));
    REQUIRE(y.shape() == shape2{c * hw, m});
    XGRAD_REQUIRE_CLOSE(y.value(), bn_reference(x, gamma, beta, c, 1e-5), 1e-12, 1e-13);
    // one image per batch is fine per channel (H·W values per statistic)
    const matrix<double> one = random_matrix(c * hw, 1, 44);
    const auto y1 = xgrad::batch_norm(g.constant(one), g.constant(gamma), g.constant(beta), nullptr, nullptr,
                                      per_channel(c));
    XGRAD_REQUIRE_CLOSE(y1.value(), bn_reference(one, gamma, beta, c, 1e-5), 1e-12, 1e-13);
}

TEST_CASE("batch_norm: gradcheck in training at random non-square shapes, per feature and per channel",
          "[normalization][batch_norm][gradcheck]") {
    std::uint64_t seed = 100;
    struct shape_case {
        std::size_t rows, m, channels;
    };
    for (const auto& [rows, m, channels] : std::vector<shape_case>{
             {3, 5, 0}, {5, 2, 0}, {1, 4, 0}, {6, 3, 2}, {6, 1, 3}, {8, 3, 4}, {9, 2, 1}}) {
        ++seed;
        const std::size_t groups = channels == 0 ? rows : channels;
        INFO(rows << "×" << m << " channels " << channels << " seed " << seed);
        auto r = xgrad::gradcheck(
            [channels](auto v) {
                return xgrad::batch_norm(v[0], v[1], v[2], nullptr, nullptr, per_channel(channels));
            },
            {random_matrix(rows, m, seed, -2.0, 3.0), random_matrix(groups, 1, seed + 1, 0.5, 1.5),
             random_matrix(groups, 1, seed + 2)},
            {.rtol = 1e-4, .atol = 1e-7});
        INFO(r.report);
        REQUIRE(r.ok);
    }
}

TEST_CASE("batch_norm: the running statistics move towards the batch's by the momentum",
          "[normalization][batch_norm]") {
    const matrix<double> x = random_matrix(3, 6, 51, -1.0, 4.0);
    const matrix<double> gamma({3, 1}, 1.0), beta({3, 1}, 0.0);
    matrix<double> rm({3, 1}, 0.0), rv({3, 1}, 1.0);
    std::vector<double> mu, var;
    bn_reference(x, gamma, beta, 3, 1e-5, &mu, &var);
    xgrad::graph<double> g;
    xgrad::batch_norm_options o;
    o.momentum = 0.25;
    xgrad::batch_norm(g.constant(x), g.constant(gamma), g.constant(beta), &rm, &rv, o);
    for (std::size_t c = 0; c < 3; ++c) {
        CHECK(rm(c, 0) == Approx(0.75 * 0.0 + 0.25 * mu[c]).epsilon(1e-14));
        CHECK(rv(c, 0) == Approx(0.75 * 1.0 + 0.25 * var[c] * 6.0 / 5.0).epsilon(1e-14));  // unbiased
    }
    // under no_grad (validation in training mode) they move too: training is the mode, not the recording
    {
        xgrad::no_grad ng;
        xgrad::batch_norm(g.constant(x), g.constant(gamma), g.constant(beta), &rm, &rv, o);
    }
    CHECK(rm(0, 0) == Approx(0.75 * 0.25 * mu[0] + 0.25 * mu[0]).epsilon(1e-14));
}

TEST_CASE("batch_norm: evaluation normalises with the running statistics, column by column",
          "[normalization][batch_norm]") {
    const std::size_t c = 2, hw = 3;
    const matrix<double> x = random_matrix(c * hw, 4, 61, -2.0, 2.0);
    const matrix<double> gamma = random_matrix(c, 1, 62, 0.5, 1.5), beta = random_matrix(c, 1, 63);
    matrix<double> rm = {{0.3}, {-0.4}}, rv = {{0.8}, {2.5}};
    xgrad::graph<double> g;
    const auto y = xgrad::batch_norm(g.constant(x), g.constant(gamma), g.constant(beta), &rm, &rv,
                                     per_channel(c, /*training=*/false));
    matrix<double> want(x.shape());
    for (std::size_t r = 0; r < c * hw; ++r) {
        const std::size_t ch = r / hw;
        for (std::size_t j = 0; j < 4; ++j)
            want(r, j) = gamma(ch, 0) * (x(r, j) - rm(ch, 0)) / std::sqrt(rv(ch, 0) + 1e-5) + beta(ch, 0);
    }
    XGRAD_REQUIRE_CLOSE(y.value(), want, 1e-14, 1e-15);
    // m = 1 is fine in evaluation; the column's output is the same as inside the batch
    matrix<double> col({c * hw, 1});
    for (std::size_t r = 0; r < c * hw; ++r) col(r, 0) = x(r, 2);
    const auto y1 = xgrad::batch_norm(g.constant(col), g.constant(gamma), g.constant(beta), &rm, &rv,
                                      per_channel(c, false));
    for (std::size_t r = 0; r < c * hw; ++r) CHECK(y1.value()(r, 0) == y.value()(r, 2));
    // gradcheck of evaluation's op (X, γ, β)
    auto res = xgrad::gradcheck(
        [&](auto v) { return xgrad::batch_norm(v[0], v[1], v[2], &rm, &rv, per_channel(c, false)); },
        {x, gamma, beta});
    INFO(res.report);
    REQUIRE(res.ok);
    CHECK(rm(0, 0) == 0.3);  // evaluation leaves the running statistics alone
    CHECK(rv(1, 0) == 2.5);
}

TEST_CASE("batch_norm: a large common offset does not cancel the variance (two passes)",
          "[normalization][batch_norm][numerics]") {
    // x = 1e8 + small noise in double, 1e4 + noise in float: one-pass E[x²] − E[x]² would lose the noise.
    const matrix<double> noise = random_matrix(2, 8, 71);
    const matrix<double> gamma({2, 1}, 1.0), beta({2, 1}, 0.0);
    const matrix<double> want = bn_reference(noise, gamma, beta, 2, 1e-5);
    xgrad::graph<double> g;
    const auto y = xgrad::batch_norm(g.constant(matrix<double>(noise + 1e8)), g.constant(gamma),
                                     g.constant(beta), nullptr, nullptr);
    XGRAD_REQUIRE_CLOSE(y.value(), want, 1e-6, 1e-6);
    xgrad::graph<float> gf;
    const matrix<float> xf = xgrad::test::to_float(matrix<double>(noise + 1e4));
    const auto yf = xgrad::batch_norm(gf.constant(xf), gf.constant(xgrad::test::to_float(gamma)),
                                      gf.constant(xgrad::test::to_float(beta)), nullptr, nullptr);
    // the float inputs hold the noise to ≈ 1e4·2⁻²⁴ ≈ 6e-4 absolute
    XGRAD_REQUIRE_CLOSE(xgrad::test::to_double(yf.value()), want, 0.0, 5e-3);
}

TEST_CASE("batch_norm: float matches double, forward and backward", "[normalization][batch_norm][float]") {
    const matrix<float> x = random_matrix<float>(4, 6, 81, -2.0f, 2.0f), dy = random_matrix<float>(4, 6, 82);
    const matrix<float> gamma = random_matrix<float>(4, 1, 83, 0.5f, 1.5f),
                        beta = random_matrix<float>(4, 1, 84);
    xgrad::graph<float> gf;
    const auto xf = gf.variable(x), gmf = gf.variable(gamma), bf = gf.variable(beta);
    const auto yf = xgrad::batch_norm(xf, gmf, bf, nullptr, nullptr);
    gf.backward(yf, dy);
    using xgrad::test::to_double;
    xgrad::graph<double> gd;
    const auto xd = gd.variable(to_double(x)), gmd = gd.variable(to_double(gamma)),
               bd = gd.variable(to_double(beta));
    const auto yd = xgrad::batch_norm(xd, gmd, bd, nullptr, nullptr);
    gd.backward(yd, to_double(dy));
    XGRAD_REQUIRE_CLOSE(to_double(yf.value()), yd.value(), 1e-5, 1e-6);
    XGRAD_REQUIRE_CLOSE(to_double(gf.grad_of(xf.id())), gd.grad_of(xd.id()), 1e-4, 1e-5);
    XGRAD_REQUIRE_CLOSE(to_double(gf.grad_of(gmf.id())), gd.grad_of(gmd.id()), 1e-5, 1e-6);
}

TEST_CASE("batch_norm: m = 1 in training, bad geometry and missing running statistics are refused",
          "[normalization][batch_norm][error]") {
    xgrad::graph<double> g;
    const auto gamma = g.constant(matrix<double>({3, 1}, 1.0)),
               beta = g.constant(matrix<double>({3, 1}, 0.0));
    matrix<double> rm({3, 1}, 0.0), rv({3, 1}, 1.0);
    SECTION("m = 1 in training") {
        const auto x = g.constant(random_matrix(3, 1, 91), "H");
        const std::string msg =
            xgrad::test::shape_error_message([&] { xgrad::batch_norm(x, gamma, beta, &rm, &rv); });
        CHECK_THAT(msg, Contains("batch_norm"));
        CHECK_THAT(msg, Contains("m = 1"));
        CHECK_THAT(msg, Contains("'H' is [3×1]"));
        CHECK_THAT(msg, Contains("normalization_test.cpp"));
        CHECK(rm(0, 0) == 0.0);  // nothing was updated
        CHECK(rv(0, 0) == 1.0);
    }
    SECTION("rows not a multiple of the channels") {
        const auto x = g.constant(random_matrix(7, 2, 92), "X");
        const std::string msg = xgrad::test::shape_error_message(
            [&] { xgrad::batch_norm(x, gamma, beta, nullptr, nullptr, per_channel(3)); });
        CHECK_THAT(msg, Contains("batch_norm"));
        CHECK_THAT(msg, Contains("[7×2]"));
        CHECK_THAT(msg, Contains("3 channels"));
        CHECK_THAT(msg, Contains("normalization_test.cpp"));
    }
    SECTION("γ of the wrong shape") {
        const auto x = g.constant(random_matrix(4, 2, 93));
        const std::string msg =
            xgrad::test::shape_error_message([&] { xgrad::batch_norm(x, gamma, beta, nullptr, nullptr); });
        CHECK_THAT(msg, Contains("[3×1]"));
        CHECK_THAT(msg, Contains("[4×1]"));
    }
    SECTION("evaluation without running statistics") {
        const auto x = g.constant(random_matrix(3, 2, 94));
        xgrad::batch_norm_options o;
        o.training = false;
        const std::string msg = xgrad::test::message_of<xgrad::argument_error>(
            [&] { xgrad::batch_norm(x, gamma, beta, nullptr, nullptr, o); });
        CHECK_THAT(msg, Contains("running"));
        CHECK_THAT(msg, Contains("normalization_test.cpp"));
    }
}

// ------------------------------------------------------------------------------------------------ layer_norm

TEST_CASE("layer_norm: each column is standardised over its rows, then scaled and shifted per row",
          "[normalization][layer_norm]") {
    for (const auto& [d, m] : {std::pair<std::size_t, std::size_t>{4, 3}, {5, 1}, {2, 6}, {7, 2}}) {
        INFO(d << "×" << m);
        const matrix<double> x = random_matrix(d, m, 200 + d, -3.0, 5.0);
        const matrix<double> gamma = random_matrix(d, 1, 210 + d, 0.5, 2.0),
                             beta = random_matrix(d, 1, 220 + d);
        xgrad::graph<double> g;
        const auto y = xgrad::layer_norm(g.constant(x), g.constant(gamma), g.constant(beta));
        XGRAD_REQUIRE_CLOSE(y.value(), ln_reference(x, gamma, beta, 1e-5), 1e-12, 1e-13);
    }
}

TEST_CASE("layer_norm: gradcheck at random non-square shapes, m = 1 included",
          "[normalization][layer_norm][gradcheck]") {
    std::uint64_t seed = 300;
    for (const auto& [d, m] : {std::pair<std::size_t, std::size_t>{4, 3}, {5, 1}, {2, 6}, {3, 7}, {1, 4}}) {
        ++seed;
        INFO(d << "×" << m << " seed " << seed);
        auto r = xgrad::gradcheck([](auto v) { return xgrad::layer_norm(v[0], v[1], v[2]); },
                                  {random_matrix(d, m, seed, -2.0, 3.0),
                                   random_matrix(d, 1, seed + 1, 0.5, 1.5), random_matrix(d, 1, seed + 2)},
                                  {.rtol = 1e-4, .atol = 1e-7});
        INFO(r.report);
        REQUIRE(r.ok);
    }
}

TEST_CASE("layer_norm: one feature gives β, a large offset does not cancel the variance",
          "[normalization][layer_norm][edge]") {
    xgrad::graph<double> g;
    const auto y = xgrad::layer_norm(g.constant(matrix<double>{{3.0, -7.0}}),
                                     g.constant(matrix<double>{{2.0}}), g.constant(matrix<double>{{0.5}}));
    CHECK(y.value()(0, 0) == 0.5);
    CHECK(y.value()(0, 1) == 0.5);
    const matrix<double> noise = random_matrix(6, 3, 401), gamma({6, 1}, 1.0), beta({6, 1}, 0.0);
    const auto z =
        xgrad::layer_norm(g.constant(matrix<double>(noise + 1e8)), g.constant(gamma), g.constant(beta));
    XGRAD_REQUIRE_CLOSE(z.value(), ln_reference(noise, gamma, beta, 1e-5), 1e-6, 1e-6);
}

TEST_CASE("layer_norm: float matches double", "[normalization][layer_norm][float]") {
    const matrix<float> x = random_matrix<float>(5, 4, 501, -2.0f, 2.0f),
                        dy = random_matrix<float>(5, 4, 502);
    const matrix<float> gamma = random_matrix<float>(5, 1, 503, 0.5f, 1.5f),
                        beta = random_matrix<float>(5, 1, 504);
    using xgrad::test::to_double;
    xgrad::graph<float> gf;
    const auto xf = gf.variable(x);
    const auto yf = xgrad::layer_norm(xf, gf.constant(gamma), gf.constant(beta));
    gf.backward(yf, dy);
    xgrad::graph<double> gd;
    const auto xd = gd.variable(to_double(x));
    const auto yd = xgrad::layer_norm(xd, gd.constant(to_double(gamma)), gd.constant(to_double(beta)));
    gd.backward(yd, to_double(dy));
    XGRAD_REQUIRE_CLOSE(to_double(yf.value()), yd.value(), 1e-5, 1e-6);
    XGRAD_REQUIRE_CLOSE(to_double(gf.grad_of(xf.id())), gd.grad_of(xd.id()), 1e-4, 1e-5);
}

TEST_CASE("layer_norm: γ or β of the wrong shape is refused, naming the shapes and the call",
          "[normalization][layer_norm][error]") {
    xgrad::graph<double> g;
    const auto x = g.constant(random_matrix(4, 3, 601), "H");
    const std::string msg = xgrad::test::shape_error_message([&] {
        xgrad::layer_norm(x, g.constant(matrix<double>({3, 1}, 1.0)),
                          g.constant(matrix<double>({4, 1}, 0.0)));
    });
    CHECK_THAT(msg, Contains("layer_norm"));
    CHECK_THAT(msg, Contains("[3×1]"));
    CHECK_THAT(msg, Contains("[4×1]"));
    CHECK_THAT(msg, Contains("normalization_test.cpp"));
}
