// The tape engine: fan-out, deep chains, no_grad, zeroing, accumulation across backward calls, stale and
// foreign handles, seeds, parameters across graphs, buffer reuse, names and node_info, float and double.
#include <cmath>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support.hpp"

namespace {

using M = xgrad::matrix<double>;
using V = xgrad::var<double>;
using Catch::Matchers::Contains;
using xgrad::test::random_matrix;

M ones(std::size_t r, std::size_t c) {
    return M({r, c}, 1.0);
}

bool all_zero(const M& m) {
    for (double v : m) {
        if (v != 0.0) return false;
    }
    return true;
}

}  // namespace

// ------------------------------------------------------------------ fan-out

TEST_CASE("graph: x*x gives dx = 2x (one node feeding both inputs of an op)", "[graph]") {
    xgrad::graph<double> g;
    const M xv = random_matrix(2, 3, 11);
    V x = g.variable(xv, "x");
    V y = xgrad::sum(x * x);
    g.backward(y);
    const M expected = 2.0 * xv;
    XGRAD_REQUIRE_CLOSE(x.grad(), expected, 0.0, 0.0);
}

TEST_CASE("graph: a+a gives da = 2", "[graph]") {
    xgrad::graph<double> g;
    V a = g.variable(random_matrix(3, 2, 12), "a");
    g.backward(xgrad::sum(a + a));
    XGRAD_REQUIRE_CLOSE(a.grad(), M(2.0 * ones(3, 2)), 0.0, 0.0);
}

TEST_CASE("graph: a shared sub-expression used by two branches gets the sum of both gradients", "[graph]") {
    // s = e^x;  L = Σ 3s + Σ s²  →  dL/ds = 3 + 2s,  dL/dx = (3 + 2s) ⊙ e^x
    xgrad::graph<double> g;
    const M xv = random_matrix(2, 4, 13);
    V x = g.variable(xv, "x");
    V s = xgrad::exp(x).named("s");
    V left = xgrad::sum(s * 3.0);
    V right = xgrad::sum(xgrad::square(s));
    V L = left + right;
    g.backward(L);
    const M ev = xt::exp(xv);
    const M ds = 3.0 + 2.0 * ev;
    const M dx = ds * ev;
    XGRAD_REQUIRE_CLOSE(s.grad(), ds, 1e-15, 0.0);
    XGRAD_REQUIRE_CLOSE(x.grad(), dx, 1e-15, 0.0);
}

TEST_CASE("graph: a variable used by several ops of different kinds accumulates every contribution",
          "[graph]") {
    // L = Σ (x ⊙ w) + Σ x + Σ x²   →  dx = w + 1 + 2x,   dw = x
    xgrad::graph<double> g;
    const M xv = random_matrix(3, 3, 14), wv = random_matrix(3, 3, 15);
    V x = g.variable(xv), w = g.variable(wv);
    V L = xgrad::sum(x * w) + xgrad::sum(x) + xgrad::sum(xgrad::square(x));
    g.backward(L);
    const M dx = wv + 1.0 + 2.0 * xv;
    XGRAD_REQUIRE_CLOSE(x.grad(), dx, 1e-15, 0.0);
    XGRAD_REQUIRE_CLOSE(w.grad(), xv, 0.0, 0.0);
}

// ------------------------------------------------------------------ deep chains

TEST_CASE(
    "graph: a 100,000-node multiplicative chain backpropagates iteratively with the closed-form gradient",
    "[graph]") {
    // y₀ = x, yₖ = c·yₖ₋₁  →  y_N = cᴺ·x, dy_N/dx = cᴺ
    constexpr int N = 100000;
    const double c = 1.00001;
    xgrad::graph<double> g;
    V x = g.variable(M({1, 1}, 0.5), "x");
    V y = x;
    for (int k = 0; k < N; ++k) y = y * c;
    REQUIRE(g.size() == N + 1);
    g.backward(y);
    const double expected = std::pow(c, N);
    REQUIRE(x.grad()(0, 0) == Approx(expected).epsilon(1e-9));
    REQUIRE(y.item() == Approx(0.5 * expected).epsilon(1e-9));
}

TEST_CASE("graph: a 100,000-node additive chain y = y + x gives dx = N + 1 exactly", "[graph]") {
    constexpr int N = 100000;
    xgrad::graph<double> g;
    V x = g.variable(M({2, 2}, 0.25), "x");
    V y = x;
    for (int k = 0; k < N; ++k) y = y + x;
    REQUIRE(g.size() == N + 1);
    g.backward(xgrad::sum(y));
    XGRAD_REQUIRE_CLOSE(x.grad(), M(double(N + 1) * ones(2, 2)), 0.0, 0.0);
    // and again after clear(): the tape's 100,000 nodes are reused
    g.clear();
    V x2 = g.variable(M({2, 2}, 0.5), "x");
    V y2 = x2;
    for (int k = 0; k < N; ++k) y2 = y2 + x2;
    g.backward(xgrad::sum(y2));
    XGRAD_REQUIRE_CLOSE(x2.grad(), M(double(N + 1) * ones(2, 2)), 0.0, 0.0);
    REQUIRE(y2.value()(0, 0) == 0.5 * (N + 1));
}

// ------------------------------------------------------------------ no_grad

TEST_CASE("graph: no_grad results require no gradient and backward gives nothing through them",
          "[graph][no_grad]") {
    xgrad::graph<double> g;
    const M xv = random_matrix(2, 3, 21);
    V x = g.variable(xv, "x");
    V y;
    {
        xgrad::no_grad ng;
        y = x * x;  // a constant: no history
        REQUIRE_FALSE(y.requires_grad());
        REQUIRE_FALSE(xgrad::sigmoid(x).requires_grad());
    }
    REQUIRE(x.requires_grad());
    // z = Σ y ⊙ x with y a constant: dz/dx = y = x², not 3x²
    V z = xgrad::sum(y * x);
    REQUIRE(z.requires_grad());
    g.backward(z);
    XGRAD_REQUIRE_CLOSE(x.grad(), M(xv * xv), 0.0, 0.0);
    REQUIRE_FALSE(g.info(y.id()).has_grad);

    // a root computed entirely under no_grad cannot be differentiated
    V r;
    {
        xgrad::no_grad ng;
        r = xgrad::sum(x * x);
    }
    REQUIRE_THROWS_AS(g.backward(r), xgrad::graph_error);
}

TEST_CASE("graph: nested no_grad scopes restore the previous state", "[graph][no_grad]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 2, 22), "x");
    REQUIRE(xgrad::detail::grad_enabled());
    {
        xgrad::no_grad outer;
        REQUIRE_FALSE(xgrad::detail::grad_enabled());
        {
            xgrad::no_grad inner;
            REQUIRE_FALSE((x + x).requires_grad());
        }
        // leaving the inner scope must not re-enable recording inside the outer one
        REQUIRE_FALSE(xgrad::detail::grad_enabled());
        REQUIRE_FALSE((x * x).requires_grad());
    }
    REQUIRE(xgrad::detail::grad_enabled());
    REQUIRE((x * x).requires_grad());
}

TEST_CASE("graph: no_grad does not affect leaves", "[graph][no_grad]") {
    xgrad::graph<double> g;
    xgrad::parameter<double> p(random_matrix(2, 2, 23), "p");
    V x, w, c;
    {
        xgrad::no_grad ng;
        x = g.variable(random_matrix(2, 2, 24), "x");
        w = g.param(p);
        c = g.constant(random_matrix(2, 2, 25), "c");
    }
    REQUIRE(x.requires_grad());
    REQUIRE(w.requires_grad());
    REQUIRE_FALSE(c.requires_grad());
    // ops recorded after the scope differentiate through those leaves
    g.backward(xgrad::sum(x * w + c));
    XGRAD_REQUIRE_CLOSE(x.grad(), p.value(), 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(p.grad(), x.value(), 0.0, 0.0);
}

// ------------------------------------------------------------------ zeroing and accumulation

TEST_CASE("graph: gradients read as zeros before any backward and right after zeroing", "[graph][zero]") {
    xgrad::graph<double> g;
    xgrad::parameter<double> p(random_matrix(3, 2, 31), "p");
    REQUIRE_FALSE(p.has_grad());
    REQUIRE(p.grad().shape() == p.value().shape());
    REQUIRE(all_zero(p.grad()));

    V x = g.variable(random_matrix(2, 4, 32), "x");
    V w = g.param(p);
    V h = xgrad::matmul(w, x);
    REQUIRE(x.grad().shape()[0] == 2);
    REQUIRE(x.grad().shape()[1] == 4);
    REQUIRE(all_zero(x.grad()));
    REQUIRE(all_zero(h.grad()));

    g.backward(xgrad::sum(xgrad::sigmoid(h)));
    REQUIRE(p.has_grad());
    REQUIRE_FALSE(all_zero(x.grad()));
    REQUIRE_FALSE(all_zero(p.grad()));
    const M pgrad = p.grad();

    // graph::zero_grad zeroes this graph's variables, not parameters
    g.zero_grad();
    REQUIRE(all_zero(x.grad()));
    REQUIRE_FALSE(g.info(x.id()).has_grad);
    REQUIRE(p.has_grad());
    XGRAD_REQUIRE_CLOSE(p.grad(), pgrad, 0.0, 0.0);

    // parameter::zero_grad zeroes the parameter
    p.zero_grad();
    REQUIRE_FALSE(p.has_grad());
    REQUIRE(all_zero(p.grad()));
    REQUIRE(p.grad().shape() == p.value().shape());
}

TEST_CASE("graph: after zeroing, backward overwrites instead of adding", "[graph][zero]") {
    xgrad::graph<double> g;
    xgrad::parameter<double> p(random_matrix(3, 2, 33), "p");
    V x = g.variable(random_matrix(2, 4, 34), "x");
    V L = xgrad::sum(xgrad::tanh(xgrad::matmul(g.param(p), x)));
    g.backward(L);
    const M dx = x.grad(), dp = p.grad();
    g.backward(L);
    g.zero_grad();
    p.zero_grad();
    g.backward(L);
    XGRAD_REQUIRE_CLOSE(x.grad(), dx, 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(p.grad(), dp, 0.0, 0.0);
}

TEST_CASE("graph: backward twice doubles leaf gradients, interior gradients do not accumulate",
          "[graph][zero]") {
    xgrad::graph<double> g;
    xgrad::parameter<double> W(random_matrix(4, 3, 41), "W");
    xgrad::parameter<double> b(random_matrix(4, 1, 42), "b");
    V x = g.variable(random_matrix(3, 5, 43), "x");
    V A = xgrad::add_bias(xgrad::matmul(g.param(W), x), g.param(b)).named("A");
    V H = xgrad::sigmoid(A).named("H");
    V L = xgrad::mean(H * H);
    g.backward(L);
    const M dx1 = x.grad(), dW1 = W.grad(), db1 = b.grad(), dA1 = A.grad(), dH1 = H.grad(), dL1 = L.grad();
    g.backward(L);
    XGRAD_REQUIRE_CLOSE(x.grad(), M(2.0 * dx1), 1e-15, 0.0);
    XGRAD_REQUIRE_CLOSE(W.grad(), M(2.0 * dW1), 1e-15, 0.0);
    XGRAD_REQUIRE_CLOSE(b.grad(), M(2.0 * db1), 1e-15, 0.0);
    // interior (op) gradients are recomputed from zero on every call
    XGRAD_REQUIRE_CLOSE(A.grad(), dA1, 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(H.grad(), dH1, 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(L.grad(), dL1, 0.0, 0.0);
    g.backward(L);
    XGRAD_REQUIRE_CLOSE(x.grad(), M(3.0 * dx1), 1e-15, 0.0);
    XGRAD_REQUIRE_CLOSE(A.grad(), dA1, 0.0, 0.0);
}

TEST_CASE("graph: backward from two different roots resets interior gradients between calls",
          "[graph][zero]") {
    // L1 = Σ s, L2 = Σ 2s with s = x²: after backward(L1), backward(L2) the shared s holds dL2/ds only.
    xgrad::graph<double> g;
    const M xv = random_matrix(2, 2, 44);
    V x = g.variable(xv, "x");
    V s = xgrad::square(x);
    V L1 = xgrad::sum(s);
    V L2 = xgrad::sum(s * 2.0);
    g.backward(L1);
    XGRAD_REQUIRE_CLOSE(s.grad(), ones(2, 2), 0.0, 0.0);
    g.backward(L2);
    XGRAD_REQUIRE_CLOSE(s.grad(), M(2.0 * ones(2, 2)), 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(x.grad(), M(6.0 * xv), 1e-15, 0.0);  // 2x + 4x: the leaf accumulates both
}

TEST_CASE("graph: a tensor the last backward did not reach reads as zeros, even past the root",
          "[graph][zero]") {
    // var::grad(): "the gradient d(root)/d(this) from the last backward; zeros if none reached this tensor".
    // L2 is recorded after L1, so backward(L1) does not reach it: dL1/dL2 = 0.
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 2, 45), "x");
    V L1 = xgrad::sum(xgrad::square(x)).named("L1");
    V L2 = (L1 * 3.0).named("L2");
    g.backward(L2);
    REQUIRE(L1.grad()(0, 0) == 3.0);
    REQUIRE(L2.grad()(0, 0) == 1.0);
    g.backward(L1);
    REQUIRE(L1.grad()(0, 0) == 1.0);
    CHECK_FALSE(g.info(L2.id()).has_grad);
    CHECK(L2.grad()(0, 0) == 0.0);  // stale 1 from the previous backward if interior reset stops at the root
}

TEST_CASE("graph: backward runs inside a no_grad scope", "[graph][no_grad]") {
    xgrad::graph<double> g;
    const M xv = random_matrix(2, 3, 46);
    V x = g.variable(xv, "x");
    V L = xgrad::sum(x * x);
    {
        xgrad::no_grad ng;  // e.g. an evaluation loop that also wants a gradient of recorded history
        g.backward(L);
    }
    XGRAD_REQUIRE_CLOSE(x.grad(), M(2.0 * xv), 0.0, 0.0);
}

// ------------------------------------------------------------------ handles

TEST_CASE("graph: handles are stale after clear(): every access throws graph_error", "[graph][handles]") {
    xgrad::graph<double> g;
    V x = g.variable(random_matrix(2, 2, 51), "x");
    V y = xgrad::sum(xgrad::sigmoid(x));
    g.backward(y);
    REQUIRE(x.valid());
    g.clear();
    REQUIRE(g.size() == 0);
    REQUIRE_FALSE(x.valid());
    REQUIRE_FALSE(y.valid());
    REQUIRE_THROWS_AS(x.value(), xgrad::graph_error);
    REQUIRE_THROWS_WITH(x.value(), Contains("stale"));
    REQUIRE_THROWS_AS(x.grad(), xgrad::graph_error);
    REQUIRE_THROWS_AS(x.shape(), xgrad::graph_error);
    REQUIRE_THROWS_AS(x.name(), xgrad::graph_error);
    REQUIRE_THROWS_AS(x.requires_grad(), xgrad::graph_error);
    REQUIRE_THROWS_AS(x.named("z"), xgrad::graph_error);
    REQUIRE_THROWS_AS(y.item(), xgrad::graph_error);
    REQUIRE_THROWS_AS(g.backward(y), xgrad::graph_error);
    REQUIRE_THROWS_AS(xgrad::sigmoid(x), xgrad::graph_error);
    REQUIRE_THROWS_AS(x + x, xgrad::graph_error);

    // recording again puts new nodes at the same indices; the old handles stay stale
    V x2 = g.variable(random_matrix(2, 2, 52), "x2");
    V y2 = xgrad::sum(xgrad::sigmoid(x2));
    REQUIRE(x2.id() == x.id());
    REQUIRE(y2.id() == y.id());
    REQUIRE_FALSE(x.valid());
    REQUIRE_THROWS_AS(x.value(), xgrad::graph_error);
    REQUIRE_THROWS_AS(y.item(), xgrad::graph_error);
    REQUIRE_THROWS_AS(x2 + x, xgrad::graph_error);
    REQUIRE_NOTHROW(g.backward(y2));
}

// A handle outlives its graph, and a new graph is built in the very same storage (same address): the
// old handle must not pass for one of the new graph's tensors. (Was: the epochs of both graphs started
// at 1, so a + b of two old handles read the new graph's nodes and returned 4.)
TEST_CASE("graph: handles of a destroyed graph are stale, even when a new graph takes its address",
          "[graph][handles]") {
    using G = xgrad::graph<double>;
    alignas(G) unsigned char storage[sizeof(G)];
    G* g1 = ::new (static_cast<void*>(storage)) G;
    V a = g1->variable(ones(1, 1), "a");
    V b = g1->variable(ones(1, 1), "b");
    REQUIRE(a.valid());
    g1->~G();

    G* g2 = ::new (static_cast<void*>(storage)) G;  // the same address as g1
    REQUIRE(static_cast<void*>(g2) == static_cast<void*>(g1));
    V c = g2->variable(M({{2.0}}), "c");
    V d = g2->variable(M({{2.0}}), "d");
    REQUIRE(c.id() == a.id());  // same slot, same index: only the epoch tells them apart
    CHECK_FALSE(a.valid());
    CHECK_FALSE(b.valid());
    CHECK(c.valid());
    CHECK_THROWS_WITH(a + b, Contains("stale handle") && Contains("destroyed"));
    CHECK_THROWS_WITH(c + a, Contains("stale handle") && Contains("destroyed"));
    CHECK_THROWS_AS(a.value(), xgrad::graph_error);
    CHECK_THROWS_AS(a.owner(), xgrad::graph_error);
    CHECK_THROWS_AS(g2->backward(a), xgrad::graph_error);
    CHECK(g2->size() == 2);        // the failed ops recorded nothing
    CHECK((c + d).item() == 4.0);  // the new graph itself works
    g2->~G();
}

// Without a new graph in its place: the check reads only the registry of live graphs, never the dead
// graph (an ASan build reports any read of the freed graph).
TEST_CASE("graph: handles of a destroyed graph on the heap are stale without touching the dead graph",
          "[graph][handles]") {
    auto g = std::make_unique<xgrad::graph<float>>();
    xgrad::var<float> a = g->variable(xgrad::matrix<float>({2, 2}, 1.0f), "a");
    xgrad::var<float> s = xgrad::sum(a);
    g.reset();
    CHECK_FALSE(a.valid());
    CHECK_FALSE(s.valid());
    CHECK_THROWS_WITH(a + a, Contains("stale handle") && Contains("destroyed"));
    CHECK_THROWS_WITH(xgrad::sigmoid(s), Contains("stale handle") && Contains("destroyed"));
    CHECK_THROWS_AS(s.item(), xgrad::graph_error);
    CHECK_THROWS_AS(a.grad(), xgrad::graph_error);
    // many graphs later (slots reused, float and double mixed) the handle is still stale, never another's
    for (int k = 0; k < 100; ++k) {
        xgrad::graph<double> gd;
        xgrad::graph<float> gf;
        xgrad::var<float> x = gf.variable(xgrad::matrix<float>({2, 2}, 3.0f));
        CHECK_FALSE(a.valid());
        CHECK_THROWS_AS(x + a, xgrad::graph_error);
        CHECK_THROWS_AS(a + x, xgrad::graph_error);
    }
}

// Graphs are created and destroyed on several threads at once (the registry hands out slots under a lock):
// every thread's handles stay valid while their graph lives and become stale after, whatever slot the
// other threads' graphs take.
TEST_CASE("graph: graphs on several threads keep their handles apart", "[graph][handles]") {
    constexpr int threads = 4, rounds = 500;
    std::vector<int> wrong(threads, 0);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([t, &wrong] {
            xgrad::var<double> previous;
            for (int k = 0; k < rounds; ++k) {
                xgrad::graph<double> g;
                V x = g.variable(M({1, 1}, double(t)));
                V y = x + x;
                if (!x.valid() || !y.valid() || y.item() != 2.0 * t) ++wrong[t];
                if (previous.valid()) ++wrong[t];
                try {
                    (void)(previous + previous);
                    ++wrong[t];
                } catch (const xgrad::graph_error&) {
                }
                previous = y;
            }
        });
    }
    for (auto& th : pool) th.join();
    for (int t = 0; t < threads; ++t) CHECK(wrong[t] == 0);
}

TEST_CASE("graph: a handle is two 64-bit words and trivially copyable", "[graph][handles]") {
    STATIC_REQUIRE(sizeof(V) <= 2 * sizeof(std::uint64_t));
    STATIC_REQUIRE(std::is_trivially_copyable_v<V>);
}

TEST_CASE("graph: a default-constructed handle throws graph_error", "[graph][handles]") {
    V v;
    REQUIRE_FALSE(v.valid());
    REQUIRE_THROWS_AS(v.value(), xgrad::graph_error);
    REQUIRE_THROWS_AS(v.owner(), xgrad::graph_error);
    REQUIRE_THROWS_AS(xgrad::sigmoid(v), xgrad::graph_error);
}

TEST_CASE("graph: handles from another graph mixed into an op throw graph_error", "[graph][handles]") {
    xgrad::graph<double> g1, g2;
    V a = g1.variable(random_matrix(2, 2, 53), "a");
    V b = g2.variable(random_matrix(2, 2, 54), "b");
    const std::size_t n1 = g1.size(), n2 = g2.size();
    REQUIRE_THROWS_AS(xgrad::matmul(a, b), xgrad::graph_error);
    REQUIRE_THROWS_WITH(xgrad::matmul(a, b), Contains("another graph"));
    REQUIRE_THROWS_AS(xgrad::matmul(b, a), xgrad::graph_error);
    REQUIRE_THROWS_AS(a + b, xgrad::graph_error);
    REQUIRE_THROWS_AS(b * a, xgrad::graph_error);
    REQUIRE_THROWS_AS(g1.backward(xgrad::sum(b)), xgrad::graph_error);
    // the failed ops left both tapes untouched (g2 got the sum above)
    REQUIRE(g1.size() == n1);
    REQUIRE(g2.size() == n2 + 1);
    REQUIRE_NOTHROW(g1.backward(xgrad::sum(a * a)));
}

// ------------------------------------------------------------------ roots and seeds

TEST_CASE("graph: backward on a non-scalar root needs a seed, and a seed of ones equals backward of the sum",
          "[graph][seed]") {
    const M xv = random_matrix(3, 4, 61);
    M by_seed, by_sum;
    {
        xgrad::graph<double> g;
        V x = g.variable(xv, "x");
        V y = xgrad::sigmoid(x);
        REQUIRE_THROWS_AS(g.backward(y), xgrad::graph_error);
        REQUIRE_THROWS_WITH(g.backward(y), Contains("[3×4]") && Contains("seed"));
        REQUIRE_THROWS_AS(g.backward(y, ones(4, 3)), xgrad::graph_error);  // seed of the wrong shape
        REQUIRE_FALSE(g.info(x.id()).has_grad);                            // the failures delivered nothing
        g.backward(y, ones(3, 4));
        by_seed = x.grad();
    }
    {
        xgrad::graph<double> g;
        V x = g.variable(xv, "x");
        g.backward(xgrad::sum(xgrad::sigmoid(x)));
        by_sum = x.grad();
    }
    XGRAD_REQUIRE_CLOSE(by_seed, by_sum, 0.0, 0.0);
}

TEST_CASE("graph: an arbitrary seed is a vector-Jacobian product", "[graph][seed]") {
    // y = W·x, seed S: dx = Wᵀ·S
    xgrad::graph<double> g;
    const M wv = random_matrix(3, 4, 62), xv = random_matrix(4, 2, 63), seed = random_matrix(3, 2, 64);
    V W = g.constant(wv, "W");
    V x = g.variable(xv, "x");
    g.backward(xgrad::matmul(W, x), seed);
    M expected({4, 2}, 0.0);
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 2; ++j)
            for (std::size_t k = 0; k < 3; ++k) expected(i, j) += wv(k, i) * seed(k, j);
    XGRAD_REQUIRE_CLOSE(x.grad(), expected, 1e-14, 1e-15);
}

TEST_CASE("graph: backward on a root that requires no gradient throws graph_error", "[graph][seed]") {
    xgrad::graph<double> g;
    V c = g.constant(random_matrix(2, 2, 65), "c");
    V y = xgrad::sum(c * c);
    REQUIRE_FALSE(y.requires_grad());
    REQUIRE_THROWS_AS(g.backward(y), xgrad::graph_error);
    REQUIRE_THROWS_AS(g.backward(c, ones(2, 2)), xgrad::graph_error);
    V k = g.constant(M({1, 1}, 3.0));
    REQUIRE_THROWS_AS(g.backward(k), xgrad::graph_error);
}

TEST_CASE("graph: backward from a leaf variable seeds its own gradient", "[graph][seed]") {
    xgrad::graph<double> g;
    V x = g.variable(M({1, 1}, 2.0), "x");
    g.backward(x);
    REQUIRE(x.grad()(0, 0) == 1.0);
    g.backward(x);
    REQUIRE(x.grad()(0, 0) == 2.0);  // leaves accumulate, also as a root
}

// ------------------------------------------------------------------ parameters across graphs

TEST_CASE("graph: parameters outlive graphs and accumulate over fresh recordings until zero_grad",
          "[graph][param]") {
    xgrad::parameter<double> W(random_matrix(2, 3, 71), "W");
    const M x1 = random_matrix(3, 4, 72), x2 = random_matrix(3, 4, 73), x3 = random_matrix(3, 4, 74);
    // L = Σ W·x  →  dW = 1·xᵀ (row sums of x, repeated on every row)
    auto expected = [](const M& x) {
        M d({2, 3}, 0.0);
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t k = 0; k < 3; ++k)
                for (std::size_t j = 0; j < 4; ++j) d(i, k) += x(k, j);
        return d;
    };
    xgrad::graph<double> g;
    auto step = [&](const M& x) {
        g.clear();
        g.backward(xgrad::sum(xgrad::matmul(g.param(W), g.borrow(x, "x"))));
    };
    step(x1);
    XGRAD_REQUIRE_CLOSE(W.grad(), expected(x1), 1e-14, 1e-15);
    step(x2);
    XGRAD_REQUIRE_CLOSE(W.grad(), M(expected(x1) + expected(x2)), 1e-14, 1e-15);
    W.zero_grad();
    step(x3);
    XGRAD_REQUIRE_CLOSE(W.grad(), expected(x3), 1e-14, 1e-15);

    // a separate graph accumulates into the same parameter
    {
        xgrad::graph<double> other;
        other.backward(xgrad::sum(xgrad::matmul(other.param(W), other.constant(x1))));
    }
    XGRAD_REQUIRE_CLOSE(W.grad(), M(expected(x3) + expected(x1)), 1e-14, 1e-15);
}

TEST_CASE("graph: a parameter read twice in one graph gets the sum of both uses", "[graph][param]") {
    // L = Σ W ⊙ x + Σ W ⊙ z through two param() nodes  →  dW = x + z (added to what W already holds)
    xgrad::parameter<double> W(random_matrix(2, 3, 75), "W");
    const M xv = random_matrix(2, 3, 76), zv = random_matrix(2, 3, 77);
    xgrad::graph<double> g;
    V w1 = g.param(W), w2 = g.param(W, "W again");
    REQUIRE(w1.id() != w2.id());
    g.backward(xgrad::sum(w1 * g.constant(xv)) + xgrad::sum(w2 * g.constant(zv)));
    XGRAD_REQUIRE_CLOSE(W.grad(), M(xv + zv), 1e-15, 0.0);
    XGRAD_REQUIRE_CLOSE(w1.grad(), W.grad(), 0.0, 0.0);  // both nodes read the parameter's one gradient
    g.clear();
    V w3 = g.param(W);
    g.backward(xgrad::sum(w3 * g.constant(xv)));
    XGRAD_REQUIRE_CLOSE(W.grad(), M(xv + zv + xv), 1e-15, 0.0);
}

TEST_CASE("graph: a graph reads a parameter's value in place", "[graph][param]") {
    xgrad::parameter<double> p(M({1, 1}, 2.0), "p");
    xgrad::graph<double> g;
    V w = g.param(p);
    REQUIRE(w.name() == "p");
    REQUIRE(w.item() == 2.0);
    p.value()(0, 0) = 5.0;  // an optimizer step
    REQUIRE(w.item() == 5.0);
    g.backward(w * w);
    REQUIRE(p.grad()(0, 0) == 10.0);
}

// ------------------------------------------------------------------ buffer reuse

TEST_CASE("graph: recording the same structure again reuses every buffer", "[graph][reuse]") {
    xgrad::parameter<double> W(random_matrix(4, 3, 81), "W");
    xgrad::parameter<double> b(random_matrix(4, 1, 82), "b");
    xgrad::graph<double> g;
    struct pointers {
        const double *x_value, *x_grad, *a_value, *a_grad, *h_value, *h_grad, *l_value;
        std::size_t size;
    };
    auto record = [&](const M& xv, M& h_out) {
        g.clear();
        V x = g.variable(xv, "x");
        V a = xgrad::add_bias(xgrad::matmul(g.param(W), x), g.param(b));
        V h = xgrad::sigmoid(a);
        V L = xgrad::sum(h * h);
        g.backward(L);
        h_out = h.value();
        return pointers{x.value().data(), x.grad().data(), a.value().data(), a.grad().data(),
                        h.value().data(), h.grad().data(), L.value().data(), g.size()};
    };
    const M x1 = random_matrix(3, 5, 83), x2 = random_matrix(3, 5, 84);
    M h1, h2;
    const pointers p1 = record(x1, h1);
    const pointers p2 = record(x2, h2);
    REQUIRE(p1.size == p2.size);
    CHECK(p1.x_value == p2.x_value);
    CHECK(p1.x_grad == p2.x_grad);
    CHECK(p1.a_value == p2.a_value);
    CHECK(p1.a_grad == p2.a_grad);
    CHECK(p1.h_value == p2.h_value);
    CHECK(p1.h_grad == p2.h_grad);
    CHECK(p1.l_value == p2.l_value);

    // the reused buffers hold the new step's values, not the old ones
    xgrad::graph<double> fresh;
    V h = xgrad::sigmoid(xgrad::add_bias(xgrad::matmul(fresh.param(W), fresh.constant(x2)), fresh.param(b)));
    XGRAD_REQUIRE_CLOSE(h2, h.value(), 0.0, 0.0);
    REQUIRE(xgrad::test::closeness(h1, h2, 0.0, 0.0) > 1.0);

    // a different batch size resizes the buffers and still computes the right values
    const M x3 = random_matrix(3, 7, 85);
    M h3;
    record(x3, h3);
    V h3_fresh =
        xgrad::sigmoid(xgrad::add_bias(xgrad::matmul(fresh.param(W), fresh.constant(x3)), fresh.param(b)));
    XGRAD_REQUIRE_CLOSE(h3, h3_fresh.value(), 0.0, 0.0);
}

// ------------------------------------------------------------------ names and node_info

TEST_CASE("graph: named() and node_info describe the tape", "[graph][info]") {
    xgrad::graph<double> g;
    xgrad::parameter<double> W(random_matrix(2, 3, 91), "W1");
    V x = g.variable(random_matrix(3, 4, 92), "X");
    V w = g.param(W);
    V w_renamed = g.param(W, "W1 again");
    V c = g.constant(random_matrix(2, 4, 93));
    std::uint_least32_t line = 0;
    V a = (line = __LINE__, xgrad::matmul(w, x));  // the op's call site, captured on the same line
    V named = a.named("A1");
    V y = xgrad::sum(a * c);

    REQUIRE(named.id() == a.id());
    REQUIRE(a.name() == "A1");
    REQUIRE(w.name() == "W1");
    REQUIRE(w_renamed.name() == "W1 again");
    REQUIRE(c.name().empty());
    REQUIRE(g.size() == 7);  // X, W1, W1 again, c, matmul, mul, sum

    auto ix = g.info(x.id());
    REQUIRE(ix.id == x.id());
    REQUIRE(ix.op == "variable");
    REQUIRE(ix.rule == nullptr);
    REQUIRE(ix.name == "X");
    REQUIRE(ix.shape == xgrad::shape2{3, 4});
    REQUIRE(ix.inputs.empty());
    REQUIRE(ix.requires_grad);
    REQUIRE_FALSE(ix.has_grad);
    REQUIRE(g.info(w.id()).op == "parameter");
    REQUIRE(g.info(c.id()).op == "constant");
    REQUIRE_FALSE(g.info(c.id()).requires_grad);

    auto ia = g.info(a.id());
    REQUIRE(ia.op == "matmul");
    REQUIRE(ia.rule != nullptr);
    REQUIRE(ia.rule->name == "matmul");
    REQUIRE(ia.name == "A1");
    REQUIRE(ia.shape == xgrad::shape2{2, 4});
    REQUIRE(ia.inputs == std::vector<std::uint32_t>{w.id(), x.id()});
    REQUIRE(ia.where.line() == line);
    REQUIRE_THAT(std::string(ia.where.file_name()), Contains("graph_test.cpp"));
    REQUIRE(ia.requires_grad);
    REQUIRE_FALSE(ia.has_grad);

    auto iy = g.info(y.id());
    REQUIRE(iy.op == "sum");
    REQUIRE(iy.shape == xgrad::shape2{1, 1});
    REQUIRE(iy.inputs.size() == 1);

    g.backward(y);
    REQUIRE(g.info(a.id()).has_grad);
    REQUIRE(g.info(x.id()).has_grad);
    REQUIRE(g.info(w.id()).has_grad);
    REQUIRE_FALSE(g.info(c.id()).has_grad);
    REQUIRE_THROWS_AS(g.info(static_cast<std::uint32_t>(g.size())), xgrad::graph_error);
}

// ------------------------------------------------------------------ float and double

namespace {

/// A two-layer tanh MLP with a mean-squared-error loss; returns the loss and dW1, db1, dW2, db2 as doubles.
template <class T>
std::vector<M> mlp_gradients(const M& X, const M& Y, const std::vector<M>& weights) {
    auto cast = [](const M& m) { return xgrad::matrix<T>(xt::cast<T>(m)); };
    std::vector<xgrad::parameter<T>> params;
    params.reserve(weights.size());
    for (const M& w : weights) params.emplace_back(cast(w));
    xgrad::graph<T> g;
    auto x = g.constant(cast(X), "X");
    auto y = g.constant(cast(Y), "Y");
    auto H1 = xgrad::tanh(xgrad::add_bias(xgrad::matmul(g.param(params[0]), x), g.param(params[1])));
    auto H2 = xgrad::add_bias(xgrad::matmul(g.param(params[2]), H1), g.param(params[3]));
    auto C = xgrad::mse(H2, y);
    g.backward(C);
    std::vector<M> out{M({1, 1}, static_cast<double>(C.item()))};
    for (auto& p : params) out.push_back(M(xt::cast<double>(p.grad())));
    return out;
}

}  // namespace

TEST_CASE("graph: a small MLP gives the same gradients in float and double", "[graph][types]") {
    const M X = random_matrix(3, 6, 101), Y = random_matrix(2, 6, 102);
    const std::vector<M> weights{random_matrix(5, 3, 103), random_matrix(5, 1, 104), random_matrix(2, 5, 105),
                                 random_matrix(2, 1, 106)};
    const auto gd = mlp_gradients<double>(X, Y, weights);
    const auto gf = mlp_gradients<float>(X, Y, weights);
    REQUIRE(gd.size() == 5);
    for (std::size_t k = 0; k < gd.size(); ++k) {
        INFO("output " << k);
        XGRAD_REQUIRE_CLOSE(gf[k], gd[k], 1e-4, 1e-6);
    }
    // and the double gradients are right (gradcheck of the same network with respect to every weight)
    auto r = xgrad::gradcheck(
        [&](auto w) {
            auto& g = w[0].owner();
            auto H1 = xgrad::tanh(xgrad::add_bias(xgrad::matmul(w[0], g.constant(X)), w[1]));
            return xgrad::mse(xgrad::add_bias(xgrad::matmul(w[2], H1), w[3]), g.constant(Y));
        },
        weights);
    INFO(r.report);
    REQUIRE(r.ok);
}
