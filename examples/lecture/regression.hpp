// Seed 002, sections 1–6: linear regression by gradient descent (one feature, then several) and vectorised
// logistic regression, on the graph, beside the slide's hand-derived formulas.
//
// Layout: the slide stacks the weights λ₁…λₙ in a column W and writes A = WᵀX + b. xgrad stores a layer's
// weights as rows (W is [units × inputs]), so the slide's Wᵀ is xgrad's W [1×n] and the graph's dW is the
// slide's dλ transposed.
#pragma once

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "figures.hpp"

namespace lecture {

using mat = xgrad::matrix<double>;

namespace detail {

/// Solves the square system M·x = v by Gaussian elimination with partial pivoting (small systems only).
inline std::vector<double> solve(std::vector<std::vector<double>> M, std::vector<double> v) {
    const std::size_t n = v.size();
    for (std::size_t c = 0; c < n; ++c) {
        std::size_t piv = c;
        for (std::size_t r = c + 1; r < n; ++r)
            if (std::abs(M[r][c]) > std::abs(M[piv][c])) piv = r;
        std::swap(M[c], M[piv]);
        std::swap(v[c], v[piv]);
        for (std::size_t r = c + 1; r < n; ++r) {
            const double f = M[r][c] / M[c][c];
            for (std::size_t k = c; k < n; ++k) M[r][k] -= f * M[c][k];
            v[r] -= f * v[c];
        }
    }
    std::vector<double> x(n);
    for (std::size_t c = n; c-- > 0;) {
        double s = v[c];
        for (std::size_t k = c + 1; k < n; ++k) s -= M[c][k] * x[k];
        x[c] = s / M[c][c];
    }
    return x;
}

inline double logistic(double a) {
    return 1 / (1 + std::exp(-a));
}

}  // namespace detail

// ------------------------------------------------------------------------------------------- linear

struct linear_regression_run {
    std::size_t n = 0, m = 0;
    double alpha = 0;
    mat X, Y;                    // X [n×m], Y [1×m]
    std::vector<double> cost;    // C = (1/(2m)) Σ (h − y)², before each step
    mat dW_graph, db_graph;      // the graph's first gradients
    mat dW_formula, db_formula;  // dλ = (1/m)·E·Xᵀ, db = (1/m)·Σ E, from plain loops
    mat W, b;                    // after the last step
    mat W_exact, b_exact;        // least squares, from the normal equations
};

/// y = b* + w*·x + noise on m points with n features in [0, 1]; gradient descent from zero with step α.
inline linear_regression_run run_linear_regression(std::size_t n, int steps, double alpha,
                                                   std::uint64_t seed = 1) {
    linear_regression_run r;
    r.n = n;
    r.m = 60;
    r.alpha = alpha;
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<double> noise(0.0, 0.1);
    const std::vector<double> w_true =
        n == 1 ? std::vector<double>{3.0} : std::vector<double>{1.5, -2.0, 0.5};
    const double b_true = n == 1 ? 2.0 : 1.0;
    r.X = mat({n, r.m});
    r.Y = mat({1, r.m});
    for (std::size_t j = 0; j < r.m; ++j) {
        double y = b_true;
        for (std::size_t i = 0; i < n; ++i) {
            r.X(i, j) = u(rng);
            y += w_true[i % w_true.size()] * r.X(i, j);
        }
        r.Y(0, j) = y + noise(rng);
    }

    xgrad::parameter<double> W(mat({1, n}, 0.0), "W"), b(mat({1, 1}, 0.0), "b");
    xgrad::graph<double> g;
    for (int step = 0; step <= steps; ++step) {
        g.clear();
        W.zero_grad();
        b.zero_grad();
        auto X = g.borrow(r.X, "X"), Y = g.borrow(r.Y, "Y");
        auto H = xgrad::add_bias(xgrad::matmul(g.param(W), X), g.param(b)).named("H");  // h(x) = W·X + b
        auto C = xgrad::mse(H, Y).named("C");  // C = (1/(2m)) Σ (h − y)²
        r.cost.push_back(C.item());
        if (step == steps) break;
        g.backward(C);
        if (step == 0) {
            r.dW_graph = W.grad();
            r.db_graph = b.grad();
            r.dW_formula = mat({1, n}, 0.0);
            r.db_formula = mat({1, 1}, 0.0);
            for (std::size_t j = 0; j < r.m; ++j) {
                const double e = H.value()(0, j) - r.Y(0, j);  // E = H − Y
                for (std::size_t i = 0; i < n; ++i) r.dW_formula(0, i) += e * r.X(i, j) / double(r.m);
                r.db_formula(0, 0) += e / double(r.m);
            }
        }
        W.value() -= alpha * W.grad();  // W = W − α·dW
        b.value() -= alpha * b.grad();  // b = b − α·db
    }
    r.W = W.value();
    r.b = b.value();

    // Least squares: [1; x] augmented, normal equations (ZᵀZ)θ = Zᵀy.
    const std::size_t p = n + 1;
    std::vector<std::vector<double>> M(p, std::vector<double>(p, 0.0));
    std::vector<double> v(p, 0.0);
    for (std::size_t j = 0; j < r.m; ++j) {
        std::vector<double> z{1.0};
        for (std::size_t i = 0; i < n; ++i) z.push_back(r.X(i, j));
        for (std::size_t a = 0; a < p; ++a) {
            v[a] += z[a] * r.Y(0, j);
            for (std::size_t c = 0; c < p; ++c) M[a][c] += z[a] * z[c];
        }
    }
    const auto theta = detail::solve(M, v);
    r.b_exact = mat({1, 1}, theta[0]);
    r.W_exact = mat({1, n});
    for (std::size_t i = 0; i < n; ++i) r.W_exact(0, i) = theta[i + 1];
    return r;
}

inline void print(std::FILE* out, const linear_regression_run& r) {
    auto row = [](const mat& m) {
        std::string s = "[";
        for (std::size_t k = 0; k < m.size(); ++k) s += fmt::format("{}{:.6f}", k ? ", " : "", m.data()[k]);
        return s + "]";
    };
    fmt::print(out, "Linear regression, {} feature{}, m = {} examples as columns of X [{}×{}], α = {}\n", r.n,
               r.n == 1 ? "" : "s", r.m, r.n, r.m, r.alpha);
    fmt::print(
        out, "  h = W·X + b,  C = (1/(2m)) Σ (h − y)²,  dλ = (1/m)·E·Xᵀ and db = (1/m)·Σ E with E = H − Y\n");
    fmt::print(out, "  first step:  graph dW = {}   formula = {}\n", row(r.dW_graph), row(r.dW_formula));
    fmt::print(out, "               graph db = {}   formula = {}\n", row(r.db_graph), row(r.db_formula));
    const std::size_t steps = r.cost.size() - 1;
    for (std::size_t s = 0; s <= steps; s += steps / 8 > 0 ? steps / 8 : 1)
        fmt::print(out, "  step {:5}  cost {:.8f}\n", s, r.cost[s]);
    fmt::print(out, "  after {} steps: W = {}, b = {:.6f}\n", steps, row(r.W), r.b(0, 0));
    fmt::print(out, "  least squares:    W = {}, b = {:.6f}   (normal equations)\n", row(r.W_exact),
               r.b_exact(0, 0));
}

// ----------------------------------------------------------------------------------------- logistic

struct logistic_regression_run {
    std::size_t n = 2, m = 200;
    double alpha = 0;
    int steps = 0;
    mat X, Y;
    // One gradient, at W0 = [0.3, −0.2], b0 = 0.1.
    mat dW_graph, db_graph;           // cross-entropy through the graph: (1/m)·E·Xᵀ, (1/m)·Σ E
    mat dlambda_slide, db_slide;      // the slide: (1/(2m))·X·Eᵀ [n×1], (1/(2m))·Σ E
    mat dW_squared_error;             // the graph's gradient of (1/(2m)) Σ (σ(A) − Y)², for contrast
    double ratio_w = 0, ratio_b = 0;  // graph / slide, element by element (the same for every element)
    double ratio_spread = 0;          // largest deviation of any element's ratio from ratio_w
    // Descent: the graph's gradient with α; the slide's with α; the graph's with α/2.
    std::vector<double> cost_graph, cost_slide;
    mat W_slide, b_slide, W_graph_half, b_graph_half;
    double accuracy = 0;  // of the graph-gradient run, on the training set
};

inline logistic_regression_run run_logistic_regression(int steps, double alpha, std::uint64_t seed = 2) {
    logistic_regression_run r;
    r.alpha = alpha;
    r.steps = steps;
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> gauss(0.0, 0.8);
    r.X = mat({r.n, r.m});
    r.Y = mat({1, r.m});
    for (std::size_t j = 0; j < r.m; ++j) {
        const bool pos = j % 2 == 0;
        r.X(0, j) = (pos ? 1.0 : -1.0) + gauss(rng);
        r.X(1, j) = (pos ? 1.0 : -0.5) + gauss(rng);
        r.Y(0, j) = pos ? 1.0 : 0.0;
    }
    const double m = static_cast<double>(r.m);
    const mat W0{{0.3, -0.2}}, b0{{0.1}};

    // The graph: A = W·X + b, C = binary cross-entropy of σ(A) (fused), and the squared error for contrast.
    {
        xgrad::parameter<double> W(W0, "W"), b(b0, "b");
        xgrad::graph<double> g;
        auto X = g.borrow(r.X, "X"), Y = g.borrow(r.Y, "Y");
        auto A = xgrad::add_bias(xgrad::matmul(g.param(W), X), g.param(b)).named("A");
        g.backward(xgrad::bce_with_logits(A, Y));
        r.dW_graph = W.grad();
        r.db_graph = b.grad();
        W.zero_grad();
        b.zero_grad();
        g.backward(xgrad::mse(xgrad::sigmoid(A), Y));
        r.dW_squared_error = W.grad();
    }
    // The slide, with plain loops: A = WᵀX + b, H = logistic(A), E = H − Y, db = (1/(2m))ΣE, dλ =
    // (1/(2m))XEᵀ.
    r.dlambda_slide = mat({r.n, 1}, 0.0);
    r.db_slide = mat({1, 1}, 0.0);
    for (std::size_t j = 0; j < r.m; ++j) {
        double a = b0(0, 0);
        for (std::size_t i = 0; i < r.n; ++i) a += W0(0, i) * r.X(i, j);
        const double e = detail::logistic(a) - r.Y(0, j);
        for (std::size_t i = 0; i < r.n; ++i) r.dlambda_slide(i, 0) += r.X(i, j) * e / (2 * m);
        r.db_slide(0, 0) += e / (2 * m);
    }
    r.ratio_w = r.dW_graph(0, 0) / r.dlambda_slide(0, 0);
    r.ratio_b = r.db_graph(0, 0) / r.db_slide(0, 0);
    for (std::size_t i = 0; i < r.n; ++i)
        r.ratio_spread =
            std::max(r.ratio_spread, std::abs(r.dW_graph(0, i) / r.dlambda_slide(i, 0) - r.ratio_w));
    r.ratio_spread = std::max(r.ratio_spread, std::abs(r.ratio_b - r.ratio_w));

    // Three descents from W0, b0.
    auto descend = [&](double step_size, bool slide_gradient, std::vector<double>* costs, mat& W_out,
                       mat& b_out, double* accuracy) {
        xgrad::parameter<double> W(W0, "W"), b(b0, "b");
        xgrad::graph<double> g;
        for (int s = 0; s <= steps; ++s) {
            g.clear();
            W.zero_grad();
            b.zero_grad();
            auto X = g.borrow(r.X, "X"), Y = g.borrow(r.Y, "Y");
            auto A = xgrad::add_bias(xgrad::matmul(g.param(W), X), g.param(b)).named("A");
            auto C = xgrad::bce_with_logits(A, Y).named("C");
            if (costs) costs->push_back(C.item());
            if (s == steps) {
                if (accuracy) {
                    std::size_t right = 0;
                    for (std::size_t j = 0; j < r.m; ++j) right += (A.value()(0, j) > 0) == (r.Y(0, j) > 0.5);
                    *accuracy = static_cast<double>(right) / m;
                }
                break;
            }
            if (!slide_gradient) {
                g.backward(C);
                W.value() -= step_size * W.grad();  // W = W − α·dW
                b.value() -= step_size * b.grad();
            } else {
                mat dl({1, r.n}, 0.0), db({1, 1}, 0.0);
                for (std::size_t j = 0; j < r.m; ++j) {
                    const double e = detail::logistic(A.value()(0, j)) - r.Y(0, j);
                    for (std::size_t i = 0; i < r.n; ++i) dl(0, i) += r.X(i, j) * e / (2 * m);
                    db(0, 0) += e / (2 * m);
                }
                W.value() -= step_size * dl;
                b.value() -= step_size * db;
            }
        }
        W_out = W.value();
        b_out = b.value();
    };
    mat W_full, b_full;
    descend(alpha, false, &r.cost_graph, W_full, b_full, &r.accuracy);
    descend(alpha, true, &r.cost_slide, r.W_slide, r.b_slide, nullptr);
    descend(alpha / 2, false, nullptr, r.W_graph_half, r.b_graph_half, nullptr);
    return r;
}

inline void print(std::FILE* out, const logistic_regression_run& r) {
    auto row = [](const mat& m) {
        std::string s = "[";
        for (std::size_t k = 0; k < m.size(); ++k) s += fmt::format("{}{:.8f}", k ? ", " : "", m.data()[k]);
        return s + "]";
    };
    fmt::print(out,
               "Vectorised logistic regression (seed 002), n = {} features, m = {} examples as columns\n",
               r.n, r.m);
    fmt::print(
        out, "  the slide: A = WᵀX + b, H = logistic(A), E = H − Y, db = (1/(2m))·ΣE, dλ = (1/(2m))·X·Eᵀ\n");
    fmt::print(out, "  the graph: A = W·X + b (W [1×n] is the slide's Wᵀ), C = bce_with_logits(A, Y)\n\n");
    fmt::print(out, "  at W = [0.3, −0.2], b = 0.1:\n");
    fmt::print(out, "    the slide's dλᵀ = {}   db = {}\n",
               row(xgrad::matrix<double>(xt::transpose(r.dlambda_slide))), row(r.db_slide));
    fmt::print(out, "    the graph's dW  = {}   db = {}\n", row(r.dW_graph), row(r.db_graph));
    fmt::print(out, "    graph ÷ slide = {:.12f} for every entry (spread {:.1e})\n", r.ratio_w,
               r.ratio_spread);
    fmt::print(
        out,
        "\n  Why a factor of {:.0f}: the graph differentiates the cross-entropy C = −(1/m) Σ [y ln h + (1 − "
        "y) "
        "ln(1 − h)],\n  whose gradient is (1/m)·X·Eᵀ — the σ′ = h(1 − h) of the logistic cancels against "
        "the 1/(h(1 − h)) of the\n  log. The slide's 1/(2m) is the ½ of the squared-error cost (1/(2m)) "
        "Σ (h − y)², kept after differentiating,\n  where the 2 of the square should have cancelled it "
        "(the likeliest origin). Neither cost has (1/(2m))·X·Eᵀ\n  as its gradient: for the squared error "
        "through the logistic the graph gives dW = {}, whose\n  entries are {:.4f} and {:.4f} times the "
        "slide's — not one common factor.\n",
        r.ratio_w, row(r.dW_squared_error), r.dW_squared_error(0, 0) / r.dlambda_slide(0, 0),
        r.dW_squared_error(0, 1) / r.dlambda_slide(1, 0));
    fmt::print(out,
               "  The direction is still right, so the slide's rule is gradient descent on the cross-entropy "
               "with α/2:\n    {} steps of the slide's rule at α = {}:  W = {}, b = {}\n    {} steps of the "
               "graph's at α/2 = {}:   W = {}, b = {}\n",
               r.steps, r.alpha, row(r.W_slide), row(r.b_slide), r.steps, r.alpha / 2, row(r.W_graph_half),
               row(r.b_graph_half));
    fmt::print(
        out,
        "  The slide's sums run i = 0 … m: that is m + 1 terms for m examples numbered 1 … m (the slide's "
        "own loop\n  is range(1, m+1)); the sum should start at i = 1.\n\n");
    const std::size_t steps = r.cost_graph.size() - 1;
    fmt::print(out, "  cost (cross-entropy)   graph's dW, α = {}   slide's dλ, α = {}\n", r.alpha, r.alpha);
    for (std::size_t s = 0; s <= steps; s += steps / 8 > 0 ? steps / 8 : 1)
        fmt::print(out, "    step {:5}            {:.8f}            {:.8f}\n", s, r.cost_graph[s],
                   r.cost_slide[s]);
    fmt::print(out, "  training accuracy after {} steps: {:.1f}%\n", steps, 100 * r.accuracy);
}

}  // namespace lecture
