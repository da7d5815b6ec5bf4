// The lecture's two-layer network, trained by gradient descent on a small generated data set.
//
//   A[1] = W[1]·X + b[1]    H[1] = σ(A[1])     (hidden layer, p units)
//   A[2] = W[2]·H[1] + b[2] H[2] = σ(A[2])     (one output unit: binary classification)
//   C = binary cross-entropy of H[2] against Y, averaged over the m examples (columns)
//
// backward() produces dW[2] = (1/m)·dA[2]·H[1]ᵀ, db[2] = (1/m)·Σ dA[2], dW[1] = (1/m)·dA[1]·Xᵀ, … and the
// update is the slide's W = W − α·dW.
//
// The data: m points in the plane, labelled 1 inside the circle of radius 1 and 0 outside — a problem a
// single logistic unit cannot solve but a hidden layer can.
#include <cstdio>
#include <cstdlib>
#include <random>

#include <xgrad/xgrad.hpp>

int main(int argc, char** argv) {
    using xgrad::matrix;
    const int epochs = argc > 1 ? std::atoi(argv[1]) : 2000;
    const std::size_t m = 200, n = 2, p = 8;
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> coord(-2.0, 2.0);
    std::normal_distribution<double> init(0.0, 1.0);

    matrix<double> X({n, m}), Y({1, m});
    for (std::size_t j = 0; j < m; ++j) {
        X(0, j) = coord(rng);
        X(1, j) = coord(rng);
        Y(0, j) = X(0, j) * X(0, j) + X(1, j) * X(1, j) < 1.5 ? 1.0 : 0.0;
    }
    auto randn = [&](std::size_t r, std::size_t c, double scale) {
        matrix<double> w({r, c});
        for (auto& v : w) v = scale * init(rng);
        return w;
    };
    xgrad::parameter<double> W1(randn(p, n, 1.0), "W1"), b1(matrix<double>({p, 1}, 0.0), "b1");
    xgrad::parameter<double> W2(randn(1, p, 0.5), "W2"), b2(matrix<double>({1, 1}, 0.0), "b2");
    const double alpha = 1.0;

    xgrad::graph<double> g;
    double first = 0, last = 0;
    for (int epoch = 0; epoch <= epochs; ++epoch) {
        g.clear();  // record the step again; buffers are reused
        for (auto* q : {&W1, &b1, &W2, &b2}) q->zero_grad();
        auto x = g.borrow(X, "X"), y = g.borrow(Y, "Y");
        auto A1 = xgrad::add_bias(xgrad::matmul(g.param(W1), x), g.param(b1)).named("A1");
        auto H1 = xgrad::sigmoid(A1).named("H1");
        auto A2 = xgrad::add_bias(xgrad::matmul(g.param(W2), H1), g.param(b2)).named("A2");
        auto C = xgrad::bce_with_logits(A2, y).named("C");  // H[2] = σ(A[2]) is fused into the loss
        g.backward(C);
        for (auto* q : {&W1, &b1, &W2, &b2}) q->value() -= alpha * q->grad();  // W = W − α·dW

        if (epoch == 0) first = C.item();
        last = C.item();
        if (epoch % (epochs / 10 > 0 ? epochs / 10 : 1) == 0) {
            const auto& h2 = A2.value();
            std::size_t correct = 0;
            for (std::size_t j = 0; j < m; ++j) correct += (h2(0, j) > 0) == (Y(0, j) > 0.5);
            std::printf("epoch %5d  loss %.6f  accuracy %.1f%%\n", epoch, C.item(), 100.0 * correct / m);
        }
    }
    std::printf("loss fell from %.6f to %.6f\n", first, last);
    return last < first ? 0 : 1;
}
