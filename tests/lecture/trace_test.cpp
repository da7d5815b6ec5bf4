// The backward trace: the two-layer network's trace reads like the slide, names and shapes are filled in,
// norms are the gradients', and the observer comes and goes with the trace object.
#include <cmath>

#include <catch2/catch.hpp>

#include "lecture/two_layer_trace.hpp"
#include "lecture_support.hpp"
#include "support.hpp"

using M = xgrad::matrix<double>;
using xgrad::test::random_matrix;

TEST_CASE("trace: the two-layer network's backward trace contains the slide's rules in backward order",
          "[lecture][trace]") {
    const auto r = lecture::run_traced_two_layer(nullptr);
    INFO(r.trace);
    // The slide: dA2 = H2 − Y; dW2 = dA2·H1ᵀ; db2 = Σ dA2; dA1 = W2ᵀ·dA2 ⊙ H1(1 − H1); dW1 = dA1·Xᵀ; db1 = Σ
    // dA1 (each with 1/m; the graph's dA2 carries it). Backward reaches add_bias before matmul, so db comes
    // before dW, and dA1 is two steps: dH1 = W2ᵀ·dA2 (matmul), then dA1 = dH1 ⊙ H1(1 − H1) (sigmoid).
    const std::vector<std::string> rules{"dA2 = (σ(A2) − Y)/m",
                                         "db2 = Σ_columns dA2                 [1×5] → [1×1]",
                                         "dW2 = dA2·H1ᵀ                       [1×5]·[5×4] → [1×4]",
                                         "dH1 = W2ᵀ·dA2                       [4×1]·[1×5] → [4×5]",
                                         "dA1 = dH1 ⊙ H1(1 − H1)              [4×5]",
                                         "db1 = Σ_columns dA1                 [4×5] → [4×1]",
                                         "dW1 = dA1·Xᵀ                        [4×5]·[5×2] → [4×2]",
                                         "gradients left on the leaves:"};
    CHECK(lecture_test::first_missing_in_order(r.trace, rules) == rules.size());
    CHECK_THAT(r.trace, Catch::Contains("A2 = W2·H1 + b2"));
    CHECK_THAT(r.trace, Catch::Contains("H1 = σ(A1)"));
    CHECK_THAT(r.trace, Catch::Contains("d(W2·H1) = dA2"));  // the unnamed product borrows dA2
    CHECK_THAT(r.trace, !Catch::Contains("dX"));             // X is data: no gradient
    CHECK_THAT(r.trace, Catch::Contains("(no gradient for constants: X, Y)"));
    CHECK(r.slide_gap < 1e-12);
}

TEST_CASE("trace: the norms printed are the gradients' Frobenius norms", "[lecture][trace]") {
    xgrad::parameter<double> W(random_matrix(3, 2, 1), "W"), b(random_matrix(3, 1, 2), "b");
    const M Xv = random_matrix(2, 4, 3), Tv = xgrad::one_hot(M{{0, 2, 1, 2}}, 3);
    xgrad::graph<double> g;
    auto A = xgrad::add_bias(xgrad::matmul(g.param(W), g.borrow(Xv, "X")), g.param(b)).named("A");
    auto C = xgrad::softmax_cross_entropy(A, g.borrow(Tv, "T")).named("C");
    const std::string t = xgrad::trace_backward(g, C, nullptr);
    INFO(t);
    CHECK_THAT(t, Catch::Contains("dA = (softmax(A) − T)/m"));
    CHECK_THAT(t, Catch::Contains(fmt::format("‖·‖ = {:.4g}", xgrad::frobenius_norm(W.grad()))));
    CHECK_THAT(t, Catch::Contains(fmt::format("‖·‖ = {:.4g}", xgrad::frobenius_norm(b.grad()))));
    CHECK_THAT(t, Catch::Contains(fmt::format("‖·‖ = {:.4g}", xgrad::frobenius_norm(A.grad()))));
    CHECK(xgrad::frobenius_norm(M{{3, 4}}) == 5.0);
}

TEST_CASE("trace: unnamed tensors get expression names, long ones op#id", "[lecture][trace]") {
    xgrad::graph<double> g;
    auto x = g.variable(random_matrix(2, 3, 4), "x");
    auto W = g.variable(random_matrix(2, 2, 5), "W");
    auto y = xgrad::sigmoid(xgrad::matmul(W, x));  // σ(W·x)
    auto yt = xgrad::transpose(y);                 // σ(W·x)ᵀ
    auto z = xgrad::tanh(yt * 2.0 + 1.0);          // tanh(s·σ(W·x)ᵀ + s): long
    auto d = z - xgrad::exp(xgrad::neg(yt));       // long
    auto L = xgrad::sum(d);
    xgrad::tensor_names<double> nm(g);
    CHECK(nm.name(y.id()) == "σ(W·x)");
    CHECK(nm.own_grad_name(y.id()) == "d(σ(W·x))");
    CHECK(nm.name(x.id()) == "x");
    CHECK(nm.user_named(x.id()));
    CHECK_FALSE(nm.user_named(y.id()));
    CHECK(nm.name(yt.id()) == "σ(W·x)ᵀ");
    CHECK(nm.name(z.id()) == fmt::format("tanh#{}", z.id()));
    CHECK(nm.expression(z.id()) == "tanh(s·σ(W·x)ᵀ + s)");
    CHECK(nm.name(d.id()) == fmt::format("sub#{}", d.id()));
    CHECK(nm.name(L.id()) == fmt::format("sum(sub#{})", d.id()));
    CHECK(nm.expression(W.id()) == "variable");
    // matmul's clauses with shapes, for both inputs.
    const auto cl = nm.clauses(y.id() - 1);
    REQUIRE(cl.size() == 2);
    CHECK(cl[0].text == "dW = d(W·x)·xᵀ");
    CHECK(cl[0].shapes == "[2×3]·[3×2] → [2×2]");
    CHECK(cl[1].text == "dx = Wᵀ·d(W·x)");
    CHECK(cl[1].shapes == "[2×2]·[2×3] → [2×3]");
}

TEST_CASE("trace: a tensor used twice is marked partial until its last use has added", "[lecture][trace]") {
    xgrad::graph<double> g;
    auto a = g.variable(random_matrix(2, 2, 6), "a");
    auto h = xgrad::sigmoid(a).named("h");
    auto L = xgrad::sum(h * h + h).named("L");
    const std::string t = xgrad::trace_backward(g, L, nullptr);
    INFO(t);
    CHECK_THAT(t, Catch::Contains("(so far: 2 more uses to add)"));
    CHECK_THAT(t, Catch::Contains("dh = sum_to(d(h ⊙ h + h) ⊙ h)"));  // h ⊙ h passes on the sum's gradient
    CHECK_THAT(t, Catch::Contains("da = dh ⊙ h(1 − h)"));
}

TEST_CASE("trace: the observer traces every backward while the trace lives, and is removed after",
          "[lecture][trace]") {
    xgrad::graph<double> g;
    auto x = g.variable(random_matrix(2, 2, 7), "x");
    auto L = xgrad::sum(xgrad::square(x)).named("L");
    std::string text;
    {
        xgrad::backward_trace<double> trace(g, nullptr);
        g.backward(L);
        g.zero_grad();
        g.backward(L);
        text = trace.text();
    }
    std::size_t headers = 0;
    for (auto p = text.find("backward from L"); p != std::string::npos;
         p = text.find("backward from L", p + 1))
        ++headers;
    CHECK(headers == 2);
    CHECK_THAT(text, Catch::Contains("dx = 2·x ⊙ d(x²)"));
    g.zero_grad();
    g.backward(L);  // no observer left behind
    CHECK(x.grad()(0, 0) == Approx(2 * x.value()(0, 0)));
}

namespace {
/// A user op that states no rule (no describe()): traces name it and say so.
struct twice_op final : xgrad::op<double> {
    std::string_view name() const override { return "twice"; }
    void forward(xgrad::forward_context<double>& ctx) override {
        ctx.output(ctx.input_shape(0)) = 2.0 * ctx.input(0);
    }
    void backward(xgrad::backward_context<double>& ctx) override {
        ctx.accumulate(0, 2.0 * ctx.grad_output());
    }
};
}  // namespace

TEST_CASE("trace: an op that states no rule is printed by name", "[lecture][trace]") {
    xgrad::graph<double> g;
    auto x = g.variable(random_matrix(2, 2, 8), "x");
    auto y = xgrad::apply<twice_op>({x}, std::source_location::current()).named("y");
    auto L = xgrad::sum(y).named("L");
    const std::string t = xgrad::trace_backward(g, L, nullptr);
    INFO(t);
    CHECK_THAT(t, Catch::Contains("(twice states no backward rule)"));
    CHECK_THAT(t, Catch::Contains("dy = dL broadcast back"));
    xgrad::tensor_names<double> nm(g);
    CHECK(nm.expression(y.id()) == "twice(x)");
    const auto cl = nm.clauses(y.id());
    REQUIRE(cl.size() == 1);
    CHECK(cl[0].input == -1);
}

TEST_CASE("trace: compound names get parentheses only where the rule's placeholder needs them",
          "[lecture][trace]") {
    xgrad::graph<double> g;
    auto a = g.variable(random_matrix(2, 3, 9), "a");
    auto b = g.variable(random_matrix(2, 3, 10), "b");
    auto W = g.variable(random_matrix(3, 4, 11), "W");
    auto k = g.variable(random_matrix(2, 3, 12), "c d");  // a user's name with a space binds loosely
    auto u = a + b;                                       // {x0:sum} + {x1:product}: "a + b", a sum
    auto p = xgrad::matmul(u, W);                         // {x0:product}·{x1}: the sum needs parentheses
    auto t = xgrad::transpose(u);                         // {x0}ᵀ: so does an atom's place
    auto v = u + a;                                       // {x0:sum}: a sum on the left needs none
    auto w = a - u;                                       // {x1:product}: on the right it does
    auto s = xgrad::sigmoid(p);                           // σ({x0:any}): an argument never needs them
    auto e = xgrad::exp(k);                               // a call: neither does a loose user name
    auto kt = xgrad::transpose(k);
    auto L = xgrad::sum(s) + xgrad::sum(t) + xgrad::sum(v) + xgrad::sum(w) + xgrad::sum(e) + xgrad::sum(kt);
    (void)L;
    xgrad::tensor_names<double> nm(g);
    CHECK(nm.name(u.id()) == "a + b");
    CHECK(nm.name(p.id()) == "(a + b)·W");
    CHECK(nm.name(t.id()) == "(a + b)ᵀ");
    CHECK(nm.name(v.id()) == "a + b + a");
    CHECK(nm.name(w.id()) == "a − (a + b)");
    CHECK(nm.name(s.id()) == "σ((a + b)·W)");
    CHECK(nm.name(e.id()) == "exp(c d)");
    CHECK(nm.name(kt.id()) == "(c d)ᵀ");
    CHECK(nm.own_grad_name(u.id()) == "d(a + b)");
    const auto cl = nm.clauses(p.id());
    REQUIRE(cl.size() == 2);
    CHECK(cl[0].text == "d(a + b) = d((a + b)·W)·Wᵀ");
    CHECK(cl[0].shapes == "[2×4]·[4×3] → [2×3]");
    CHECK(cl[1].text == "dW = (a + b)ᵀ·d((a + b)·W)");
    CHECK(cl[1].shapes == "[3×2]·[2×4] → [3×4]");
}
