// torch_spiral.cpp — the libtorch equivalent of examples/downstream/main.cpp (with its swish.hpp), used only
// to compare the time to compile one model file (see measure.sh and docs/extending.md). Not built by CMake;
// libtorch is never a dependency of xgrad.
//
// The same model: a custom swish op with its own backward (an autograd::Function), three linear layers,
// Adam, mini-batches of 50, softmax cross-entropy, 150 epochs on three spirals of 600 points, in float.
#include <cmath>
#include <cstdio>

#include <torch/torch.h>

// The user's own op: Y = X ⊙ σ(X), saving S = σ(X); dX = dY ⊙ (Y + S(1 − Y)).
struct swish_fn : torch::autograd::Function<swish_fn> {
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
        auto s = torch::sigmoid(x);
        auto y = x * s;
        ctx->save_for_backward({y, s});
        return y;
    }
    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::tensor_list grads) {
        const auto saved = ctx->get_saved_variables();
        const auto &y = saved[0], &s = saved[1];
        return {grads[0] * (y + s * (1 - y))};
    }
};
torch::Tensor swish(const torch::Tensor& x) {
    return swish_fn::apply(x);
}

struct SpiralNetImpl : torch::nn::Module {
    torch::nn::Linear l1{nullptr}, l2{nullptr}, l3{nullptr};
    SpiralNetImpl()
        : l1(register_module("l1", torch::nn::Linear(2, 32))),
          l2(register_module("l2", torch::nn::Linear(32, 32))),
          l3(register_module("l3", torch::nn::Linear(32, 3))) {}
    torch::Tensor forward(const torch::Tensor& x) { return l3(swish(l2(swish(l1(x))))); }
};
TORCH_MODULE(SpiralNet);

// Three interleaved spirals (xgrad::data::make_spiral's recipe); rows are examples here.
std::pair<torch::Tensor, torch::Tensor> make_spiral(int n, int arms, double noise) {
    auto x = torch::empty({n, 2});
    auto y = torch::empty({n}, torch::kLong);
    const int m = n / arms;
    for (int k = 0; k < arms; ++k) {
        for (int i = 0; i < m; ++i) {
            const double r = 5.0 * i / m, t = 1.75 * 2 * M_PI * i / m + 2 * M_PI * k / arms;
            const auto jitter = torch::rand({2}) * 2 - 1;
            x[k * m + i][0] = r * std::sin(t) + noise * jitter[0].item<double>();
            x[k * m + i][1] = r * std::cos(t) + noise * jitter[1].item<double>();
            y[k * m + i] = k;
        }
    }
    return {x, y};
}

int main() {
    torch::manual_seed(1);
    const auto [X, Y] = make_spiral(600, 3, 0.2);
    SpiralNet net;
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(0.01));
    const int n = int(X.size(0)), batch = 50;

    double first = 0, last = 0;
    for (int epoch = 1; epoch <= 150; ++epoch) {
        const auto perm = torch::randperm(n);
        double total = 0;
        for (int b = 0; b < n; b += batch) {
            const auto idx = perm.slice(0, b, std::min(b + batch, n));
            opt.zero_grad();
            auto loss = torch::nn::functional::cross_entropy(net->forward(X.index_select(0, idx)),
                                                             Y.index_select(0, idx));
            loss.backward();
            opt.step();
            total += loss.item<double>();
        }
        last = total / ((n + batch - 1) / batch);
        if (epoch == 1) first = last;
        if (epoch % 30 == 0) std::printf("epoch %3d  loss %.4f\n", epoch, last);
    }
    torch::NoGradGuard no_grad;
    const double accuracy = (net->forward(X).argmax(1) == Y).to(torch::kFloat).mean().item<double>();
    std::printf("loss %.4f → %.4f; accuracy %.1f%%\n", first, last, 100 * accuracy);
    return accuracy > 0.95 ? 0 : 1;
}
