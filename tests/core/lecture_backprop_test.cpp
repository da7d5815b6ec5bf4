// The lecture's vectorised backprop slide, checked against the graph: a two-layer network
//
//   A1 = W1·X + b1    H1 = σ(A1)        X [n×m], W1 [p×n], b1 [p×1]
//   A2 = W2·H1 + b2   H2 = σ(A2) or softmax(A2)
//
//   dA2 = H2 − Y                     dW2 = (1/m)·dA2·H1ᵀ    db2 = (1/m)·Σ_columns dA2
//   dA1 = W2ᵀ·dA2 ⊙ H1(1 − H1)       dW1 = (1/m)·dA1·Xᵀ     db1 = (1/m)·Σ_columns dA1
//
// The reference side is computed here with plain loops, independently of every xgrad op.
#include <array>
#include <cmath>
#include <cstdint>
#include <random>

#include "support.hpp"

namespace {

using M = xgrad::matrix<double>;
using V = xgrad::var<double>;
using xgrad::test::random_matrix;

// ------------------------------------------------------------------ the slide, with plain loops

M dot(const M& a, const M& b) {
    const std::size_t p = a.shape()[0], n = a.shape()[1], m = b.shape()[1];
    REQUIRE(b.shape()[0] == n);
    M c({p, m}, 0.0);
    for (std::size_t i = 0; i < p; ++i)
        for (std::size_t k = 0; k < n; ++k)
            for (std::size_t j = 0; j < m; ++j) c(i, j) += a(i, k) * b(k, j);
    return c;
}

M transposed(const M& a) {
    M t({a.shape()[1], a.shape()[0]});
    for (std::size_t i = 0; i < a.shape()[0]; ++i)
        for (std::size_t j = 0; j < a.shape()[1]; ++j) t(j, i) = a(i, j);
    return t;
}

/// W·H + b, with b [p×1] added to every column.
M affine(const M& W, const M& H, const M& b) {
    M a = dot(W, H);
    for (std::size_t i = 0; i < a.shape()[0]; ++i)
        for (std::size_t j = 0; j < a.shape()[1]; ++j) a(i, j) += b(i, 0);
    return a;
}

M logistic(const M& a) {
    M h(a.shape());
    for (std::size_t k = 0; k < a.size(); ++k) h.data()[k] = 1.0 / (1.0 + std::exp(-a.data()[k]));
    return h;
}

M softmax_columns(const M& a) {
    M h(a.shape());
    for (std::size_t j = 0; j < a.shape()[1]; ++j) {
        double mx = a(0, j);
        for (std::size_t i = 1; i < a.shape()[0]; ++i) mx = std::max(mx, a(i, j));
        double s = 0;
        for (std::size_t i = 0; i < a.shape()[0]; ++i) s += h(i, j) = std::exp(a(i, j) - mx);
        for (std::size_t i = 0; i < a.shape()[0]; ++i) h(i, j) /= s;
    }
    return h;
}

/// (1/m)·Σ over the columns: [r×m] → [r×1].
M mean_columns(const M& a) {
    const double m = static_cast<double>(a.shape()[1]);
    M s({a.shape()[0], 1}, 0.0);
    for (std::size_t i = 0; i < a.shape()[0]; ++i) {
        for (std::size_t j = 0; j < a.shape()[1]; ++j) s(i, 0) += a(i, j);
        s(i, 0) /= m;
    }
    return s;
}

struct weights {
    M W1, b1, W2, b2;
};

struct gradients {
    double loss = 0;
    M dW1, db1, dW2, db2;
};

enum class output_layer { sigmoid, softmax };

/// The slide's formulas. Y is [1×m] (0/1) for the sigmoid output, one-hot [c×m] for softmax.
gradients slide(const M& X, const M& Y, const weights& w, output_layer out) {
    const double m = static_cast<double>(X.shape()[1]);
    const M H1 = logistic(affine(w.W1, X, w.b1));
    const M A2 = affine(w.W2, H1, w.b2);
    const M H2 = out == output_layer::sigmoid ? logistic(A2) : softmax_columns(A2);

    gradients r;
    for (std::size_t k = 0; k < H2.size(); ++k) {
        const double h = H2.data()[k], y = Y.data()[k];
        r.loss -=
            out == output_layer::sigmoid ? y * std::log(h) + (1 - y) * std::log(1 - h) : y * std::log(h);
    }
    r.loss /= m;

    const M dA2 = H2 - Y;                                        // dA2 = H2 − Y
    r.dW2 = dot(dA2, transposed(H1)) / m;                        // dW2 = (1/m)·dA2·H1ᵀ
    r.db2 = mean_columns(dA2);                                   // db2 = (1/m)·Σ dA2
    const M dA1 = dot(transposed(w.W2), dA2) * H1 * (1.0 - H1);  // dA1 = W2ᵀ·dA2 ⊙ H1(1 − H1)
    r.dW1 = dot(dA1, transposed(X)) / m;                         // dW1 = (1/m)·dA1·Xᵀ
    r.db1 = mean_columns(dA1);                                   // db1 = (1/m)·Σ dA1
    return r;
}

// ------------------------------------------------------------------ the same network on the tape

enum class bias_form { add_bias, plus };

gradients tape(const M& X, const M& Y, const weights& w, output_layer out, bias_form form) {
    xgrad::parameter<double> W1(w.W1, "W1"), b1(w.b1, "b1"), W2(w.W2, "W2"), b2(w.b2, "b2");
    xgrad::graph<double> g;
    V x = g.borrow(X, "X"), y = g.borrow(Y, "Y");
    auto layer = [&](xgrad::parameter<double>& W, const V& h, xgrad::parameter<double>& b) {
        return form == bias_form::add_bias ? xgrad::add_bias(xgrad::matmul(g.param(W), h), g.param(b))
                                           : xgrad::matmul(g.param(W), h) + g.param(b);
    };
    V H1 = xgrad::sigmoid(layer(W1, x, b1)).named("H1");
    V A2 = layer(W2, H1, b2).named("A2");
    V C = out == output_layer::sigmoid ? xgrad::bce_with_logits(A2, y) : xgrad::softmax_cross_entropy(A2, y);
    g.backward(C);
    return gradients{C.item(), W1.grad(), b1.grad(), W2.grad(), b2.grad()};
}

/// Agreement to 1e-12 relative to the largest entry of the expected matrix.
void require_matches(const M& actual, const M& expected, const char* what) {
    double scale = 0;
    for (double v : expected) scale = std::max(scale, std::abs(v));
    INFO(what);
    XGRAD_REQUIRE_CLOSE(actual, expected, 1e-12, 1e-12 * scale);
}

void require_matches(const gradients& a, const gradients& e) {
    REQUIRE(a.loss == Approx(e.loss).epsilon(1e-12));
    require_matches(a.dW1, e.dW1, "dW1");
    require_matches(a.db1, e.db1, "db1");
    require_matches(a.dW2, e.dW2, "dW2");
    require_matches(a.db2, e.db2, "db2");
}

void require_identical(const gradients& a, const gradients& b) {
    REQUIRE(a.loss == b.loss);
    XGRAD_REQUIRE_CLOSE(a.dW1, b.dW1, 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(a.db1, b.db1, 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(a.dW2, b.dW2, 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(a.db2, b.db2, 0.0, 0.0);
}

struct sizes {
    std::size_t n, p, m;
};
// m = 1 (one example), p = 1 (one hidden unit), n = 1, and a mini-batch.
constexpr std::array<sizes, 6> k_sizes{{{2, 3, 5}, {4, 8, 1}, {3, 1, 7}, {1, 2, 1}, {5, 4, 16}, {2, 6, 33}}};

weights random_weights(std::size_t n, std::size_t p, std::size_t outputs, std::uint64_t seed) {
    return {random_matrix(p, n, seed), random_matrix(p, 1, seed + 1),
            random_matrix(outputs, p, seed + 2, -2.0, 2.0), random_matrix(outputs, 1, seed + 3)};
}

/// [1×m] row of integer labels in [0, classes).
M random_labels(std::size_t m, std::size_t classes, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> u(0, classes - 1);
    M labels({1, m});
    for (auto& v : labels) v = static_cast<double>(u(rng));
    return labels;
}

}  // namespace

TEST_CASE("lecture: sigmoid output — the graph's dW1, db1, dW2, db2 equal the slide's formulas",
          "[lecture]") {
    std::uint64_t seed = 100;
    for (const sizes& s : k_sizes) {
        INFO("n = " << s.n << ", p = " << s.p << ", m = " << s.m << ", seed " << seed);
        const M X = random_matrix(s.n, s.m, seed, -2.0, 2.0);
        const M Y = random_labels(s.m, 2, seed + 1);
        const weights w = random_weights(s.n, s.p, 1, seed + 2);
        require_matches(tape(X, Y, w, output_layer::sigmoid, bias_form::add_bias),
                        slide(X, Y, w, output_layer::sigmoid));
        seed += 10;
    }
}

TEST_CASE("lecture: sigmoid output with soft targets (Y between 0 and 1) still gives dA2 = H2 − Y",
          "[lecture]") {
    const M X = random_matrix(3, 6, 200, -2.0, 2.0);
    const M Y = random_matrix(1, 6, 201, 0.0, 1.0);
    const weights w = random_weights(3, 4, 1, 202);
    require_matches(tape(X, Y, w, output_layer::sigmoid, bias_form::add_bias),
                    slide(X, Y, w, output_layer::sigmoid));
}

TEST_CASE("lecture: softmax output with 3 classes — softmax_cross_entropy gives dA2 = H2 − T", "[lecture]") {
    std::uint64_t seed = 300;
    for (const sizes& s : k_sizes) {
        INFO("n = " << s.n << ", p = " << s.p << ", m = " << s.m << ", seed " << seed);
        const M X = random_matrix(s.n, s.m, seed, -2.0, 2.0);
        const M labels = random_labels(s.m, 3, seed + 1);
        const M T = xgrad::one_hot(labels, 3);
        const weights w = random_weights(s.n, s.p, 3, seed + 2);
        const gradients expected = slide(X, T, w, output_layer::softmax);
        require_matches(tape(X, T, w, output_layer::softmax, bias_form::add_bias), expected);
        // a [1×m] row of labels is the same target as its one-hot matrix
        require_matches(tape(X, labels, w, output_layer::softmax, bias_form::add_bias), expected);
        seed += 10;
    }
}

TEST_CASE("lecture: matmul(W1, X) + b1 (broadcasting add) gives gradients identical to add_bias",
          "[lecture]") {
    std::uint64_t seed = 400;
    for (const sizes& s : k_sizes) {
        INFO("n = " << s.n << ", p = " << s.p << ", m = " << s.m << ", seed " << seed);
        const M X = random_matrix(s.n, s.m, seed, -2.0, 2.0);
        {
            const M Y = random_labels(s.m, 2, seed + 1);
            const weights w = random_weights(s.n, s.p, 1, seed + 2);
            const gradients plus = tape(X, Y, w, output_layer::sigmoid, bias_form::plus);
            require_identical(plus, tape(X, Y, w, output_layer::sigmoid, bias_form::add_bias));
            require_matches(plus, slide(X, Y, w, output_layer::sigmoid));
        }
        {
            const M T = xgrad::one_hot(random_labels(s.m, 3, seed + 3), 3);
            const weights w = random_weights(s.n, s.p, 3, seed + 4);
            const gradients plus = tape(X, T, w, output_layer::softmax, bias_form::plus);
            require_identical(plus, tape(X, T, w, output_layer::softmax, bias_form::add_bias));
            require_matches(plus, slide(X, T, w, output_layer::softmax));
        }
        seed += 10;
    }
}

TEST_CASE("lecture: gradient descent with the slide's update W = W − α·dW lowers the loss", "[lecture]") {
    const M X = random_matrix(2, 40, 500, -2.0, 2.0);
    M Y({1, 40});
    for (std::size_t j = 0; j < 40; ++j) Y(0, j) = X(0, j) * X(1, j) > 0 ? 1.0 : 0.0;  // XOR-like quadrants
    weights w = random_weights(2, 6, 1, 501);
    const double first = slide(X, Y, w, output_layer::sigmoid).loss;
    for (int step = 0; step < 200; ++step) {
        const gradients d = tape(X, Y, w, output_layer::sigmoid, bias_form::add_bias);
        w.W1 -= 1.0 * d.dW1;
        w.b1 -= 1.0 * d.db1;
        w.W2 -= 1.0 * d.dW2;
        w.b2 -= 1.0 * d.db2;
    }
    const double last = slide(X, Y, w, output_layer::sigmoid).loss;
    INFO("loss " << first << " → " << last);
    REQUIRE(last < first);
}
