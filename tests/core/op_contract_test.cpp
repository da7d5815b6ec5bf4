// User-defined ops through the public op contract (op.hpp): correct ops pass gradcheck, broken ops are
// caught by the engine with an op_contract_error (or shape_error) that names the op and the call site.
#include <array>
#include <cmath>
#include <cstdint>
#include <source_location>
#include <stdexcept>
#include <string>

#include "support.hpp"

namespace {
using xgrad::test::message_of;

using M = xgrad::matrix<double>;
using V = xgrad::var<double>;
using Catch::Matchers::Contains;
using xgrad::test::random_matrix;

/// "op_contract_test.cpp:<line>" for a call site.
std::string at(std::uint_least32_t line) {
    return "op_contract_test.cpp:" + std::to_string(line);
}

// ------------------------------------------------------------------ correct ops

/// softplus(x) = log(1 + eˣ), written against op<T> directly; d/dx = σ(x).
template <class T>
struct softplus_op final : xgrad::op<T> {
    static constexpr xgrad::op_rule rule{.name = "softplus", .gradients = {{0, "{dy} ⊙ σ({x0})"}}};
    const xgrad::op_rule* describe() const override { return &rule; }
    void forward(xgrad::forward_context<T>& ctx) override {
        const xgrad::matrix<T>& x = ctx.input(0);
        xgrad::matrix<T>& y = ctx.output(ctx.input_shape(0));
        for (std::size_t k = 0; k < x.size(); ++k) {
            const T v = x.data()[k];
            y.data()[k] = std::log1p(std::exp(-std::abs(v))) + std::max(v, T(0));
        }
    }
    void backward(xgrad::backward_context<T>& ctx) override {
        // dX = dY ⊙ σ(X), as an xtensor expression evaluated straight into the gradient buffer
        ctx.accumulate(0, ctx.grad_output() / (T(1) + xt::exp(-ctx.input(0))));
    }
};

template <class T>
xgrad::var<T> softplus(const xgrad::var<T>& x, std::source_location loc = std::source_location::current()) {
    return xgrad::apply<softplus_op<T>>({x}, loc);
}

/// swish(x) = x·σ(x) through unary_op; d/dx = σ(x) + x·σ(x)(1 − σ(x)).
template <class T>
struct swish_op final : xgrad::unary_op<T, swish_op<T>> {
    std::string_view name() const override { return "swish"; }
    static T sig(T x) { return T(1) / (T(1) + std::exp(-x)); }
    T f(T x) const { return x * sig(x); }
    T df(T x, T) const { return sig(x) + x * sig(x) * (T(1) - sig(x)); }
};

/// The same swish with a static rule: unary_op's describe() returns it, and it names the op.
template <class T>
struct ruled_swish_op final : xgrad::unary_op<T, ruled_swish_op<T>> {
    static constexpr xgrad::op_rule rule{.name = "ruled_swish",
                                         .gradients = {{0, "{dy} ⊙ (σ({x0}) + {y}(1 − σ({x0})))"}}};
    static T sig(T x) { return T(1) / (T(1) + std::exp(-x)); }
    T f(T x) const { return x * sig(x); }
    T df(T x, T) const { return sig(x) + x * sig(x) * (T(1) - sig(x)); }
};

/// y = a ⊙ b + s·a with a constructor argument s; delivers only to inputs that need a gradient.
template <class T>
struct fma_op final : xgrad::op<T> {
    T s;
    explicit fma_op(T s_) : s(s_) {}
    std::string_view name() const override { return "test_fma"; }
    void forward(xgrad::forward_context<T>& ctx) override {
        ctx.expect_same_shape(0, 1);
        xgrad::matrix<T>& y = ctx.output(ctx.input_shape(0));
        y = ctx.input(0) * ctx.input(1) + s * ctx.input(0);
    }
    void backward(xgrad::backward_context<T>& ctx) override {
        const auto& dy = ctx.grad_output();
        if (ctx.needs_grad(0)) ctx.accumulate(0, dy * (ctx.input(1) + s));
        if (ctx.needs_grad(1)) ctx.accumulate(1, dy * ctx.input(0));
    }
};

// ------------------------------------------------------------------ broken ops

template <class T>
struct no_delivery_op final : xgrad::op<T> {
    std::string_view name() const override { return "forgetful_op"; }
    void forward(xgrad::forward_context<T>& ctx) override { ctx.output(ctx.input_shape(0)) = ctx.input(0); }
    void backward(xgrad::backward_context<T>&) override {}  // delivers nothing
};

template <class T>
struct twice_op final : xgrad::op<T> {
    std::string_view name() const override { return "twice_op"; }
    void forward(xgrad::forward_context<T>& ctx) override { ctx.output(ctx.input_shape(0)) = ctx.input(0); }
    void backward(xgrad::backward_context<T>& ctx) override {
        ctx.accumulate(0, ctx.grad_output());
        ctx.accumulate(0, ctx.grad_output());  // a second delivery for the same input
    }
};

template <class T>
struct wrong_shape_op final : xgrad::op<T> {
    std::string_view name() const override { return "misshapen_op"; }
    void forward(xgrad::forward_context<T>& ctx) override { ctx.output(ctx.input_shape(0)) = ctx.input(0); }
    void backward(xgrad::backward_context<T>& ctx) override {
        ctx.accumulate(0, xt::ones<T>({std::size_t{1}, std::size_t{1}}));  // [1×1] for a [2×3] input
    }
};

template <class T>
struct rank_one_op final : xgrad::op<T> {
    std::string_view name() const override { return "rank_one_op"; }
    void forward(xgrad::forward_context<T>& ctx) override { ctx.output(ctx.input_shape(0)) = ctx.input(0); }
    void backward(xgrad::backward_context<T>& ctx) override {
        ctx.accumulate(0, xt::sum(ctx.grad_output(), {1}));  // rank 1: forgot keep_dims
    }
};

template <class T>
struct resized_target_op final : xgrad::op<T> {
    std::string_view name() const override { return "resizing_op"; }
    void forward(xgrad::forward_context<T>& ctx) override { ctx.output(ctx.input_shape(0)) = ctx.input(0); }
    void backward(xgrad::backward_context<T>& ctx) override {
        xgrad::gradient_target<T> t = ctx.target(0);
        t.buffer.resize({1, 1});  // writes a gradient of the wrong shape through target()
        t.buffer(0, 0) = T(1);
    }
};

/// Two inputs; delivers to both without asking needs_grad.
template <class T>
struct greedy_op final : xgrad::op<T> {
    std::string_view name() const override { return "greedy_op"; }
    void forward(xgrad::forward_context<T>& ctx) override {
        ctx.output(ctx.input_shape(0)) = ctx.input(0) + ctx.input(1);
    }
    void backward(xgrad::backward_context<T>& ctx) override {
        ctx.accumulate(0, ctx.grad_output());
        ctx.accumulate(1, ctx.grad_output());
    }
};

template <class T>
struct out_of_range_op final : xgrad::op<T> {
    std::string_view name() const override { return "out_of_range_op"; }
    void forward(xgrad::forward_context<T>& ctx) override { ctx.output(ctx.input_shape(0)) = ctx.input(0); }
    void backward(xgrad::backward_context<T>& ctx) override {
        ctx.accumulate(0, ctx.grad_output());
        ctx.accumulate(1, ctx.grad_output());  // the op has one input
    }
};

template <class T>
struct no_output_op final : xgrad::op<T> {
    std::string_view name() const override { return "silent_op"; }
    void forward(xgrad::forward_context<T>&) override {}  // never calls ctx.output
    void backward(xgrad::backward_context<T>&) override {}
};

/// Accepts only column vectors; rejects anything else with ctx.fail.
template <class T>
struct column_only_op final : xgrad::op<T> {
    std::string_view name() const override { return "column_only"; }
    void forward(xgrad::forward_context<T>& ctx) override {
        const xgrad::shape2 s = ctx.input_shape(0);
        if (s[1] != 1) ctx.fail("expects a column vector, got " + xgrad::to_string(s));
        ctx.output(s) = ctx.input(0);
    }
    void backward(xgrad::backward_context<T>& ctx) override { ctx.accumulate(0, ctx.grad_output()); }
};

/// The usual way to expose an op: a function whose defaulted source_location is its caller's line.
template <class T>
xgrad::var<T> column_only(const xgrad::var<T>& x,
                          std::source_location loc = std::source_location::current()) {
    return xgrad::apply<column_only_op<T>>({x}, loc);
}

template <class T>
struct throwing_ctor_op final : xgrad::op<T> {
    explicit throwing_ctor_op(int) { throw std::invalid_argument("bad op argument"); }
    std::string_view name() const override { return "throwing_ctor"; }
    void forward(xgrad::forward_context<T>&) override {}
    void backward(xgrad::backward_context<T>&) override {}
};

// ------------------------------------------------------------------ lifetimes and the heap fallback

int g_inline_alive = 0;
int g_big_alive = 0;

/// Small op: lives in the node's inline storage.
template <class T>
struct counted_op final : xgrad::op<T> {
    counted_op() { ++g_inline_alive; }
    ~counted_op() override { --g_inline_alive; }
    std::string_view name() const override { return "counted"; }
    void forward(xgrad::forward_context<T>& ctx) override {
        ctx.output(ctx.input_shape(0)) = 3.0 * ctx.input(0);
    }
    void backward(xgrad::backward_context<T>& ctx) override { ctx.accumulate(0, 3.0 * ctx.grad_output()); }
};

/// y = Σₖ cₖ·xᵏ (a polynomial with 24 coefficients): larger than the inline storage, so it lives on the heap.
template <class T>
struct polynomial_op final : xgrad::op<T> {
    std::array<T, 24> c{};
    explicit polynomial_op(T scale) {
        for (std::size_t k = 0; k < c.size(); ++k) c[k] = scale / static_cast<T>(k + 1);
        ++g_big_alive;
    }
    ~polynomial_op() override { --g_big_alive; }
    static constexpr xgrad::op_rule rule{.name = "polynomial",
                                         .gradients = {{0, "{dy} ⊙ Σ k·cₖ·{x0}^(k−1)"}}};
    const xgrad::op_rule* describe() const override { return &rule; }
    T value(T x) const {
        T s = 0;
        for (std::size_t k = c.size(); k-- > 0;) s = s * x + c[k];
        return s;
    }
    T slope(T x) const {
        T s = 0;
        for (std::size_t k = c.size(); k-- > 1;) s = s * x + static_cast<T>(k) * c[k];
        return s;
    }
    void forward(xgrad::forward_context<T>& ctx) override {
        const xgrad::matrix<T>& x = ctx.input(0);
        xgrad::matrix<T>& y = ctx.output(ctx.input_shape(0));
        for (std::size_t k = 0; k < x.size(); ++k) y.data()[k] = value(x.data()[k]);
    }
    void backward(xgrad::backward_context<T>& ctx) override {
        const xgrad::matrix<T>& x = ctx.input(0);
        const xgrad::matrix<T>& dy = ctx.grad_output();
        xgrad::gradient_target<T> t = ctx.target(0);
        for (std::size_t k = 0; k < x.size(); ++k) {
            t.buffer.data()[k] = dy.data()[k] * slope(x.data()[k]) + t.beta * t.buffer.data()[k];
        }
    }
};

/// Over-aligned: it must go to the heap even though it is small (the inline storage is max_align_t-aligned).
template <class T>
struct alignas(128) aligned_op final : xgrad::op<T> {
    bool aligned_in_forward = false;
    std::string_view name() const override { return "aligned"; }
    void forward(xgrad::forward_context<T>& ctx) override {
        aligned_in_forward = reinterpret_cast<std::uintptr_t>(this) % 128 == 0;
        xgrad::matrix<T>& y = ctx.output(ctx.input_shape(0));
        if (aligned_in_forward) {
            y = ctx.input(0);
        } else {
            y.fill(T(0));
        }
    }
    void backward(xgrad::backward_context<T>& ctx) override { ctx.accumulate(0, ctx.grad_output()); }
};

static_assert(sizeof(polynomial_op<double>) > xgrad::detail::inline_op_bytes,
              "must exercise the heap fallback");
static_assert(sizeof(counted_op<double>) <= xgrad::detail::inline_op_bytes, "must fit the inline storage");

}  // namespace

// ------------------------------------------------------------------ correct user ops

TEST_CASE("op contract: a user-defined softplus op passes gradcheck", "[contract]") {
    auto r = xgrad::gradcheck([](auto x) { return softplus(x[0]); }, {random_matrix(3, 4, 1, -3.0, 3.0)});
    INFO(r.report);
    REQUIRE(r.ok);
    REQUIRE(r.ops == "softplus");
    // composed with built-in ops, and fed into itself
    auto r2 = xgrad::gradcheck([](auto x) { return xgrad::sum(softplus(softplus(x[0]) * x[1])); },
                               {random_matrix(2, 3, 2), random_matrix(2, 3, 3)});
    INFO(r2.report);
    REQUIRE(r2.ok);
}

TEST_CASE("op contract: softplus values are right and large inputs stay finite", "[contract]") {
    xgrad::graph<double> g;
    M xv({1, 4});
    xv(0, 0) = -800.0, xv(0, 1) = 0.0, xv(0, 2) = 2.0, xv(0, 3) = 800.0;
    V x = g.variable(xv, "x");
    V y = softplus(x);
    REQUIRE(y.value()(0, 0) == Approx(0.0).margin(1e-300));
    REQUIRE(y.value()(0, 1) == Approx(std::log(2.0)));
    REQUIRE(y.value()(0, 2) == Approx(std::log1p(std::exp(2.0))));
    REQUIRE(y.value()(0, 3) == Approx(800.0));
    REQUIRE(g.info(y.id()).op == "softplus");  // the rule's name
    REQUIRE(g.info(y.id()).rule == &softplus_op<double>::rule);
}

TEST_CASE("op contract: a swish op written with unary_op passes gradcheck", "[contract]") {
    auto r = xgrad::gradcheck(
        [](auto x) { return xgrad::apply<swish_op<double>>({x[0]}, std::source_location::current()); },
        {random_matrix(4, 3, 4, -4.0, 4.0)});
    INFO(r.report);
    REQUIRE(r.ok);
    REQUIRE(r.ops == "swish");
}

TEST_CASE("op contract: unary_op returns the op's static rule, which names it", "[contract]") {
    xgrad::graph<float> g;
    auto x = g.variable(xgrad::matrix<float>({2, 3}, 0.5f), "x");
    auto y = xgrad::apply<ruled_swish_op<float>>({x}, std::source_location::current());
    const auto info = g.info(y.id());
    REQUIRE(info.op == "ruled_swish");
    REQUIRE(info.rule == &ruled_swish_op<float>::rule);
    REQUIRE(info.rule->gradients[0].input == 0);
    REQUIRE(info.rule->gradients[1].input == -1);  // one clause: the rest of the slots are unused
    // an op without a rule: no rule on the tape, and its own name
    auto z = xgrad::apply<swish_op<float>>({x}, std::source_location::current());
    REQUIRE(g.info(z.id()).rule == nullptr);
    REQUIRE(g.info(z.id()).op == "swish");
}

TEST_CASE("op contract: swish works in float too", "[contract]") {
    xgrad::graph<float> g;
    auto x = g.variable(xgrad::matrix<float>({1, 2}, 1.5f), "x");
    auto y = xgrad::apply<swish_op<float>>({x}, std::source_location::current());
    g.backward(xgrad::sum(y));
    const double s = 1.0 / (1.0 + std::exp(-1.5));
    REQUIRE(x.grad()(0, 1) == Approx(s + 1.5 * s * (1 - s)).epsilon(1e-6));
}

TEST_CASE("op contract: an op with constructor arguments delivers only where needed", "[contract]") {
    auto r = xgrad::gradcheck(
        [](auto x) {
            return xgrad::apply<fma_op<double>>({x[0], x[1]}, std::source_location::current(), 0.7);
        },
        {random_matrix(2, 3, 5), random_matrix(2, 3, 6)});
    INFO(r.report);
    REQUIRE(r.ok);
    // with one constant input: no delivery to it, and no contract error
    xgrad::graph<double> g;
    const M av = random_matrix(2, 3, 7), bv = random_matrix(2, 3, 8);
    V a = g.variable(av, "a");
    V b = g.constant(bv, "b");
    g.backward(xgrad::sum(xgrad::apply<fma_op<double>>({a, b}, std::source_location::current(), 0.7)));
    XGRAD_REQUIRE_CLOSE(a.grad(), M(bv + 0.7), 1e-15, 0.0);
}

// ------------------------------------------------------------------ broken ops

TEST_CASE("op contract: an op that delivers no gradient throws op_contract_error naming it", "[contract]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 3, 11), "x");
    std::uint_least32_t line = 0;
    V y = (line = __LINE__, xgrad::apply<no_delivery_op<double>>({x}, std::source_location::current()));
    V L = xgrad::sum(y);
    const std::string msg = message_of<xgrad::op_contract_error>([&] { g.backward(L); });
    INFO(msg);
    CHECK_THAT(msg, Contains("forgetful_op"));
    CHECK_THAT(msg, Contains(at(line)));
    CHECK_THAT(msg, Contains("input 0"));
    CHECK_THAT(msg, Contains("'x'"));
}

TEST_CASE("op contract: an op that delivers twice throws op_contract_error naming it", "[contract]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 3, 12), "x");
    std::uint_least32_t line = 0;
    V y = (line = __LINE__, xgrad::apply<twice_op<double>>({x}, std::source_location::current()));
    V L = xgrad::sum(y);
    const std::string msg = message_of<xgrad::op_contract_error>([&] { g.backward(L); });
    INFO(msg);
    CHECK_THAT(msg, Contains("twice_op"));
    CHECK_THAT(msg, Contains(at(line)));
    CHECK_THAT(msg, Contains("two gradients"));
}

TEST_CASE("op contract: an op that delivers a wrong-shaped expression throws op_contract_error",
          "[contract]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 3, 13), "x");
    std::uint_least32_t line = 0;
    V y = (line = __LINE__, xgrad::apply<wrong_shape_op<double>>({x}, std::source_location::current()));
    V L = xgrad::sum(y);
    const std::string msg = message_of<xgrad::op_contract_error>([&] { g.backward(L); });
    INFO(msg);
    CHECK_THAT(msg, Contains("misshapen_op"));
    CHECK_THAT(msg, Contains(at(line)));
    CHECK_THAT(msg, Contains("[1×1]"));
    CHECK_THAT(msg, Contains("[2×3]"));
    // the rejected delivery left the variable's gradient alone
    REQUIRE_FALSE(g.info(x.id()).has_grad);
}

TEST_CASE("op contract: an op that delivers a rank-1 expression throws op_contract_error", "[contract]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 3, 14), "x");
    std::uint_least32_t line = 0;
    V y = (line = __LINE__, xgrad::apply<rank_one_op<double>>({x}, std::source_location::current()));
    const std::string msg = message_of<xgrad::op_contract_error>([&] { g.backward(xgrad::sum(y)); });
    INFO(msg);
    CHECK_THAT(msg, Contains("rank_one_op"));
    CHECK_THAT(msg, Contains(at(line)));
    CHECK_THAT(msg, Contains("rank 1"));
}

TEST_CASE("op contract: an op that leaves a wrong-shaped gradient through target() throws", "[contract]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 3, 15), "x");
    std::uint_least32_t line = 0;
    V y = (line = __LINE__, xgrad::apply<resized_target_op<double>>({x}, std::source_location::current()));
    const std::string msg = message_of<xgrad::op_contract_error>([&] { g.backward(xgrad::sum(y)); });
    INFO(msg);
    CHECK_THAT(msg, Contains("resizing_op"));
    CHECK_THAT(msg, Contains(at(line)));
    CHECK_THAT(msg, Contains("[1×1]"));
    CHECK_THAT(msg, Contains("[2×3]"));
}

TEST_CASE("op contract: an op that delivers to an input needing no gradient throws op_contract_error",
          "[contract]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 3, 16), "x");
    V c = g.constant(random_matrix(2, 3, 17), "c");
    std::uint_least32_t line = 0;
    V y = (line = __LINE__, xgrad::apply<greedy_op<double>>({x, c}, std::source_location::current()));
    const std::string msg = message_of<xgrad::op_contract_error>([&] { g.backward(xgrad::sum(y)); });
    INFO(msg);
    CHECK_THAT(msg, Contains("greedy_op"));
    CHECK_THAT(msg, Contains(at(line)));
    CHECK_THAT(msg, Contains("input 1"));
    CHECK_THAT(msg, Contains("needs none"));

    // the same op is fine when both inputs need a gradient
    xgrad::graph<double> g2;
    V a = g2.variable(random_matrix(2, 3, 18)), b = g2.variable(random_matrix(2, 3, 19));
    g2.backward(xgrad::sum(xgrad::apply<greedy_op<double>>({a, b}, std::source_location::current())));
    XGRAD_REQUIRE_CLOSE(b.grad(), M({2, 3}, 1.0), 0.0, 0.0);
}

TEST_CASE("op contract: an op that delivers to an input it does not have throws op_contract_error",
          "[contract]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 3, 20), "x");
    std::uint_least32_t line = 0;
    V y = (line = __LINE__, xgrad::apply<out_of_range_op<double>>({x}, std::source_location::current()));
    const std::string msg = message_of<xgrad::op_contract_error>([&] { g.backward(xgrad::sum(y)); });
    INFO(msg);
    CHECK_THAT(msg, Contains("out_of_range_op"));
    CHECK_THAT(msg, Contains(at(line)));
}

TEST_CASE("op contract: a forward that never calls ctx.output throws shape_error naming the op",
          "[contract]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 3, 21), "x");
    const std::size_t before = g.size();
    std::uint_least32_t line = 0;
    const std::string msg = message_of<xgrad::shape_error>([&] {
        (void)(line = __LINE__, xgrad::apply<no_output_op<double>>({x}, std::source_location::current()));
    });
    INFO(msg);
    CHECK_THAT(msg, Contains("silent_op"));
    CHECK_THAT(msg, Contains(at(line)));
    CHECK_THAT(msg, Contains("ctx.output"));
    // the failed op left no node behind and the graph stays usable
    REQUIRE(g.size() == before);
    V y = softplus(x);
    REQUIRE(y.id() == before);
    REQUIRE_NOTHROW(g.backward(xgrad::sum(y)));
}

TEST_CASE("op contract: ctx.fail in forward names the op, the shapes and the caller's file:line",
          "[contract]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 3, 22), "x");
    std::uint_least32_t line = 0;
    const std::string msg = message_of<xgrad::shape_error>([&] {
        (void)(line = __LINE__, xgrad::apply<column_only_op<double>>({x}, std::source_location::current()));
    });
    INFO(msg);
    CHECK_THAT(msg, Contains("column_only"));
    CHECK_THAT(msg, Contains("[2×3]"));
    CHECK_THAT(msg, Contains(at(line)));
    // through a wrapper with a defaulted location: the wrapper's caller, not the wrapper
    const std::string via_wrapper =
        message_of<xgrad::shape_error>([&] { (void)(line = __LINE__, column_only(x)); });
    INFO(via_wrapper);
    CHECK_THAT(via_wrapper, Contains("column_only"));
    CHECK_THAT(via_wrapper, Contains(at(line)));
    // the accepted shape records fine
    V col = g.variable(random_matrix(3, 1, 23), "col");
    REQUIRE(xgrad::apply<column_only_op<double>>({col}, std::source_location::current()).shape() ==
            xgrad::shape2{3, 1});
}

TEST_CASE("op contract: an op whose constructor throws leaves the graph usable", "[contract]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 2, 24), "x");
    const std::size_t before = g.size();
    REQUIRE_THROWS_AS(xgrad::apply<throwing_ctor_op<double>>({x}, std::source_location::current(), 1),
                      std::invalid_argument);
    REQUIRE(g.size() == before);
    V y = softplus(x);
    REQUIRE_NOTHROW(g.backward(xgrad::sum(y)));
    REQUIRE(g.info(y.id()).inputs == std::vector<std::uint32_t>{x.id()});
}

// ------------------------------------------------------------------ storage

TEST_CASE("op contract: an op bigger than the inline storage works (heap fallback)", "[contract]") {
    auto r = xgrad::gradcheck(
        [](auto x) {
            return xgrad::apply<polynomial_op<double>>({x[0]}, std::source_location::current(), 0.5);
        },
        {random_matrix(3, 3, 31, -0.9, 0.9)});
    INFO(r.report);
    REQUIRE(r.ok);
    REQUIRE(r.ops == "polynomial");
    REQUIRE(g_big_alive == 0);  // gradcheck's graphs destroyed their heap ops

    xgrad::graph<double> g;
    V x = g.variable(M({1, 1}, 0.5), "x");
    V y = xgrad::apply<polynomial_op<double>>({x}, std::source_location::current(), 1.0);
    REQUIRE(g_big_alive == 1);
    REQUIRE(g.info(y.id()).op == "polynomial");
    double expected = 0;  // Σ xᵏ/(k+1) at x = 0.5
    for (int k = 0; k < 24; ++k) expected += std::pow(0.5, k) / (k + 1);
    REQUIRE(y.item() == Approx(expected).epsilon(1e-14));
    g.backward(y);
    double slope = 0;
    for (int k = 1; k < 24; ++k) slope += k * std::pow(0.5, k - 1) / (k + 1);
    REQUIRE(x.grad()(0, 0) == Approx(slope).epsilon(1e-14));
    g.clear();
    REQUIRE(g_big_alive == 0);  // clear() destroys (and frees) the op
    // recorded again into the same node
    V x2 = g.variable(M({1, 1}, 0.5), "x");
    V y2 = xgrad::apply<polynomial_op<double>>({x2}, std::source_location::current(), 1.0);
    REQUIRE(g_big_alive == 1);
    REQUIRE(y2.item() == Approx(expected).epsilon(1e-14));
}

TEST_CASE("op contract: an over-aligned op is placed on the heap at its alignment", "[contract]") {
    xgrad::graph<double> g;
    const M xv = random_matrix(2, 2, 41);
    V x = g.variable(xv, "x");
    V y = xgrad::apply<aligned_op<double>>({x}, std::source_location::current());
    XGRAD_REQUIRE_CLOSE(y.value(), xv, 0.0, 0.0);  // zeros if `this` was misaligned
    g.backward(xgrad::sum(y));
    XGRAD_REQUIRE_CLOSE(x.grad(), M({2, 2}, 1.0), 0.0, 0.0);
}

TEST_CASE("op contract: an op needs at least one input", "[contract]") {
    REQUIRE_THROWS_AS(xgrad::apply<softplus_op<double>>({}, std::source_location::current()),
                      xgrad::graph_error);
}

TEST_CASE("op contract: ops are destroyed by clear(), release() and the graph's destructor", "[contract]") {
    {
        xgrad::graph<double> g;
        V x = g.variable(M({2, 2}, 1.0), "x");
        for (int k = 0; k < 5; ++k)
            x = xgrad::apply<counted_op<double>>({x}, std::source_location::current());
        V z = g.variable(M({1, 1}, 0.5), "z");
        V p = xgrad::apply<polynomial_op<double>>({z}, std::source_location::current(), 1.0);
        (void)p;
        REQUIRE(g_inline_alive == 5);
        REQUIRE(g_big_alive == 1);
        g.clear();
        REQUIRE(g_inline_alive == 0);
        REQUIRE(g_big_alive == 0);
        // record the other kind into the nodes that held them
        V z2 = g.variable(M({1, 1}, 0.5), "z");
        for (int k = 0; k < 3; ++k)
            z2 = xgrad::apply<polynomial_op<double>>({z2}, std::source_location::current(), 0.1);
        V x2 = g.variable(M({2, 2}, 1.0), "x");
        V y2 = xgrad::apply<counted_op<double>>({x2}, std::source_location::current());
        REQUIRE(g_big_alive == 3);
        REQUIRE(g_inline_alive == 1);
        g.backward(xgrad::sum(y2));
        XGRAD_REQUIRE_CLOSE(x2.grad(), M({2, 2}, 3.0), 0.0, 0.0);
        g.release();
        REQUIRE(g_big_alive == 0);
        REQUIRE(g_inline_alive == 0);
        V again = g.variable(M({1, 1}, 0.5), "z");
        (void)xgrad::apply<polynomial_op<double>>({again}, std::source_location::current(), 1.0);
        (void)xgrad::apply<counted_op<double>>({again}, std::source_location::current());
        REQUIRE(g_big_alive == 1);
        REQUIRE(g_inline_alive == 1);
    }
    REQUIRE(g_big_alive == 0);
    REQUIRE(g_inline_alive == 0);
}
