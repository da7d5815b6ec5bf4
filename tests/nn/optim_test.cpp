// Optimizer updates against values computed by hand in the test (formulas written out element by element).
#include <memory>
#include <string>
#include <vector>

#include "support.hpp"

#include <xgrad/optim.hpp>

using xgrad::matrix;

namespace {
// One parameter w with a fixed gradient g per step: the loss L = Σ g ⊙ w gives dL/dw = g exactly.
// p's gradient becomes exactly g: the gradient of Σ P ⊙ G with respect to P.
template <class T>
void set_grad(xgrad::parameter<T>& p, const matrix<T>& g) {
    xgrad::graph<T> gr;
    p.zero_grad();
    gr.backward(xgrad::sum(xgrad::mul(gr.param(p), gr.constant(g))));
}
const matrix<double> w0 = {{0.5, -1.0, 2.0}};
const matrix<double> g1 = {{0.1, -0.2, 0.3}};
const matrix<double> g2 = {{-0.4, 0.05, 0.6}};
}  // namespace

TEST_CASE("optim: sgd is the slide's W = W − α·dW, with weight decay", "[optim]") {
    xgrad::parameter<double> p(w0, "w");
    xgrad::optim::sgd<double> opt({&p}, 0.1, 0.0, false, 0.01);
    set_grad(p, g1);
    opt.step();
    for (std::size_t i = 0; i < 3; ++i)
        CHECK(p.value()(0, i) == Approx(w0(0, i) - 0.1 * (g1(0, i) + 0.01 * w0(0, i))).epsilon(1e-14));
}

TEST_CASE(
    "optim: plain sgd moves every parameter by −α·dW in float, skips one without a gradient, and refuses "
    "a resized one before writing any",
    "[optim]") {
    // sizes 1, 3, 9, 17: the update loop's scalar tail, one vector and several
    std::vector<std::unique_ptr<xgrad::parameter<float>>> ps;
    std::vector<xgrad::parameter<float>*> ptrs;
    std::vector<matrix<float>> grads, before;
    std::uint64_t seed = 40;
    for (std::size_t n : {1, 3, 9, 17}) {
        ps.push_back(std::make_unique<xgrad::parameter<float>>(
            xgrad::test::random_matrix<float>(1, n, seed++), "p" + std::to_string(n)));
        ptrs.push_back(ps.back().get());
        grads.push_back(xgrad::test::random_matrix<float>(1, n, seed++));
    }
    xgrad::parameter<float> idle(xgrad::test::random_matrix<float>(2, 2, seed++), "idle");  // no gradient
    ptrs.insert(ptrs.begin() + 2, &idle);
    xgrad::optim::sgd<float> opt(ptrs, 0.25f);
    for (int step = 0; step < 2; ++step) {
        before.clear();
        for (std::size_t k = 0; k < ps.size(); ++k) {
            set_grad(*ps[k], grads[k]);
            before.push_back(ps[k]->value());
        }
        const matrix<float> idle_before = idle.value();
        opt.step();
        for (std::size_t k = 0; k < ps.size(); ++k) {
            for (std::size_t i = 0; i < grads[k].size(); ++i) {
                const float want = before[k].data()[i] - 0.25f * grads[k].data()[i];
                CHECK(ps[k]->value().data()[i] == want);
            }
        }
        CHECK(xt::all(xt::equal(idle.value(), idle_before)));
    }
    // the last parameter resized: refused by name, and the first ones are not updated either
    const matrix<float> first = ps[0]->value();
    ps[3]->value() = matrix<float>({1, 4}, 1.0f);
    set_grad(*ps[0], grads[0]);
    set_grad(*ps[3], matrix<float>({1, 4}, 0.5f));
    CHECK_THROWS_WITH(opt.step(), Catch::Matchers::Contains("'p17' has 4 elements but had 17"));
    CHECK(xt::all(xt::equal(ps[0]->value(), first)));
}

TEST_CASE("optim: momentum and Nesterov over two steps", "[optim]") {
    for (bool nesterov : {false, true}) {
        xgrad::parameter<double> p(w0, "w");
        xgrad::optim::sgd<double> opt({&p}, 0.1, 0.9, nesterov);
        CHECK(opt.name() == (nesterov ? "nesterov" : "momentum"));
        set_grad(p, g1);
        opt.step();
        set_grad(p, g2);
        opt.step();
        for (std::size_t i = 0; i < 3; ++i) {
            double w = w0(0, i), v = 0;
            for (double g : {g1(0, i), g2(0, i)}) {
                v = 0.9 * v + g;
                w -= 0.1 * (nesterov ? g + 0.9 * v : v);
            }
            CHECK(p.value()(0, i) == Approx(w).epsilon(1e-14));
        }
    }
}

TEST_CASE("optim: Adam and AdamW over two steps", "[optim]") {
    for (bool decoupled : {false, true}) {
        xgrad::parameter<double> p(w0, "w");
        const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
        xgrad::optim::adam<double> opt({&p}, lr, b1, b2, eps, wd, decoupled);
        CHECK(opt.name() == (decoupled ? "adamw" : "adam"));
        set_grad(p, g1);
        opt.step();
        set_grad(p, g2);
        opt.step();
        for (std::size_t i = 0; i < 3; ++i) {
            double w = w0(0, i), m = 0, v = 0;
            int t = 0;
            for (double g0 : {g1(0, i), g2(0, i)}) {
                ++t;
                if (decoupled) w -= lr * wd * w;
                const double g = decoupled ? g0 : g0 + wd * w;
                m = b1 * m + (1 - b1) * g;
                v = b2 * v + (1 - b2) * g * g;
                const double mh = m / (1 - std::pow(b1, t)), vh = v / (1 - std::pow(b2, t));
                w -= lr * mh / (std::sqrt(vh) + eps);
            }
            CHECK(p.value()(0, i) == Approx(w).epsilon(1e-13));
        }
    }
}

TEST_CASE("optim: parameters without a gradient are left alone, bad hyper-parameters are rejected",
          "[optim]") {
    xgrad::parameter<double> p(w0, "w");
    xgrad::optim::adam<double> opt({&p});
    opt.step();
    CHECK(xt::all(xt::equal(p.value(), w0)));
    CHECK_THROWS_AS(xgrad::optim::sgd<double>({&p}, -0.1), xgrad::argument_error);
    CHECK_THROWS_AS(xgrad::optim::sgd<double>({&p}, 0.1, 1.5), xgrad::argument_error);
    CHECK_THROWS_AS(xgrad::optim::sgd<double>({&p}, 0.1, 0.0, true), xgrad::argument_error);
    CHECK_THROWS_AS(xgrad::optim::adam<double>({&p}, 0.1, 1.0), xgrad::argument_error);
    CHECK_THROWS_AS(opt.set_learning_rate(std::nan("")), xgrad::argument_error);
}

TEST_CASE("optim: Adam's vectorised update rounds exactly as the scalar formula, in float, bit for bit",
          "[optim]") {
    // 1003 elements (vector loops and their remainders) and two parameters; the reference is the formula
    // written out element by element in float, W − step·m/(√v·r₂ + ε) with step = α/(1 − β₁ᵗ) and
    // r₂ = 1/√(1 − β₂ᵗ) (this file is built for baseline x86-64: no FMA). A kernel
    // that contracted a·b + c into one rounding, or reordered, would differ in the last bits somewhere.
    for (bool decoupled : {false, true}) {
        const std::size_t n = 1003;
        auto w_a = xgrad::test::random_matrix<float>(1, n, 11),
             w_b = xgrad::test::random_matrix<float>(1, 5, 12);
        xgrad::parameter<float> a(w_a, "a"), b(w_b, "b");
        const float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.05f;
        xgrad::optim::adam<float> opt({&a, &b}, lr, b1, b2, eps, wd, decoupled);
        REQUIRE(opt.state_offset(0) == 0);
        REQUIRE(opt.state_offset(1) == n);
        REQUIRE(opt.state_offset(2) == n + 5);
        REQUIRE(opt.first_moment().size() == n + 5);
        std::vector<float> w(w_a.begin(), w_a.end()), m(n, 0.f), v(n, 0.f);
        for (int t = 1; t <= 3; ++t) {
            const auto g = xgrad::test::random_matrix<float>(1, n, 100 + static_cast<std::uint64_t>(t));
            set_grad(a, g);
            b.zero_grad();  // b gets no gradient: left alone, its moments stay 0
            opt.step();
            // The bias corrections as the optimizer hoists them (in double, rounded once to float).
            const float step =
                static_cast<float>(double(lr) / (1.0 - std::pow(double(b1), static_cast<double>(t))));
            const float r2 =
                static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(double(b2), static_cast<double>(t))));
            for (std::size_t i = 0; i < n; ++i) {
                float wi = w[i];
                if (decoupled) wi = wi - lr * wd * wi;
                const float gi = decoupled ? g(0, i) : g(0, i) + wd * wi;
                m[i] = b1 * m[i] + (1.f - b1) * gi;
                v[i] = b2 * v[i] + (1.f - b2) * gi * gi;
                w[i] = wi - step * m[i] / (std::sqrt(v[i]) * r2 + eps);
            }
        }
        for (std::size_t i = 0; i < n; ++i) {
            REQUIRE(a.value()(0, i) == w[i]);
            REQUIRE(opt.first_moment()[i] == m[i]);
            REQUIRE(opt.second_moment()[i] == v[i]);
        }
        CHECK(xt::all(xt::equal(b.value(), w_b)));
        CHECK(opt.first_moment()[n] == 0.f);
        CHECK(opt.steps() == 3);
    }
}

TEST_CASE("optim: a parameter whose size changed after the optimizer was made is refused by name",
          "[optim]") {
    xgrad::parameter<double> p(w0, "w");
    xgrad::optim::adam<double> opt({&p});
    set_grad(p, g1);
    opt.step();
    p.value() = matrix<double>({2, 3}, 1.0);
    set_grad(p, matrix<double>({2, 3}, 0.5));
    CHECK_THROWS_WITH(opt.step(), Catch::Matchers::Contains("'w' has 6 elements but had 3"));
    CHECK(opt.steps() == 1);  // the refused step did not count
}

TEST_CASE("optim: step and cosine schedules", "[optim]") {
    xgrad::optim::step_schedule s{0.1, 0.5, 2};
    CHECK(s(0) == Approx(0.1));
    CHECK(s(1) == Approx(0.1));
    CHECK(s(2) == Approx(0.05));
    CHECK(s(5) == Approx(0.025));
    xgrad::optim::cosine_schedule c{0.1, 0.001, 10};
    CHECK(c(0) == Approx(0.1));
    CHECK(c(5) == Approx(0.001 + 0.5 * 0.099));
    CHECK(c(10) == Approx(0.001));
    CHECK(c(20) == Approx(0.001));
}

TEST_CASE("optim: a seeded run trains the lecture's network on a generated set to a stated accuracy",
          "[optim][train]") {
    // Circle inside/outside, 2-8-2 tanh with softmax cross-entropy, Adam.
    xgrad::rng g(9);
    const std::size_t m = 256;
    matrix<double> X({2, m}), Y({1, m});
    for (std::size_t j = 0; j < m; ++j) {
        X(0, j) = g.uniform(-2, 2);
        X(1, j) = g.uniform(-2, 2);
        Y(0, j) = X(0, j) * X(0, j) + X(1, j) * X(1, j) < 1.5 ? 1 : 0;
    }
    auto net = xgrad::nn::mlp<double>({2, 8, 2}, xgrad::nn::activation_kind::tanh, g);
    xgrad::optim::adam<double> opt(net->parameters(), 0.05);
    xgrad::graph<double> gr;
    double acc = 0;
    for (int step = 0; step < 300; ++step) {
        gr.clear();
        opt.zero_grad();
        auto z = (*net)(gr.borrow(X));
        gr.backward(xgrad::softmax_cross_entropy(z, gr.borrow(Y)));
        opt.step();
        std::size_t ok = 0;
        for (std::size_t j = 0; j < m; ++j) ok += (z.value()(1, j) > z.value()(0, j)) == (Y(0, j) > 0.5);
        acc = double(ok) / m;
    }
    INFO("training accuracy " << acc);
    CHECK(acc >= 0.95);
}
