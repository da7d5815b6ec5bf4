// concat and split along the feature axis (rows): values, gradients (each part gets its own rows of dY),
// split inverting concat, shared inputs, and mismatched shapes.
#include <string>
#include <vector>

#include "support.hpp"

namespace {
using Catch::Matchers::Contains;
using xgrad::matrix;
using xgrad::shape2;
using xgrad::test::random_matrix;
}  // namespace

TEST_CASE("concat: the parts' rows, one part above the next", "[concat]") {
    const matrix<double> a = random_matrix(2, 3, 1), b = random_matrix(1, 3, 2), c = random_matrix(4, 3, 3);
    xgrad::graph<double> g;
    const auto y = xgrad::concat({g.constant(a), g.constant(b), g.constant(c)});
    REQUIRE(y.shape() == shape2{7, 3});
    for (std::size_t j = 0; j < 3; ++j) {
        for (std::size_t i = 0; i < 2; ++i) CHECK(y.value()(i, j) == a(i, j));
        CHECK(y.value()(2, j) == b(0, j));
        for (std::size_t i = 0; i < 4; ++i) CHECK(y.value()(3 + i, j) == c(i, j));
    }
}

TEST_CASE("concat: backward gives each part its rows of dY, a part used twice gets both", "[concat]") {
    const matrix<double> a = random_matrix(2, 3, 11), b = random_matrix(3, 3, 12),
                         dy = random_matrix(7, 3, 13);
    xgrad::graph<double> g;
    const auto av = g.variable(a), bv = g.variable(b);
    const auto y = xgrad::concat({av, bv, av});
    g.backward(y, dy);
    for (std::size_t j = 0; j < 3; ++j) {
        for (std::size_t i = 0; i < 2; ++i) CHECK(g.grad_of(av.id())(i, j) == dy(i, j) + dy(5 + i, j));
        for (std::size_t i = 0; i < 3; ++i) CHECK(g.grad_of(bv.id())(i, j) == dy(2 + i, j));
    }
}

TEST_CASE("concat and split: gradcheck at random non-square shapes, m = 1 included", "[concat][gradcheck]") {
    std::uint64_t seed = 20;
    for (const std::size_t m : {std::size_t{1}, std::size_t{4}, std::size_t{7}}) {
        ++seed;
        INFO("m " << m);
        auto r = xgrad::gradcheck(
            [](auto v) {
                return xgrad::tanh(xgrad::concat({v[0], v[1], v[2]}));
            },
            {random_matrix(2, m, seed), random_matrix(3, m, seed + 1), random_matrix(1, m, seed + 2)});
        INFO(r.report);
        REQUIRE(r.ok);
        auto s = xgrad::gradcheck(
            [](auto v) {
                const auto parts = xgrad::split(v[0], {2, 1, 3});
                return xgrad::concat({xgrad::sigmoid(parts[2]), xgrad::mul(parts[0], parts[0]), parts[1]});
            },
            {random_matrix(6, m, seed + 3)});
        INFO(s.report);
        REQUIRE(s.ok);
    }
}

TEST_CASE("split: the inverse of concat, rows() takes one range", "[concat][split]") {
    const matrix<double> x = random_matrix(6, 4, 31);
    xgrad::graph<double> g;
    const auto xv = g.constant(x);
    const auto parts = xgrad::split(xv, {1, 3, 2});
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].shape() == shape2{1, 4});
    CHECK(parts[1].shape() == shape2{3, 4});
    CHECK(parts[2].shape() == shape2{2, 4});
    CHECK(xgrad::concat(parts).value() == x);
    const auto mid = xgrad::rows(xv, 2, 3);
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 4; ++j) CHECK(mid.value()(i, j) == x(2 + i, j));
}

TEST_CASE("split: backward writes dY into its rows and zeros elsewhere, pieces add up", "[concat][split]") {
    const matrix<double> x = random_matrix(5, 2, 41), dy = random_matrix(2, 2, 42);
    xgrad::graph<double> g;
    const auto xv = g.variable(x);
    const auto piece = xgrad::rows(xv, 1, 2);
    g.backward(piece, dy);
    const matrix<double>& dx = g.grad_of(xv.id());
    for (std::size_t j = 0; j < 2; ++j) {
        CHECK(dx(0, j) == 0.0);
        CHECK(dx(1, j) == dy(0, j));
        CHECK(dx(2, j) == dy(1, j));
        CHECK(dx(3, j) == 0.0);
        CHECK(dx(4, j) == 0.0);
    }
}

TEST_CASE("concat and split: float matches double", "[concat][float]") {
    const matrix<float> a = random_matrix<float>(2, 3, 51), b = random_matrix<float>(3, 3, 52);
    xgrad::graph<float> g;
    const auto y = xgrad::concat({g.constant(a), g.constant(b)});
    const auto back = xgrad::split(y, {2, 3});
    CHECK(back[0].value() == a);
    CHECK(back[1].value() == b);
}

TEST_CASE("concat and split: mismatched columns, bad sizes and ranges are refused", "[concat][error]") {
    xgrad::graph<double> g;
    const auto a = g.constant(random_matrix(2, 3, 61), "A"), b = g.constant(random_matrix(2, 4, 62), "B");
    const std::string msg = xgrad::test::shape_error_message([&] { xgrad::concat({a, b}); });
    CHECK_THAT(msg, Contains("concat"));
    CHECK_THAT(msg, Contains("'A' [2×3]"));
    CHECK_THAT(msg, Contains("'B' [2×4]"));
    CHECK_THAT(msg, Contains("concat_test.cpp"));
    const std::string sizes = xgrad::test::shape_error_message([&] { xgrad::split(a, {1, 2}); });
    CHECK_THAT(sizes, Contains("split"));
    CHECK_THAT(sizes, Contains("{1, 2}"));
    CHECK_THAT(sizes, Contains("2 rows"));
    CHECK_THAT(sizes, Contains("concat_test.cpp"));
    CHECK_THAT(xgrad::test::shape_error_message([&] { xgrad::split(a, {2, 0}); }), Contains("positive"));
    const std::string range = xgrad::test::shape_error_message([&] { xgrad::rows(a, 1, 2); });
    CHECK_THAT(range, Contains("rows [1, 3)"));
    CHECK_THAT(range, Contains("concat_test.cpp"));
    CHECK_THAT(xgrad::test::message_of<xgrad::argument_error>(
                   [&] { xgrad::concat(std::vector<xgrad::var<double>>{}); }),
               Contains("at least one"));
}
