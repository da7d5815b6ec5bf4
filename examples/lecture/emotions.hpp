// Seed 002, "Softmax Activation Layer": a three-class classifier (sad / happy / angry) trained end to end.
// The faces are a generated stand-in: two measurements per face, mouth curvature (frown −1 … smile +1) and
// brow height (lowered −1 … raised +1), scattered around one centre per emotion.
//
//   A1 = W1·X + b1, H1 = σ(A1)         hidden layer, 6 units
//   A2 = W2·H1 + b2, H2 = softmax(A2)  one output unit per class; the loss is the cross-entropy
//   dA2 = H2 − T, dW2 = (1/m)·dA2·H1ᵀ, …  (the slide's backprop; the graph's dA2 already carries 1/m)
#pragma once

#include <array>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <xgrad/xgrad.hpp>

namespace lecture {

struct emotion_run {
    std::array<std::string, 3> classes{"sad", "happy", "angry"};
    xgrad::matrix<double> X_train, Y_train, X_test, Y_test;  // X [2×m], Y [1×m] labels 0, 1, 2
    std::vector<double> loss;                                // training loss before each step
    double train_accuracy = 0, test_accuracy = 0;
    std::array<std::array<int, 3>, 3> confusion{};  // test set: [true][predicted]
    double first_step_gap = 0;  // largest |graph − slide formula| over dW1, db1, dW2, db2 at step 0
    xgrad::matrix<double> face, face_probabilities;  // two new faces (columns) and what the trained net says
    double alpha = 0;
};

namespace detail {

inline void make_faces(std::size_t per_class, std::uint64_t seed, xgrad::matrix<double>& X,
                       xgrad::matrix<double>& Y) {
    // centres (mouth, brow): sad (−0.8, 0.6), happy (0.9, 0.2), angry (−0.5, −0.8)
    const double cx[3] = {-0.8, 0.9, -0.5}, cy[3] = {0.6, 0.2, -0.8};
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> spread(0.0, 0.3);
    const std::size_t m = 3 * per_class;
    X = xgrad::matrix<double>({2, m});
    Y = xgrad::matrix<double>({1, m});
    for (std::size_t j = 0; j < m; ++j) {
        const std::size_t c = j % 3;  // classes interleaved
        X(0, j) = cx[c] + spread(rng);
        X(1, j) = cy[c] + spread(rng);
        Y(0, j) = static_cast<double>(c);
    }
}

inline std::size_t argmax_column(const xgrad::matrix<double>& a, std::size_t j) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < a.shape()[0]; ++i)
        if (a(i, j) > a(best, j)) best = i;
    return best;
}

}  // namespace detail

inline emotion_run run_emotions(int steps = 300, double alpha = 2.0, std::uint64_t seed = 5) {
    using xgrad::matrix;
    emotion_run r;
    r.alpha = alpha;
    detail::make_faces(50, seed, r.X_train, r.Y_train);
    detail::make_faces(50, seed + 100, r.X_test, r.Y_test);
    const std::size_t n = 2, p = 6, c = 3, m = r.X_train.shape()[1];
    std::mt19937_64 rng(seed + 1);
    std::normal_distribution<double> init(0.0, 0.5);
    auto randn = [&](std::size_t rows, std::size_t cols) {
        matrix<double> w({rows, cols});
        for (auto& v : w) v = init(rng);
        return w;
    };
    xgrad::parameter<double> W1(randn(p, n), "W1"), b1(matrix<double>({p, 1}, 0.0), "b1");
    xgrad::parameter<double> W2(randn(c, p), "W2"), b2(matrix<double>({c, 1}, 0.0), "b2");
    const matrix<double> T = xgrad::one_hot(r.Y_train, c);  // one-hot targets [3×m]

    xgrad::graph<double> g;
    for (int step = 0; step <= steps; ++step) {
        g.clear();
        for (auto* q : {&W1, &b1, &W2, &b2}) q->zero_grad();
        auto X = g.borrow(r.X_train, "X"), Y = g.borrow(T, "T");
        auto H1 = xgrad::sigmoid(xgrad::add_bias(xgrad::matmul(g.param(W1), X), g.param(b1))).named("H1");
        auto A2 = xgrad::add_bias(xgrad::matmul(g.param(W2), H1), g.param(b2)).named("A2");
        auto C = xgrad::softmax_cross_entropy(A2, Y).named("C");
        r.loss.push_back(C.item());
        if (step == steps) {
            std::size_t right = 0;
            for (std::size_t j = 0; j < m; ++j)
                right += detail::argmax_column(A2.value(), j) == r.Y_train(0, j);
            r.train_accuracy = static_cast<double>(right) / static_cast<double>(m);
            break;
        }
        g.backward(C);
        if (step == 0) {  // the slide's formulas, evaluated on plain matrices
            const double md = static_cast<double>(m);
            const matrix<double> H1v = H1.value();
            matrix<double> H2({c, m});
            for (std::size_t j = 0; j < m; ++j) {
                double s = 0;
                for (std::size_t i = 0; i < c; ++i) s += H2(i, j) = std::exp(A2.value()(i, j));
                for (std::size_t i = 0; i < c; ++i) H2(i, j) /= s;
            }
            const matrix<double> dA2 = H2 - T;  // dA[2] = H[2] − Y
            matrix<double> dW2({c, p}, 0.0), db2({c, 1}, 0.0), dA1({p, m}, 0.0), dW1({p, n}, 0.0),
                db1({p, 1}, 0.0);
            for (std::size_t i = 0; i < c; ++i)
                for (std::size_t j = 0; j < m; ++j) {
                    db2(i, 0) += dA2(i, j) / md;
                    for (std::size_t k = 0; k < p; ++k) dW2(i, k) += dA2(i, j) * H1v(k, j) / md;
                }
            for (std::size_t k = 0; k < p; ++k)
                for (std::size_t j = 0; j < m; ++j) {
                    double s = 0;
                    for (std::size_t i = 0; i < c; ++i) s += W2.value()(i, k) * dA2(i, j);
                    dA1(k, j) = s * H1v(k, j) * (1 - H1v(k, j));  // dA[1] = W[2]ᵀ·dA[2] ⊙ H[1](1 − H[1])
                    db1(k, 0) += dA1(k, j) / md;
                    for (std::size_t q = 0; q < n; ++q) dW1(k, q) += dA1(k, j) * r.X_train(q, j) / md;
                }
            auto gap = [](const matrix<double>& a, const matrix<double>& b) {
                double w = 0;
                for (std::size_t k = 0; k < a.size(); ++k)
                    w = std::max(w, std::abs(a.data()[k] - b.data()[k]));
                return w;
            };
            r.first_step_gap = std::max(
                {gap(W1.grad(), dW1), gap(b1.grad(), db1), gap(W2.grad(), dW2), gap(b2.grad(), db2)});
        }
        for (auto* q : {&W1, &b1, &W2, &b2}) q->value() -= alpha * q->grad();  // W = W − α·dW
    }

    // The test set and one new face, without recording history.
    xgrad::no_grad ng;
    xgrad::graph<double> e;
    auto logits = [&](const matrix<double>& x) {
        auto X = e.constant(x);
        auto H1 = xgrad::sigmoid(xgrad::add_bias(xgrad::matmul(e.param(W1), X), e.param(b1)));
        return xgrad::add_bias(xgrad::matmul(e.param(W2), H1), e.param(b2));
    };
    const auto At = logits(r.X_test);
    std::size_t right = 0;
    for (std::size_t j = 0; j < r.X_test.shape()[1]; ++j) {
        const std::size_t pred = detail::argmax_column(At.value(), j),
                          truth = static_cast<std::size_t>(r.Y_test(0, j));
        right += pred == truth;
        ++r.confusion[truth][pred];
    }
    r.test_accuracy = static_cast<double>(right) / static_cast<double>(r.X_test.shape()[1]);
    r.face = matrix<double>{{0.7, -0.65}, {0.1, -0.1}};  // a smile with level brows; a frown, brows a bit low
    r.face_probabilities = xgrad::softmax(logits(r.face)).value();
    return r;
}

inline void print(std::FILE* out, const emotion_run& r) {
    fmt::print(
        out,
        "A three-class softmax classifier (sad / happy / angry), trained with the slide's W = W − α·dW\n");
    fmt::print(out,
               "  faces: 2 measurements (mouth curvature, brow height); {} for training, {} for testing\n",
               r.X_train.shape()[1], r.X_test.shape()[1]);
    fmt::print(out,
               "  network: A1 = W1·X + b1, H1 = σ(A1) [6 units], A2 = W2·H1 + b2, H2 = softmax(A2), α = {}\n",
               r.alpha);
    fmt::print(
        out,
        "  first step: the graph's dW1, db1, dW2, db2 differ from the slide's formulas by at most {:.2e}\n\n",
        r.first_step_gap);
    const std::size_t steps = r.loss.size() - 1;
    for (std::size_t s = 0; s <= steps; s += steps / 6 > 0 ? steps / 6 : 1)
        fmt::print(out, "  step {:5}  cross-entropy {:.5f}\n", s, r.loss[s]);
    fmt::print(out, "\n  accuracy: {:.1f}% on the training faces, {:.1f}% on new ones\n",
               100 * r.train_accuracy, 100 * r.test_accuracy);
    fmt::print(out,
               "  confusion on new faces (rows: true, columns: predicted):\n           sad  happy  angry\n");
    for (std::size_t t = 0; t < 3; ++t)
        fmt::print(out, "    {:<6}{:5}{:7}{:7}\n", r.classes[t], r.confusion[t][0], r.confusion[t][1],
                   r.confusion[t][2]);
    const char* what[2] = {"a smile, level brows", "a frown, brows a little low"};
    for (std::size_t j = 0; j < 2; ++j) {
        fmt::print(out, "  {} (mouth {}, brow {}): sad {:.3f}, happy {:.3f}, angry {:.3f}\n", what[j],
                   r.face(0, j), r.face(1, j), r.face_probabilities(0, j), r.face_probabilities(1, j),
                   r.face_probabilities(2, j));
    }
}

}  // namespace lecture
