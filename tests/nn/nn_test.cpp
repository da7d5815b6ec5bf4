#include <limits>
#include <string>

#include "support.hpp"

#include <xgrad/init.hpp>
#include <xgrad/nn.hpp>

using xgrad::matrix;

TEST_CASE("nn: sequential names parameters like PyTorch", "[nn]") {
    xgrad::rng g(1);
    auto net = xgrad::nn::mlp<double>({4, 3, 2}, xgrad::nn::activation_kind::relu, g);
    auto named = net->named_parameters();
    REQUIRE(named.size() == 4);
    CHECK(named[0].first == "0.weight");
    CHECK(named[1].first == "0.bias");
    CHECK(named[2].first == "2.weight");
    CHECK(named[3].first == "2.bias");
    CHECK(named[0].second->shape() == xgrad::shape2{3, 4});  // W is units × inputs
    CHECK(named[1].second->shape() == xgrad::shape2{3, 1});  // b is units × 1
    CHECK(net->parameter_count() == 3 * 4 + 3 + 2 * 3 + 2);
    CHECK(net->describe() == "linear(4 → 3) → relu → linear(3 → 2)");
}

namespace {
struct two_layer : xgrad::nn::module<double> {
    xgrad::nn::linear<double> l1, l2;
    explicit two_layer(xgrad::rng& g) : l1(2, 5, g), l2(5, 1, g) {
        add_module("hidden", l1);
        add_module("out", l2);
    }
    xgrad::var<double> forward(const xgrad::var<double>& x) override { return l2(xgrad::tanh(l1(x))); }
};
}  // namespace

TEST_CASE("nn: a user module in a few lines, gradients equal a gradcheck of the same function", "[nn]") {
    xgrad::rng g(3);
    two_layer net(g);
    auto named = net.named_parameters();
    REQUIRE(named.size() == 4);
    CHECK(named[0].first == "hidden.weight");
    CHECK(named[3].first == "out.bias");

    const matrix<double> X = xgrad::test::random_matrix(2, 7, 11);
    const matrix<double> Y = xgrad::test::random_matrix(1, 7, 12);
    xgrad::graph<double> gr;
    auto loss = xgrad::mse(net(gr.constant(X)), gr.constant(Y));
    gr.backward(loss);

    // Same function with the parameters as gradcheck inputs.
    std::vector<matrix<double>> inputs;
    for (auto& [name, p] : named) inputs.push_back(p->value());
    auto r = xgrad::gradcheck(
        [&](auto v) {
            auto& h = v[0].owner();
            auto x = h.constant(X);
            auto a1 = xgrad::add_bias(xgrad::matmul(v[0], x), v[1]);
            auto a2 = xgrad::add_bias(xgrad::matmul(v[2], xgrad::tanh(a1)), v[3]);
            return xgrad::mse(a2, h.constant(Y));
        },
        inputs);
    INFO(r.report);
    REQUIRE(r.ok);
}

namespace {
// A module of its own with a parameter, a buffer and a child, and ways to add a second tensor by a name.
struct with_state : xgrad::nn::module<double> {
    xgrad::nn::linear<double> inner;
    explicit with_state(xgrad::rng& g) : inner(2, 3, g) {
        add_parameter("scale", matrix<double>({3, 1}, 1.0));
        add_buffer("count", matrix<double>({1, 1}, 0.0));
        add_module("inner", inner);
    }
    void another_parameter(const std::string& name) { add_parameter(name, matrix<double>({1, 1}, 0.0)); }
    void another_buffer(const std::string& name) { add_buffer(name, matrix<double>({1, 1}, 0.0)); }
    xgrad::var<double> forward(const xgrad::var<double>& x) override { return inner(x); }
};
}  // namespace

TEST_CASE("nn: parameters and buffers are listed children first, and a name used twice is refused", "[nn]") {
    xgrad::rng g(5);
    with_state m(g);
    const auto params = m.named_parameters();
    REQUIRE(params.size() == 3);
    CHECK(params[0].first == "inner.weight");
    CHECK(params[1].first == "inner.bias");
    CHECK(params[2].first == "scale");
    CHECK(params[2].second->shape() == xgrad::shape2{3, 1});
    const auto buffers = m.named_buffers();
    REQUIRE(buffers.size() == 1);
    CHECK(buffers[0].first == "count");
    CHECK(m.named_state().size() == 4);

    CHECK_THROWS_AS(m.another_parameter("scale"), xgrad::argument_error);
    CHECK_THROWS_WITH(m.another_parameter("scale"),
                      Catch::Contains("module: a parameter named 'scale' already exists"));
    CHECK_THROWS_AS(m.another_buffer("count"), xgrad::argument_error);
    CHECK_THROWS_WITH(m.another_buffer("count"),
                      Catch::Contains("module: a buffer named 'count' already exists"));
    // A parameter and a buffer are separate lists; the refused names left both lists as they were.
    CHECK_NOTHROW(m.another_buffer("scale"));
    CHECK(m.named_parameters().size() == 3);
    CHECK(m.named_buffers().size() == 2);
}

TEST_CASE("nn: parameters outlive graphs and accumulate until zero_grad", "[nn]") {
    xgrad::rng g(5);
    xgrad::nn::linear<double> lin(3, 2, g);
    const matrix<double> X = xgrad::test::random_matrix(3, 4, 6);
    auto run = [&] {
        xgrad::graph<double> gr;
        gr.backward(xgrad::sum(lin(gr.constant(X))));
    };
    run();
    const matrix<double> once = lin.weight().grad();
    run();
    XGRAD_REQUIRE_CLOSE(lin.weight().grad(), matrix<double>(2.0 * once), 1e-15, 0.0);
    lin.zero_grad();
    CHECK_FALSE(lin.weight().has_grad());
    CHECK(xt::all(xt::equal(lin.weight().grad(), 0.0)));
}

TEST_CASE("nn: initializers have the documented ranges and spreads, and the same seed gives the same weights",
          "[nn][init]") {
    xgrad::rng a(42), b(42);
    matrix<double> w1({200, 300}), w2({200, 300});
    xgrad::init::xavier_uniform(w1, a);
    xgrad::init::xavier_uniform(w2, b);
    CHECK(xt::all(xt::equal(w1, w2)));
    const double lim = std::sqrt(6.0 / 500.0);
    CHECK(xt::amax(xt::abs(w1))() <= lim);
    // Variance of U(−a, a) is a²/3.
    const double var = xt::mean(w1 * w1)();
    CHECK(var == Approx(lim * lim / 3).epsilon(0.02));

    xgrad::init::he_normal(w1, a);
    CHECK(xt::mean(w1)() == Approx(0.0).margin(0.01));
    CHECK(std::sqrt(xt::mean(w1 * w1)()) == Approx(std::sqrt(2.0 / 300)).epsilon(0.02));
    xgrad::init::he_uniform(w1, a);
    CHECK(xt::amax(xt::abs(w1))() <= std::sqrt(6.0 / 300));
    xgrad::init::xavier_normal(w1, a);
    CHECK(std::sqrt(xt::mean(w1 * w1)()) == Approx(std::sqrt(2.0 / 500)).epsilon(0.02));
    xgrad::init::constant(w1, 0.25);
    CHECK(xt::all(xt::equal(w1, 0.25)));

    xgrad::rng c(43);
    matrix<double> w3({200, 300});
    xgrad::init::xavier_uniform(w3, c);
    CHECK_FALSE(xt::all(xt::equal(w3, w2)));
}

// The module used to replace any negative parameter by the default (activation(leaky_relu, −0.5) ran with
// slope 0.01) while the op refuses it: the module now checks the parameter it is given, with the op's
// message, when it is constructed (as argument_error, like every module argument and the op's own check).
TEST_CASE("nn: activation modules refuse an invalid parameter with the op's message, and use a valid one",
          "[nn]") {
    using xgrad::nn::activation_kind;
    using xgrad::test::message_of;
    xgrad::graph<double> g;
    auto x = g.constant(matrix<double>{{-2.0, 0.5}}, "A");
    const auto head = [](const std::string& m) { return m.substr(0, m.find(" (called at")); };
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (const double f : {-0.5, -1.0, 1.0, 1.5, nan}) {
        INFO("leaky_relu slope " << f);
        const std::string op = message_of<xgrad::argument_error>([&] { (void)xgrad::leaky_relu(x, f); });
        const std::string module = message_of<xgrad::argument_error>(
            [&] { xgrad::nn::activation<double> a(activation_kind::leaky_relu, f); });
        CHECK(head(module) == head(op));
        CHECK_THAT(module, Catch::Contains("leaky_relu: slope"));
    }
    for (const double alpha : {-1.0, 0.0, nan}) {
        INFO("elu alpha " << alpha);
        const std::string op = message_of<xgrad::argument_error>([&] { (void)xgrad::elu(x, alpha); });
        const std::string module = message_of<xgrad::argument_error>(
            [&] { xgrad::nn::activation<double> a(activation_kind::elu, alpha); });
        CHECK(head(module) == head(op));
        CHECK_THAT(module, Catch::Contains("elu: alpha"));
    }
    // a parameter given to an activation that has none is not silently ignored
    for (const auto kind :
         {activation_kind::sigmoid, activation_kind::tanh, activation_kind::relu, activation_kind::selu}) {
        INFO(xgrad::nn::to_string(kind));
        CHECK_THAT(message_of<xgrad::argument_error>([&] { xgrad::nn::activation<double> a(kind, 0.5); }),
                   Catch::Contains(std::string(xgrad::nn::to_string(kind))) &&
                       Catch::Contains("takes no parameter"));
    }
    // valid parameters are used as given, including the edges 0 (leaky_relu) and just below 1
    for (const double f : {0.0, 0.2, 0.99}) {
        xgrad::nn::activation<double> lr(activation_kind::leaky_relu, f);
        CHECK(lr(x).value()(0, 0) == xgrad::leaky_relu(x, f).value()(0, 0));
        CHECK(lr(x).value()(0, 0) == -2.0 * f);
    }
    xgrad::nn::activation<double> el(activation_kind::elu, 0.3);
    CHECK(el(x).value()(0, 0) == xgrad::elu(x, 0.3).value()(0, 0));
}

TEST_CASE("nn: activation modules apply their op, unknown names are rejected with the list", "[nn]") {
    using xgrad::nn::activation_kind;
    for (auto name : {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu"}) {
        CHECK(xgrad::nn::to_string(xgrad::nn::parse_activation(name)) == name);
    }
    REQUIRE_THROWS_WITH(xgrad::nn::parse_activation("gelu"), Catch::Contains("sigmoid, tanh, relu"));
    xgrad::graph<double> g;
    matrix<double> a = {{-2.0, 0.5}};
    auto x = g.constant(a);
    xgrad::nn::activation<double> lr(activation_kind::leaky_relu);
    CHECK(lr(x).value()(0, 0) == Approx(-0.02));
    xgrad::nn::activation<double> el(activation_kind::elu, 2.0);
    CHECK(el(x).value()(0, 0) == Approx(2.0 * std::expm1(-2.0)));
}

TEST_CASE("nn: an op failing inside a module names the module's caller, and node order is W, b, then the op",
          "[nn]") {
    xgrad::rng g(3);
    auto net = xgrad::nn::mlp<double>({2, 4, 3}, xgrad::nn::activation_kind::tanh, g);
    xgrad::graph<double> gr;
    const auto x = gr.constant(matrix<double>(xgrad::shape2{3, 5}, 0.5));  // 3 features for a 2-input model
    std::string message;
    const int line = __LINE__ + 2;
    try {
        (*net)(x);
    } catch (const xgrad::shape_error& e) {
        message = e.what();
    }
    INFO(message);
    CHECK(message.find("linear: inner dimensions differ") == 0);
    CHECK(message.find("called at core/nn.cpp:") != std::string::npos);
    CHECK(message.find(", from nn/nn_test.cpp:" + std::to_string(line) + ")") != std::string::npos);
    // Outside the module call, no caller is added.
    CHECK_THROWS_WITH(xgrad::matmul(x, x),
                      Catch::Contains("(called at nn/nn_test.cpp:") && !Catch::Contains(", from"));

    // nn::linear records W's leaf, then b's, then the op: the same node ids with every compiler.
    xgrad::graph<double> g2;
    const auto x2 = g2.constant(matrix<double>(xgrad::shape2{2, 5}, 0.5));
    (*net)(x2);
    REQUIRE(g2.size() >= 4);
    CHECK(g2.info(1).name == "0.weight");
    CHECK(g2.info(2).name == "0.bias");
}
