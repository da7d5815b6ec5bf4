// graph::capture and recording: a replayed step gives the eager step's values and gradients bit for bit
// (new inputs, parameter updates between steps, float and double, one example and several), refuses a graph
// that changed or a leaf whose shape changed before writing anything, draws fresh dropout masks, updates
// batch_norm's running statistics, calls the backward observer as an eager backward does, and recovers from
// a forward that threw.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using Catch::Matchers::Contains;
using xgrad::test::message_of;
using xgrad::test::random_matrix;

/// Same shape and the same bits in every element.
template <class T>
bool same_bits(const xgrad::matrix<T>& a, const xgrad::matrix<T>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

/// A snapshot of every node's value on the tape.
template <class T>
std::vector<xgrad::matrix<T>> tape_values(const xgrad::graph<T>& g) {
    std::vector<xgrad::matrix<T>> out;
    for (std::uint32_t id = 0; id < g.size(); ++id) out.push_back(g.value_of(id));
    return out;
}

enum class model_kind { sigmoid_bce, relu_softmax };

/// Targets for step `step` of a model: 0/1 for BCE (one output row), class indices for softmax CE.
template <class T>
xgrad::matrix<T> targets(model_kind kind, std::size_t classes, std::size_t m, std::size_t step) {
    xgrad::matrix<T> y({1, m});
    for (std::size_t j = 0; j < m; ++j) {
        const std::size_t c = (j * 7 + step * 3 + 1) % (kind == model_kind::sigmoid_bce ? 2 : classes);
        y(0, j) = static_cast<T>(c);
    }
    return y;
}

/// One of the two nets (same seed, same initial weights) with its optimizer.
template <class T>
struct trainer {
    std::unique_ptr<xgrad::nn::sequential<T>> net;
    std::unique_ptr<xgrad::optim::sgd<T>> opt;
    trainer(model_kind kind, const std::vector<std::size_t>& sizes) {
        xgrad::rng g(3);
        net = xgrad::nn::mlp<T>(sizes,
                                kind == model_kind::sigmoid_bce ? xgrad::nn::activation_kind::sigmoid
                                                                : xgrad::nn::activation_kind::relu,
                                g);
        opt = std::make_unique<xgrad::optim::sgd<T>>(net->parameters(), T(0.5), T(0.9));
    }
    xgrad::var<T> loss(model_kind kind, const xgrad::var<T>& x, const xgrad::var<T>& y) {
        const auto z = (*net)(x);
        return kind == model_kind::sigmoid_bce ? xgrad::bce_with_logits(z, y)
                                               : xgrad::softmax_cross_entropy(z, y);
    }
};

/// Trains the same net eagerly (recording every step) and by replay (recording once), with new inputs
/// every step — written in place, or as a new matrix assigned over the old one (a new buffer) — and
/// compares loss, every gradient and every updated parameter bit for bit after each step.
template <class T>
void check_replay_matches_eager(model_kind kind, std::size_t m) {
    const std::vector<std::size_t> sizes = kind == model_kind::sigmoid_bce
                                               ? std::vector<std::size_t>{3, 3, 1}
                                               : std::vector<std::size_t>{4, 6, 5, 3};
    const std::size_t classes = sizes.back();
    INFO("m = " << m << (kind == model_kind::sigmoid_bce ? ", sigmoid/BCE" : ", relu/softmax-CE"));
    trainer<T> eager(kind, sizes), replayed(kind, sizes);

    xgrad::matrix<T> x_e = random_matrix<T>(sizes.front(), m, 100), y_e = targets<T>(kind, classes, m, 0);
    xgrad::matrix<T> x_r = x_e, y_r = y_e;
    xgrad::graph<T> ge, gr;

    // The replayed net's step, recorded once (its forward is the first step's, replayed again below).
    auto loss_r = replayed.loss(kind, gr.borrow(x_r, "x"), gr.borrow(y_r, "y"));
    xgrad::recording<T> step = gr.capture(loss_r);
    CHECK(step.ops() > 0);

    for (std::size_t t = 0; t < 5; ++t) {
        INFO("step " << t);
        if (t > 0) {  // new inputs
            const xgrad::matrix<T> x_new = random_matrix<T>(sizes.front(), m, 100 + t);
            x_e = x_new;
            y_e = targets<T>(kind, classes, m, t);
            if (t % 2 == 0) {
                std::copy(x_new.begin(), x_new.end(), x_r.begin());  // in place
            } else {
                const T* before = x_r.data();
                x_r = xgrad::matrix<T>(x_new);  // a new buffer in the same matrix object
                CHECK(x_r.data() != before);
            }
            y_r = y_e;
        }
        ge.clear();
        eager.opt->zero_grad();
        auto loss_e = eager.loss(kind, ge.borrow(x_e, "x"), ge.borrow(y_e, "y"));
        ge.backward(loss_e);

        replayed.opt->zero_grad();
        step.run();

        CHECK(same_bits(loss_r.value(), loss_e.value()));
        CHECK(same_bits(step.root().value(), loss_e.value()));
        const auto pe = eager.net->parameters(), pr = replayed.net->parameters();
        REQUIRE(pe.size() == pr.size());
        for (std::size_t k = 0; k < pe.size(); ++k) {
            INFO("parameter " << k);
            CHECK(same_bits(pr[k]->grad(), pe[k]->grad()));
        }
        REQUIRE(gr.size() == ge.size());
        for (std::uint32_t id = 0; id < ge.size(); ++id) {
            INFO("node " << id);
            CHECK(same_bits(gr.value_of(id), ge.value_of(id)));
            CHECK(same_bits(gr.grad_of(id), ge.grad_of(id)));
        }
        eager.opt->step();
        replayed.opt->step();
        for (std::size_t k = 0; k < pe.size(); ++k) CHECK(same_bits(pr[k]->value(), pe[k]->value()));
    }
}

}  // namespace

TEMPLATE_TEST_CASE("replay: a sigmoid MLP with BCE trains bit for bit as eager recording (m = 1 and 4)",
                   "[replay]", float, double) {
    check_replay_matches_eager<TestType>(model_kind::sigmoid_bce, 4);
    check_replay_matches_eager<TestType>(model_kind::sigmoid_bce, 1);
}

TEMPLATE_TEST_CASE("replay: a relu MLP with softmax cross-entropy trains bit for bit as eager recording",
                   "[replay]", float, double) {
    check_replay_matches_eager<TestType>(model_kind::relu_softmax, 5);
    check_replay_matches_eager<TestType>(model_kind::relu_softmax, 1);
}

TEST_CASE("replay: a variable's gradient restarts at each forward, as when it is recorded again",
          "[replay]") {
    const xgrad::matrix<double> v0 = random_matrix(2, 3, 8);
    xgrad::graph<double> g;
    auto v = g.variable(v0, "v");
    auto l = xgrad::sum(v * v);
    auto step = g.capture(l);
    step.run();
    step.run();
    // eager: each step records the variable anew, so its gradient is one backward's, 2v
    xgrad::graph<double> e;
    auto ve = e.variable(v0, "v");
    e.backward(xgrad::sum(ve * ve));
    CHECK(same_bits(v.grad(), ve.grad()));
    // a second backward of one forward accumulates, as eager's second backward of one recording does
    step.backward();
    e.backward(xgrad::sum(ve * ve));
    CHECK(same_bits(v.grad(), ve.grad()));
}

TEST_CASE(
    "replay: a borrowed matrix whose shape changed is refused, naming it and the capture, nothing written",
    "[replay]") {
    xgrad::rng r(1);
    xgrad::nn::linear<double> layer(3, 2, r);
    xgrad::matrix<double> x = random_matrix(3, 4, 2);
    xgrad::graph<double> g;
    auto l = xgrad::sum(xgrad::sigmoid(layer(g.borrow(x, "x"))));
    const auto capture_line = __LINE__ + 1;
    auto step = g.capture(l);
    step.run();
    const auto before = tape_values(g);
    const auto grads = layer.parameters()[0]->grad();

    x = random_matrix(3, 5, 3);  // one example more
    const std::string msg = message_of<xgrad::graph_error>([&] { step.run(); });
    CHECK_THAT(msg, Contains("borrowed matrix 'x'"));
    CHECK_THAT(msg, Contains("[3×5] but was [3×4]"));
    CHECK_THAT(msg, Contains("replay_test.cpp:" + std::to_string(capture_line)));
    const auto after = tape_values(g);
    REQUIRE(after.size() == before.size());
    for (std::size_t id = 0; id < after.size(); ++id) {  // every op output and parameter is as it was
        if (g.info(static_cast<std::uint32_t>(id)).op == "constant") continue;  // x itself (read in place)
        INFO("node " << id);
        CHECK(same_bits(after[id], before[id]));
    }
    CHECK(same_bits(layer.parameters()[0]->grad(), grads));
    // backward is refused too (it would read values of the old shape)
    CHECK_THAT(message_of<xgrad::graph_error>([&] { step.backward(); }), Contains("borrowed matrix 'x'"));

    x = random_matrix(3, 4, 4);  // the recorded shape again: the replay works
    CHECK_NOTHROW(step.run());
}

TEST_CASE("replay: a parameter whose shape changed is refused, naming it", "[replay]") {
    xgrad::parameter<float> w(random_matrix<float>(2, 3, 5), "W");
    xgrad::matrix<float> x = random_matrix<float>(3, 2, 6);
    xgrad::graph<float> g;
    auto wl = g.param(w);  // node 0 (leaves in separate statements: argument order is unspecified)
    auto l = xgrad::sum(xgrad::matmul(wl, g.borrow(x)));
    auto step = g.capture(l);
    step.run();
    const auto before = tape_values(g);
    w.value() = random_matrix<float>(2, 4, 7);
    const std::string msg = message_of<xgrad::graph_error>([&] { step.forward(); });
    CHECK_THAT(msg, Contains("recording::forward: parameter 'W' (tensor #0) is [2×4] but was [2×3]"));
    CHECK_THAT(msg, Contains("replay_test.cpp"));
    const auto after = tape_values(g);
    CHECK(same_bits(after.back(), before.back()));  // the loss as it was
    CHECK(same_bits(after[2], before[2]));          // the product as it was
}

TEST_CASE("replay: a cleared, extended or destroyed graph is refused, naming the capture", "[replay]") {
    xgrad::matrix<double> xv = random_matrix(2, 2, 9);
    SECTION("cleared") {
        xgrad::graph<double> g;
        auto x = g.variable(xv);
        auto step = g.capture(xgrad::sum(x * x));
        CHECK(step.valid());
        g.clear();
        CHECK_FALSE(step.valid());
        const std::string msg = message_of<xgrad::graph_error>([&] { step.run(); });
        CHECK_THAT(msg, Contains("cleared after the capture"));
        CHECK_THAT(msg, Contains("recording captured at"));
        CHECK_THAT(msg, Contains("replay_test.cpp"));
        // recorded again (same structure) on the cleared graph, the old recording stays refused
        auto x2 = g.variable(xv);
        static_cast<void>(xgrad::sum(x2 * x2));
        CHECK_THAT(message_of<xgrad::graph_error>([&] { step.backward(); }),
                   Contains("cleared after the capture"));
    }
    SECTION("extended") {
        xgrad::graph<double> g;
        auto x = g.variable(xv);
        auto l = xgrad::sum(x * x);
        auto step = g.capture(l);
        static_cast<void>(xgrad::exp(l));  // recorded after the capture: it would not be replayed
        const std::string msg = message_of<xgrad::graph_error>([&] { step.run(); });
        CHECK_THAT(msg, Contains("has 4 nodes but had 3 at the capture"));
    }
    SECTION("destroyed") {
        auto g = std::make_unique<xgrad::graph<double>>();
        auto x = g->variable(xv);
        auto step = g->capture(xgrad::sum(x * x));
        g.reset();
        CHECK_FALSE(step.valid());
        CHECK_THAT(message_of<xgrad::graph_error>([&] { step.forward(); }), Contains("has been destroyed"));
    }
    SECTION("empty") {
        xgrad::recording<double> step;
        CHECK_FALSE(step.valid());
        CHECK_THAT(message_of<xgrad::graph_error>([&] { step.run(); }), Contains("this recording is empty"));
    }
}

TEST_CASE(
    "replay: dropout draws a fresh mask every replay, the one an eager step draws from the same rng state",
    "[replay]") {
    xgrad::parameter<double> w(random_matrix(4, 3, 10), "W");
    const xgrad::matrix<double> x = random_matrix(3, 6, 11);
    xgrad::rng r(12);
    xgrad::graph<double> g;
    auto h = xgrad::dropout(xgrad::matmul(g.param(w), g.borrow(x)), 0.5, r);
    auto l = xgrad::sum(h * h);
    auto step = g.capture(l);
    const xgrad::matrix<double> recorded = h.value();
    for (int t = 0; t < 3; ++t) {
        INFO("replay " << t);
        xgrad::rng same_state = r;  // what an eager step would draw from
        const xgrad::matrix<double> previous = h.value();
        w.zero_grad();
        step.run();
        CHECK_FALSE(same_bits(h.value(), previous));  // a new mask

        xgrad::parameter<double> we(w.value(), "W");
        xgrad::graph<double> e;
        auto he = xgrad::dropout(xgrad::matmul(e.param(we), e.borrow(x)), 0.5, same_state);
        e.backward(xgrad::sum(he * he));
        CHECK(same_bits(h.value(), he.value()));
        CHECK(same_bits(w.grad(), we.grad()));
        CHECK(r.engine() == same_state.engine());  // the replay drew as many numbers as the eager step
    }
    CHECK_FALSE(same_bits(h.value(), recorded));
}

TEST_CASE("replay: batch_norm updates its running statistics on every replay as an eager step does",
          "[replay]") {
    xgrad::parameter<double> gamma(random_matrix(3, 1, 13, 0.5, 1.5), "gamma"),
        beta(random_matrix(3, 1, 14), "beta");
    xgrad::matrix<double> x = random_matrix(3, 5, 15);
    xgrad::matrix<double> mean_r({3, 1}, 0.0), var_r({3, 1}, 1.0), mean_e = mean_r, var_e = var_r;
    xgrad::graph<double> g;
    auto l = xgrad::sum(xgrad::batch_norm(g.borrow(x), g.param(gamma), g.param(beta), &mean_r, &var_r));
    auto step = g.capture(l);
    // the recording updated the statistics once; so does an eager step
    {
        xgrad::graph<double> e;
        static_cast<void>(xgrad::batch_norm(e.borrow(x), e.param(gamma), e.param(beta), &mean_e, &var_e));
    }
    for (int t = 0; t < 3; ++t) {
        x = random_matrix(3, 5, 16 + static_cast<std::uint64_t>(t));
        step.run();
        xgrad::graph<double> e;
        static_cast<void>(xgrad::batch_norm(e.borrow(x), e.param(gamma), e.param(beta), &mean_e, &var_e));
        CHECK(same_bits(mean_r, mean_e));
        CHECK(same_bits(var_r, var_e));
    }
}

TEST_CASE("replay: the backward observer sees the nodes and every parameter's final gradient as in eager",
          "[replay]") {
    struct observation {
        std::uint32_t id;
        std::vector<xgrad::matrix<float>> grads;  // every parameter's gradient at that moment
    };
    auto make = [] {
        xgrad::rng init(18);
        return xgrad::nn::mlp<float>({3, 4, 4, 2}, xgrad::nn::activation_kind::tanh, init);
    };
    auto net_e = make(), net_r = make();
    const xgrad::matrix<float> x = random_matrix<float>(3, 4, 19);
    xgrad::matrix<float> y({1, 4});
    for (std::size_t j = 0; j < 4; ++j) y(0, j) = static_cast<float>(j % 2);
    auto observer_into = [](std::vector<observation>& seen, xgrad::nn::sequential<float>& net) {
        return [&seen, &net](const xgrad::graph<float>&, std::uint32_t id) {
            observation o{id, {}};
            for (auto* p : net.parameters()) o.grads.push_back(p->grad());
            seen.push_back(o);
        };
    };
    std::vector<observation> seen_e, seen_r;
    xgrad::graph<float> ge, gr;
    ge.set_backward_observer(observer_into(seen_e, *net_e));
    auto step = gr.capture(xgrad::softmax_cross_entropy((*net_r)(gr.borrow(x)), gr.borrow(y)));
    gr.set_backward_observer(observer_into(seen_r, *net_r));
    for (int t = 0; t < 2; ++t) {
        ge.clear();
        seen_e.clear();
        seen_r.clear();
        for (auto* p : net_e->parameters()) p->zero_grad();
        for (auto* p : net_r->parameters()) p->zero_grad();
        ge.backward(xgrad::softmax_cross_entropy((*net_e)(ge.borrow(x)), ge.borrow(y)));
        step.run();
        REQUIRE(seen_r.size() == seen_e.size());
        REQUIRE(seen_r.size() > 0);
        for (std::size_t k = 0; k < seen_e.size(); ++k) {
            INFO("observation " << k);
            CHECK(seen_r[k].id == seen_e[k].id);
            for (std::size_t p = 0; p < seen_e[k].grads.size(); ++p)
                CHECK(same_bits(seen_r[k].grads[p], seen_e[k].grads[p]));
        }
        // the last observation shows every parameter's final gradient
        const auto params = net_r->parameters();
        for (std::size_t p = 0; p < params.size(); ++p)
            CHECK(same_bits(seen_r.back().grads[p], params[p]->grad()));
    }
}

TEST_CASE("replay: a forward that throws leaves the tape, and backward refuses until a forward succeeds",
          "[replay]") {
    xgrad::parameter<double> w(random_matrix(3, 2, 20), "W");
    const xgrad::matrix<double> x = random_matrix(2, 4, 21);
    xgrad::matrix<double> y({1, 4});
    for (std::size_t j = 0; j < 4; ++j) y(0, j) = static_cast<double>(j % 3);
    xgrad::graph<double> g;
    auto l = xgrad::softmax_cross_entropy(xgrad::matmul(g.param(w), g.borrow(x)), g.borrow(y));
    auto step = g.capture(l);
    y(0, 2) = 7;  // not a class of 3
    const std::string msg = xgrad::test::shape_error_message([&] { step.forward(); });
    CHECK_THAT(msg, Contains("softmax_cross_entropy"));
    CHECK_THAT(msg, Contains("label 7 of example 2"));
    CHECK_THAT(message_of<xgrad::graph_error>([&] { step.backward(); }), Contains("the last forward threw"));
    y(0, 2) = 1;
    w.zero_grad();
    step.run();
    xgrad::parameter<double> we(w.value(), "W");
    xgrad::graph<double> e;
    e.backward(xgrad::softmax_cross_entropy(xgrad::matmul(e.param(we), e.borrow(x)), e.borrow(y)));
    CHECK(same_bits(w.grad(), we.grad()));
}

TEST_CASE("replay: anomaly mode checks a replayed forward, naming the op", "[replay]") {
    xgrad::matrix<double> x = random_matrix(2, 3, 22, 0.5, 1.0);
    xgrad::graph<double> g;
    auto v = g.variable(random_matrix(2, 3, 23));
    auto step = g.capture(xgrad::sum(xgrad::log(g.borrow(x)) * v));
    g.set_anomaly_mode(true);
    CHECK_NOTHROW(step.run());
    x(1, 1) = -1;  // log(−1) is NaN
    const std::string msg = message_of<xgrad::numeric_error>([&] { step.forward(); });
    CHECK_THAT(msg, Contains("anomaly: log forward output is"));
    CHECK_THAT(msg, Contains("nan at element (1, 1)"));
}
