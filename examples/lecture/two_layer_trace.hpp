// Seed 002, "Vectorized Back Propagation": the two-layer network with a logistic output, its backward pass
// printed node by node by the trace (each rule with the network's names) and drawn as a graph.
//
//   A1 = W1·X + b1    H1 = σ(A1)              X [2×5]: two features, five examples as columns
//   A2 = W2·H1 + b2   C = cross-entropy of σ(A2) against Y (bce_with_logits)
#pragma once

#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include <fmt/format.h>
#include <xgrad/xgrad.hpp>

namespace lecture {

struct traced_network {
    std::string trace;     // what the trace printed
    std::string dot;       // the graph after backward, with values and gradients
    double slide_gap = 0;  // largest |graph − slide formula| over dW1, db1, dW2, db2
};

/// Records the network, runs backward with the trace writing to `out` (nullptr: keep the text only).
inline traced_network run_traced_two_layer(std::FILE* out) {
    using xgrad::matrix;
    const std::size_t n = 2, p = 4, m = 5;
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    auto random = [&](std::size_t r, std::size_t c) {
        matrix<double> a({r, c});
        for (auto& v : a) v = u(rng);
        return a;
    };
    const matrix<double> Xv = random(n, m);
    matrix<double> Yv({1, m});
    for (std::size_t j = 0; j < m; ++j) Yv(0, j) = Xv(0, j) + Xv(1, j) > 0 ? 1.0 : 0.0;
    xgrad::parameter<double> W1(random(p, n), "W1"), b1(random(p, 1), "b1");
    xgrad::parameter<double> W2(random(1, p), "W2"), b2(random(1, 1), "b2");

    xgrad::graph<double> g;
    auto X = g.borrow(Xv, "X"), Y = g.borrow(Yv, "Y");
    auto A1 = xgrad::add_bias(xgrad::matmul(g.param(W1), X), g.param(b1)).named("A1");
    auto H1 = xgrad::sigmoid(A1).named("H1");
    auto A2 = xgrad::add_bias(xgrad::matmul(g.param(W2), H1), g.param(b2)).named("A2");
    auto C = xgrad::bce_with_logits(A2, Y).named("C");

    traced_network r;
    r.trace = xgrad::trace_backward(g, C, out);
    xgrad::dot_options o;
    o.title = "A1 = W1·X + b1,  H1 = σ(A1),  A2 = W2·H1 + b2,  C = cross-entropy(σ(A2), Y)";
    o.values = true;
    o.gradients = true;
    r.dot = xgrad::to_dot(g, o);

    // The slide's formulas on plain matrices.
    const double md = static_cast<double>(m);
    const matrix<double>& h1 = H1.value();
    matrix<double> dA2({1, m}), dW2({1, p}, 0.0), db2({1, 1}, 0.0), dW1({p, n}, 0.0), db1({p, 1}, 0.0);
    for (std::size_t j = 0; j < m; ++j)
        dA2(0, j) = 1 / (1 + std::exp(-A2.value()(0, j))) - Yv(0, j);  // H2 − Y
    for (std::size_t j = 0; j < m; ++j) {
        db2(0, 0) += dA2(0, j) / md;
        for (std::size_t k = 0; k < p; ++k) {
            dW2(0, k) += dA2(0, j) * h1(k, j) / md;
            const double da1 = W2.value()(0, k) * dA2(0, j) * h1(k, j) * (1 - h1(k, j));
            db1(k, 0) += da1 / md;
            for (std::size_t q = 0; q < n; ++q) dW1(k, q) += da1 * Xv(q, j) / md;
        }
    }
    auto gap = [](const matrix<double>& a, const matrix<double>& b) {
        double w = 0;
        for (std::size_t k = 0; k < a.size(); ++k) w = std::max(w, std::abs(a.data()[k] - b.data()[k]));
        return w;
    };
    r.slide_gap =
        std::max({gap(W1.grad(), dW1), gap(b1.grad(), db1), gap(W2.grad(), dW2), gap(b2.grad(), db2)});
    return r;
}

}  // namespace lecture
