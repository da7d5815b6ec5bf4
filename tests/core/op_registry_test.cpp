// The op registry and the drift check: every registered op's rule names exactly the inputs its backward
// delivers to, and its example passes gradcheck; check_op catches each way a rule and an op can disagree;
// formulas are filled in with parentheses where they are needed; user ops register like built-ins.
#include <set>
#include <source_location>
#include <string>
#include <vector>

#include "support.hpp"

namespace {
using Catch::Matchers::Contains;
using xgrad::test::message_of;
using M = xgrad::matrix<double>;
using V = xgrad::var<double>;

template <class Op>
V record(std::initializer_list<V> inputs) {
    return xgrad::apply<Op>(inputs, std::source_location::current());
}

// ------------------------------------------------------------------ ops that disagree with their rules

/// Y = A + 2B, delivering to both inputs, while the rule has a clause for A only — the drift the four loss
/// ops had (their rules named the prediction's gradient, not the target's).
struct unstated_input_op final : xgrad::op<double> {
    static constexpr xgrad::op_rule rule{.name = "unstated_input", .gradients = {{0, "{dy}"}}};
    const xgrad::op_rule* describe() const override { return &rule; }
    void forward(xgrad::forward_context<double>& ctx) override {
        ctx.expect_same_shape(0, 1);
        ctx.output(ctx.input_shape(0)) = ctx.input(0) + 2.0 * ctx.input(1);
    }
    void backward(xgrad::backward_context<double>& ctx) override {
        if (ctx.needs_grad(0)) ctx.accumulate(0, ctx.grad_output());
        if (ctx.needs_grad(1)) ctx.accumulate(1, 2.0 * ctx.grad_output());
    }
};

/// Y = A ⊙ C with a rule for both inputs, recorded by its example with C a constant: the clause for C
/// describes a gradient that is never delivered.
struct ghost_clause_op final : xgrad::op<double> {
    static constexpr xgrad::op_rule rule{.name = "ghost_clause",
                                         .forward = "{x0:product} ⊙ {x1}",
                                         .binds = xgrad::binding::product,
                                         .gradients = {{0, "{dy} ⊙ {x1}"}, {1, "{dy} ⊙ {x0}"}}};
    const xgrad::op_rule* describe() const override { return &rule; }
    void forward(xgrad::forward_context<double>& ctx) override {
        ctx.expect_same_shape(0, 1);
        ctx.output(ctx.input_shape(0)) = ctx.input(0) * ctx.input(1);
    }
    void backward(xgrad::backward_context<double>& ctx) override {
        if (ctx.needs_grad(0)) ctx.accumulate(0, ctx.grad_output() * ctx.input(1));
        if (ctx.needs_grad(1)) ctx.accumulate(1, ctx.grad_output() * ctx.input(0));
    }
};

/// Y = A², whose rule is right but whose backward forgets the factor 2: only gradcheck can tell.
struct wrong_gradient_op final : xgrad::unary_op<double, wrong_gradient_op> {
    static constexpr xgrad::op_rule rule{.name = "wrong_gradient", .gradients = {{0, "2·{x0} ⊙ {dy}"}}};
    double f(double x) const { return x * x; }
    double df(double x, double) const { return x; }
};

/// A rule whose formulas name tensors the op does not have.
struct bad_formula_op final : xgrad::unary_op<double, bad_formula_op> {
    static constexpr xgrad::op_rule rule{.name = "bad_formula",
                                         .forward = "f({x0:whatever})",
                                         .gradients = {{0, "{dy} ⊙ {x1} ⊙ {z}"}, {0, "{dy}"}, {2, "{dy}"}}};
    double f(double x) const { return x; }
    double df(double, double) const { return 1; }
};

xgrad::op_entry entry_of(const xgrad::op_rule* rule, xgrad::op_example example) {
    return {.rule = rule, .family = "test", .example = example};
}

// ------------------------------------------------------------------ a user's loss with a label input

/// Multiclass hinge loss Lⱼ = Σ_{i≠yⱼ} max(0, zᵢ − z_y + 1) through label_loss_op.
template <class T>
struct hinge_op final : xgrad::label_loss_op<T, hinge_op<T>> {
    static constexpr xgrad::op_rule rule{.name = "test_hinge",
                                         .gradients = {{0, "([margin > 0] − 1_y·count)/m"}}};
    T loss(xgrad::column_view<const T> z, std::size_t y, xgrad::column_view<T> dz) const {
        T sum = 0;
        for (std::size_t i = 0; i < z.size(); ++i) {
            const T margin = z[i] - z[y] + 1;
            if (i != y && margin > 0) {
                sum += margin;
                dz[i] += 1;
                dz[y] -= 1;
            }
        }
        return sum;
    }
    static V example(xgrad::example_inputs& in) {
        // scores spread over [−3, 3], so most margins are away from the kink at 0
        return xgrad::apply<hinge_op<double>>({in.variable(4, 6, -3.0, 3.0), in.constant(in.labels(4, 6))},
                                              std::source_location::current());
    }
};

template <class T>
xgrad::var<T> hinge(const xgrad::var<T>& z, const xgrad::var<T>& y,
                    std::source_location loc = std::source_location::current()) {
    return xgrad::apply<hinge_op<T>>({z, y}, loc);
}

/// softplus through unary_op, registered at start-up like a user's op.
template <class T>
struct test_softplus_op final : xgrad::unary_op<T, test_softplus_op<T>> {
    static constexpr xgrad::op_rule rule{.name = "test_softplus", .gradients = {{0, "{dy} ⊙ σ({x0})"}}};
    static V example(xgrad::example_inputs& in) {
        return xgrad::apply<test_softplus_op<double>>({in.variable(3, 4, -5.0, 5.0)},
                                                      std::source_location::current());
    }
    T f(T x) const { return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x))); }
    T df(T x, T) const { return T(1) / (T(1) + std::exp(-x)); }
};

}  // namespace

XGRAD_REGISTER_OPS("test", test_softplus_op, hinge_op)

// ------------------------------------------------------------------ every registered op

TEST_CASE(
    "op registry: every registered op delivers gradients to exactly the inputs its rule names, and "
    "passes gradcheck",
    "[registry]") {
    const auto entries = xgrad::op_registry::global().entries();
    std::size_t checked = 0;
    for (const xgrad::op_entry& e : entries) {
        const auto r = xgrad::check_op(e);
        INFO(r.report);
        CHECK(r.ok);
        checked += r.ok;
    }
    CHECK(checked == entries.size());
}

TEST_CASE("op registry: every built-in op is registered, in its family", "[registry]") {
    const std::vector<std::pair<std::string, std::vector<std::string>>> families{
        {"linalg", {"matmul", "transpose", "add_bias", "linear"}},
        {"elementwise",
         {"add", "sub", "mul", "div", "neg", "add_scalar", "mul_scalar", "rsub_scalar", "rdiv_scalar", "exp",
          "log", "xlogy", "square", "pow"}},
        {"reduction", {"sum", "mean"}},
        {"activation", {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu"}},
        {"softmax", {"softmax", "log_softmax"}},
        {"loss",
         {"softmax_cross_entropy", "cross_entropy", "bce_with_logits", "binary_cross_entropy", "mse"}}};
    const auto& registry = xgrad::op_registry::global();
    for (const auto& [family, names] : families) {
        for (const auto& name : names) {
            INFO(family << " " << name);
            const xgrad::op_entry* e = registry.find(name);
            REQUIRE(e != nullptr);
            CHECK(e->family == family);
            CHECK((e->rule != nullptr) == (name != "cross_entropy"));  // cross_entropy is composed of ops
        }
    }
    // The ops the library records are the ones registered: a graph through every family names only them.
    xgrad::graph<double> g;
    auto x = g.variable(M({3, 4}, 0.5), "x");
    auto L = xgrad::mse(xgrad::softmax(xgrad::sigmoid(xgrad::matmul(g.variable(M({3, 3}, 0.1)), x) + 1.0)),
                        g.constant(M({3, 4}, 0.2)));
    for (std::uint32_t i = 0; i <= L.id(); ++i) {
        const auto info = g.info(i);
        if (info.inputs.empty()) continue;
        INFO(info.op);
        CHECK(registry.find(info.op) != nullptr);
        CHECK(info.rule == registry.find(info.op)->rule);  // the tape's rule is the registered one
    }
}

// ------------------------------------------------------------------ check_op catches drift

TEST_CASE("op registry: check_op fails when backward delivers a gradient the rule does not state",
          "[registry]") {
    const auto r = xgrad::check_op(entry_of(&unstated_input_op::rule, [](xgrad::example_inputs& in) {
        return record<unstated_input_op>({in.variable(2, 3), in.variable(2, 3)});
    }));
    INFO(r.report);
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.report, Contains("backward delivered gradients to x0, x1 but the rule has clauses for x0"));
}

TEST_CASE("op registry: check_op fails when the rule states a gradient backward does not deliver",
          "[registry]") {
    const auto r = xgrad::check_op(entry_of(&ghost_clause_op::rule, [](xgrad::example_inputs& in) {
        return record<ghost_clause_op>({in.variable(2, 3), in.constant(in.uniform(2, 3))});
    }));
    INFO(r.report);
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.report, Contains("backward delivered gradients to x0 but the rule has clauses for x0, x1"));
    // with both inputs variables the same op passes
    const auto both = xgrad::check_op(entry_of(&ghost_clause_op::rule, [](xgrad::example_inputs& in) {
        return record<ghost_clause_op>({in.variable(2, 3), in.variable(2, 3)});
    }));
    INFO(both.report);
    CHECK(both.ok);
}

TEST_CASE("op registry: check_op fails when the gradient is wrong although the rule's inputs match",
          "[registry]") {
    const auto r = xgrad::check_op(entry_of(&wrong_gradient_op::rule, [](xgrad::example_inputs& in) {
        return record<wrong_gradient_op>({in.variable(2, 3, 0.5, 2.0)});
    }));
    INFO(r.report);
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.report, Contains("gradcheck failed"));
    CHECK_THAT(r.report, Contains("gradients delivered to x0, rule clauses for x0"));
}

TEST_CASE("op registry: check_op fails on square inputs, on an example of another op and on bad formulas",
          "[registry]") {
    const auto square = xgrad::check_op(entry_of(&ghost_clause_op::rule, [](xgrad::example_inputs& in) {
        return record<ghost_clause_op>({in.variable(3, 3), in.variable(3, 3)});
    }));
    INFO(square.report);
    CHECK_FALSE(square.ok);
    CHECK_THAT(square.report, Contains("is square ([3×3])"));

    const auto other = xgrad::check_op(entry_of(&ghost_clause_op::rule, [](xgrad::example_inputs& in) {
        return xgrad::sum(record<ghost_clause_op>({in.variable(2, 3), in.variable(2, 3)}));
    }));
    INFO(other.report);
    CHECK_FALSE(other.ok);
    CHECK_THAT(other.report, Contains("made by 'sum'"));

    const auto bad = xgrad::check_op(entry_of(&bad_formula_op::rule, [](xgrad::example_inputs& in) {
        return record<bad_formula_op>({in.variable(2, 3)});
    }));
    INFO(bad.report);
    CHECK_FALSE(bad.ok);
    CHECK_THAT(bad.report, Contains("{x0:whatever}"));
    CHECK_THAT(bad.report, Contains("{x1} names no tensor of an op with 1 input"));
    CHECK_THAT(bad.report, Contains("{z} names no tensor"));
    CHECK_THAT(bad.report, Contains("the clause for x0: given twice"));
    CHECK_THAT(bad.report, Contains("the clause for x2: the op has 1 input"));
}

TEST_CASE("op registry: rule_problems accepts every placeholder form", "[registry]") {
    constexpr xgrad::op_rule good{
        .name = "good",
        .forward = "{x0:product}·{x1} + {x2:sum}",
        .gradients = {
            {0, "{dy}·{x1}ᵀ", "{y}·{x1ᵀ} → {x0}"}, {1, "{x0:any}ᵀ·{dy}"}, {2, "Σ_columns {dy} ⊙ {y}"}}};
    CHECK(xgrad::rule_problems(good, 3).empty());
    const auto two = xgrad::rule_problems(good, 2);  // the same rule for an op with two inputs
    REQUIRE(two.size() == 2);
    CHECK_THAT(two[0], Contains("forward: {x2:sum} names no tensor"));
    CHECK_THAT(two[1], Contains("the clause for x2: the op has 2 inputs"));
    constexpr xgrad::op_rule transposed_placeholder{.name = "t", .gradients = {{0, "{x0ᵀ}"}}};
    const auto t = xgrad::rule_problems(transposed_placeholder, 1);
    REQUIRE(t.size() == 1);
    CHECK_THAT(t[0], Contains("ᵀ inside braces is for shape templates"));
}

// ------------------------------------------------------------------ filling in formulas

TEST_CASE("op registry: fill_formula puts names in, with parentheses where a name binds too loosely",
          "[registry]") {
    using xgrad::binding;
    xgrad::formula_names n;
    n.output = {"Y", binding::atom};
    n.inputs = {{"A + B", binding::sum}, {"C·D", binding::product}, {"x y", binding::loose}};
    n.output_grad = "dY";
    CHECK(xgrad::fill_formula("{x0}ᵀ", n) == "(A + B)ᵀ");
    CHECK(xgrad::fill_formula("{x0:sum} − {x1:product}", n) == "A + B − C·D");
    CHECK(xgrad::fill_formula("{x1:sum} − {x0:product}", n) == "C·D − (A + B)");
    CHECK(xgrad::fill_formula("σ({x0:any}) ⊙ {x2}", n) == "σ(A + B) ⊙ (x y)");
    CHECK(xgrad::fill_formula("f({x2:any})", n) == "f(x y)");
    CHECK(xgrad::fill_formula("{dy} ⊙ {y}(1 − {y})", n) == "dY ⊙ Y(1 − Y)");
    CHECK(xgrad::fill_formula("{x5} {q} {x0:nonsense}", n) == "{x5} {q} {x0:nonsense}");  // left as written
    CHECK(xgrad::fill_formula("no placeholder {", n) == "no placeholder {");
    xgrad::formula_names shapes;
    shapes.output = {"[1×5]"};
    shapes.inputs = {{"[1×4]"}, {"[4×5]"}};
    CHECK(xgrad::fill_formula("{y}·{x1ᵀ} → {x0}", shapes) == "[1×5]·[5×4] → [1×4]");
    shapes.inputs[1].text = "[n×m]";
    CHECK(xgrad::fill_formula("{x1ᵀ}", shapes) == "[m×n]");
}

// ------------------------------------------------------------------ registering

TEST_CASE("op registry: adding the same op twice does nothing, another op of the same name throws",
          "[registry]") {
    xgrad::op_registry r;
    const xgrad::op_example ex = [](xgrad::example_inputs& in) {
        return record<ghost_clause_op>({in.variable(2, 3), in.variable(2, 3)});
    };
    r.add(entry_of(&ghost_clause_op::rule, ex));
    r.add(entry_of(&ghost_clause_op::rule, ex));
    CHECK(r.entries().size() == 1);
    CHECK(r.find("ghost_clause") != nullptr);
    CHECK(r.find("nothing") == nullptr);
    static constexpr xgrad::op_rule same_name{.name = "ghost_clause", .gradients = {{0, "{dy}"}}};
    CHECK_THAT(message_of<xgrad::error>([&] { r.add(entry_of(&same_name, ex)); }),
               Contains("'ghost_clause' is already registered (family 'test')"));
    CHECK_THAT(message_of<xgrad::error>([&] { r.add(entry_of(&unstated_input_op::rule, nullptr)); }),
               Contains("'unstated_input' has no example"));
    CHECK_THAT(message_of<xgrad::error>([&] { r.add(xgrad::op_entry{.family = "test", .example = ex}); }),
               Contains("needs a rule with a name"));
    CHECK(r.entries().size() == 1);
}

TEST_CASE("op registry: user ops registered with XGRAD_REGISTER_OPS are checked like built-ins",
          "[registry]") {
    const xgrad::op_entry* softplus = xgrad::op_registry::global().find("test_softplus");
    REQUIRE(softplus != nullptr);
    CHECK(softplus->family == "test");
    const auto r = xgrad::check_op(*softplus);
    INFO(r.report);
    CHECK(r.ok);
    const xgrad::op_entry* h = xgrad::op_registry::global().find("test_hinge");
    REQUIRE(h != nullptr);
    const auto rh = xgrad::check_op(*h);
    INFO(rh.report);
    CHECK(rh.ok);
    CHECK_THAT(rh.report, Contains("gradients delivered to x0, rule clauses for x0"));  // labels: none
}

// ------------------------------------------------------------------ label_loss_op

TEST_CASE("label_loss_op: the hinge loss's value, its mean over the examples and its gradient",
          "[registry]") {
    xgrad::graph<double> g;
    // two examples, three classes: column 0 has label 0, column 1 label 2
    auto z = g.variable(M{{2.0, 0.0}, {1.5, 1.0}, {0.0, 0.5}}, "Z");
    auto y = g.constant(M{{0.0, 2.0}}, "Y");
    auto C = hinge(z, y);
    // column 0: margins 1.5 − 2 + 1 = 0.5 (row 1), 0 − 2 + 1 = −1 (row 2) → L = 0.5
    // column 1: margins 0 − 0.5 + 1 = 0.5 (row 0), 1 − 0.5 + 1 = 1.5 (row 1) → L = 2
    CHECK(C.item() == Approx((0.5 + 2.0) / 2));
    g.backward(C);
    XGRAD_REQUIRE_CLOSE(z.grad(), M({{-0.5, 0.5}, {0.5, 0.5}, {0.0, -1.0}}), 1e-15, 0.0);
    CHECK_FALSE(g.info(y.id()).has_grad);
}

TEST_CASE("label_loss_op: bad labels are errors that name the op, the label and the caller", "[registry]") {
    xgrad::graph<double> g;
    auto z = g.variable(M({3, 2}, 0.5), "Z");
    std::uint_least32_t line = 0;
    const std::string out_of_range = message_of<xgrad::shape_error>([&] {
        (void)(line = __LINE__, hinge(z, g.constant(M{{0.0, 3.0}}, "Y")));
    });
    CHECK_THAT(out_of_range, Contains("test_hinge: label 3 of example 1 is not a class index in [0, 3)"));
    CHECK_THAT(out_of_range, Contains("op_registry_test.cpp:" + std::to_string(line)));
    CHECK_THAT(message_of<xgrad::shape_error>([&] {
                   (void)hinge(z, g.constant(M{{0.5, 1.0}}, "Y"));
               }),
               Contains("label 0.5 of example 0"));
    CHECK_THAT(message_of<xgrad::shape_error>([&] {
                   (void)hinge(z, g.constant(M{{0.0, 1.0, 2.0}}, "Y"));
               }),
               Contains("the labels 'Y' are [1×3] but must be a [1×2] row"));
    CHECK_THAT(message_of<xgrad::shape_error>([&] {
                   (void)hinge(z, g.variable(M{{0.0, 1.0}}, "Y"));
               }),
               Contains("labels cannot require a gradient"));
    const std::size_t before = g.size();
    CHECK_THROWS_AS(hinge(z, g.constant(M{{0.0, -1.0}})), xgrad::shape_error);
    CHECK(g.size() == before + 1);  // the constant; the failed op left no node
}
