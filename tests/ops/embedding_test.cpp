// embedding: ids pick columns of a table; backward scatter-adds so repeated ids sum. Values against loops and
// against E·onehot(ids), gradchecks at random shapes (m = 1 too), float against double, and bad ids.
#include <random>
#include <string>
#include <vector>

#include "support.hpp"

namespace {
using Catch::Matchers::Contains;
using xgrad::matrix;
using xgrad::shape2;
using xgrad::test::random_matrix;
using xgrad::test::to_double;

/// A [1×m] row of random ids in [0, V) (repeats likely when m > V).
matrix<double> random_ids(std::size_t vocab, std::size_t m, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> d(0, vocab - 1);
    matrix<double> ids({std::size_t{1}, m});
    for (auto& v : ids) v = static_cast<double>(d(rng));
    return ids;
}

/// The one-hot matrix [V×m] of the ids.
matrix<double> one_hot(const matrix<double>& ids, std::size_t vocab) {
    matrix<double> o({vocab, ids.shape()[1]}, 0.0);
    for (std::size_t j = 0; j < ids.shape()[1]; ++j) o(static_cast<std::size_t>(ids(0, j)), j) = 1.0;
    return o;
}

struct case_shape {
    std::size_t d, vocab, m;
};
const std::vector<case_shape> kShapes = {{3, 5, 7}, {4, 2, 1}, {1, 6, 4}, {5, 1, 3}, {2, 9, 11}, {6, 4, 1}};

}  // namespace

TEST_CASE("embedding: column j of Y is column idⱼ of E, and equals E·onehot(ids)", "[embedding]") {
    std::uint64_t seed = 10;
    for (const auto& [d, vocab, m] : kShapes) {
        ++seed;
        INFO("d " << d << " V " << vocab << " m " << m << " seed " << seed);
        const matrix<double> e = random_matrix(d, vocab, seed), ids = random_ids(vocab, m, seed + 1);
        xgrad::graph<double> g;
        const auto y = xgrad::embedding(g.constant(e), g.constant(ids));
        REQUIRE(y.shape() == shape2{d, m});
        matrix<double> want({d, m});
        for (std::size_t i = 0; i < d; ++i) {
            for (std::size_t j = 0; j < m; ++j) want(i, j) = e(i, static_cast<std::size_t>(ids(0, j)));
        }
        CHECK(xgrad::test::closeness(y.value(), want, 0.0, 0.0) == 0.0);  // a copy: exact
        const auto via_matmul = xgrad::matmul(g.constant(e), g.constant(one_hot(ids, vocab)));
        XGRAD_REQUIRE_CLOSE(y.value(), via_matmul.value(), 1e-15, 1e-15);
    }
}

TEST_CASE("embedding: backward scatter-adds, so a repeated id gets the sum of its columns of dY",
          "[embedding]") {
    const std::size_t d = 3, vocab = 5;
    const matrix<double> ids = {{3, 1, 0, 1, 3, 1}};  // 1 three times, 3 twice, 2 and 4 never
    const matrix<double> e = random_matrix(d, vocab, 31), dy = random_matrix(d, 6, 32);
    xgrad::graph<double> g;
    const auto ev = g.variable(e, "E");
    const auto y = xgrad::embedding(ev, g.constant(ids));
    g.backward(y, dy);
    const matrix<double>& de = g.grad_of(ev.id());
    for (std::size_t i = 0; i < d; ++i) {
        CHECK(de(i, 0) == dy(i, 2));
        CHECK(de(i, 1) == dy(i, 1) + dy(i, 3) + dy(i, 5));
        CHECK(de(i, 2) == 0.0);
        CHECK(de(i, 3) == dy(i, 0) + dy(i, 4));
        CHECK(de(i, 4) == 0.0);
    }
    // the same as the matmul rule dE = dY·onehot(ids)ᵀ
    matrix<double> want({d, vocab}, 0.0);
    const matrix<double> oh = one_hot(ids, vocab);
    for (std::size_t i = 0; i < d; ++i)
        for (std::size_t k = 0; k < vocab; ++k)
            for (std::size_t j = 0; j < 6; ++j) want(i, k) += dy(i, j) * oh(k, j);
    XGRAD_REQUIRE_CLOSE(de, want, 1e-15, 1e-15);
}

TEST_CASE("embedding: a second backward adds to the table's gradient", "[embedding][edge]") {
    const matrix<double> e = random_matrix(2, 3, 41), ids = {{2, 2, 0}};
    const matrix<double> dy = random_matrix(2, 3, 42);
    xgrad::graph<double> g;
    const auto ev = g.variable(e);
    const auto y = xgrad::embedding(ev, g.constant(ids));
    g.backward(y, dy);
    const matrix<double> once = g.grad_of(ev.id());
    g.backward(y, dy);
    XGRAD_REQUIRE_CLOSE(g.grad_of(ev.id()), matrix<double>(2.0 * once), 1e-15, 0.0);
}

TEST_CASE("embedding: gradcheck at random non-square shapes, m = 1 included", "[embedding][gradcheck]") {
    std::uint64_t seed = 50;
    for (const auto& [d, vocab, m] : kShapes) {
        ++seed;
        INFO("d " << d << " V " << vocab << " m " << m << " seed " << seed);
        const matrix<double> ids = random_ids(vocab, m, seed + 7);
        auto r =
            xgrad::gradcheck([&ids](auto x) { return xgrad::embedding(x[0], x[0].owner().constant(ids)); },
                             {random_matrix(d, vocab, seed)});
        INFO(r.report);
        REQUIRE(r.ok);
    }
    // embedding then a dense layer (the family-trees network's first two layers)
    const matrix<double> ids = {{0, 3, 3, 1}};
    auto r = xgrad::gradcheck(
        [&ids](auto x) {
            return xgrad::tanh(xgrad::linear(x[1], xgrad::embedding(x[0], x[0].owner().constant(ids)), x[2]));
        },
        {random_matrix(3, 4, 61), random_matrix(5, 3, 62), random_matrix(5, 1, 63)});
    INFO(r.report);
    REQUIRE(r.ok);
}

TEST_CASE("embedding: float matches double", "[embedding][float]") {
    const matrix<float> e = random_matrix<float>(4, 6, 71);
    const matrix<double> ids = random_ids(6, 9, 72);
    const matrix<float> dy = random_matrix<float>(4, 9, 73);
    xgrad::graph<float> gf;
    const auto ef = gf.variable(e);
    const auto yf = xgrad::embedding(ef, gf.constant(xgrad::test::to_float(ids)));
    gf.backward(yf, dy);
    xgrad::graph<double> gd;
    const auto ed = gd.variable(to_double(e));
    const auto yd = xgrad::embedding(ed, gd.constant(ids));
    gd.backward(yd, to_double(dy));
    XGRAD_REQUIRE_CLOSE(to_double(yf.value()), yd.value(), 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(to_double(gf.grad_of(ef.id())), gd.grad_of(ed.id()), 1e-6, 1e-7);
}

TEST_CASE("embedding: an id out of range names the op, the id, V and the call site", "[embedding][error]") {
    xgrad::graph<double> g;
    const auto e = g.variable(random_matrix(3, 5, 81), "E");
    const std::size_t before = g.size();
    SECTION("too large") {
        const auto ids = g.constant(matrix<double>{{0, 4, 5, 1}}, "ids");
        const std::string msg = xgrad::test::shape_error_message([&] { xgrad::embedding(e, ids); });
        CHECK_THAT(msg, Contains("embedding"));
        CHECK_THAT(msg, Contains("id 5 at position 2"));
        CHECK_THAT(msg, Contains("V = 5"));
        CHECK_THAT(msg, Contains("[3×5]"));
        CHECK_THAT(msg, Contains("embedding_test.cpp"));
        CHECK(g.size() == before + 1);  // the ids' leaf only: no op node was committed
    }
    SECTION("negative, fractional, NaN") {
        for (double bad : {-1.0, 2.5, std::nan("")}) {
            const auto ids = g.constant(matrix<double>{{1, bad}}, "ids");
            const std::string msg = xgrad::test::shape_error_message([&] { xgrad::embedding(e, ids); });
            CHECK_THAT(msg, Contains("embedding"));
            CHECK_THAT(msg, Contains("position 1"));
            CHECK_THAT(msg, Contains("V = 5"));
            CHECK_THAT(msg, Contains("embedding_test.cpp"));
        }
    }
    SECTION("ids that are not a row, or that require a gradient") {
        const std::string shape_msg = xgrad::test::shape_error_message([&] {
            xgrad::embedding(e, g.constant(matrix<double>{{0}, {1}}));
        });
        CHECK_THAT(shape_msg, Contains("[2×1]"));
        CHECK_THAT(shape_msg, Contains("[1×m]"));
        const std::string grad_msg = xgrad::test::shape_error_message([&] {
            xgrad::embedding(e, g.variable(matrix<double>{{0, 1}}));
        });
        CHECK_THAT(grad_msg, Contains("cannot require a gradient"));
    }
}

TEST_CASE("embedding: a table of one symbol and one feature (edge)", "[embedding][edge]") {
    xgrad::graph<double> g;
    const auto e = g.variable(matrix<double>{{2.5}});
    const auto y = xgrad::embedding(e, g.constant(matrix<double>{{0, 0, 0}}));
    REQUIRE(y.shape() == shape2{1, 3});
    for (std::size_t j = 0; j < 3; ++j) CHECK(y.value()(0, j) == 2.5);
    g.backward(y, matrix<double>{{1.0, 2.0, 4.0}});
    CHECK(g.grad_of(e.id())(0, 0) == 7.0);
}
