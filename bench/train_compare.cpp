// End to end: examples per second of xgrad's training loop (what `xgrad train` runs) beside an equivalent
// libtorch loop, on the same Fashion-MNIST data (standardized), the same 784-256-10 ReLU model, Adam, batch
// 64, one thread (or THREADS), alternating epochs so both see the same machine state; after each, an epoch of
// the step's GEMMs alone (the floor: examples/s if nothing but GEMM ran).
//
//   train_compare [DATA_DIR] [EPOCHS] [THREADS]   (DATA_DIR defaults to /usr/share/datasets/fashion-mnist)
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    xgrad::blas_info();  // loads the BLAS (and picks its kernel) before anything multiplies
    const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const int epochs = argc > 2 ? std::atoi(argv[2]) : 2;
    const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
    const std::size_t batch = 64;
    xgrad::set_num_threads(threads);
    torch::set_num_threads(threads);

    auto train = xgrad::data::load_mnist<float>(dir, "train");
    xgrad::data::standardizer<float> z;
    z.fit(train.x);
    z.apply(train.x);
    const std::size_t n = train.size(), f = train.features();

    // xgrad: the training loop of `xgrad train` (one fit over all epochs, as the command runs it).
    xgrad::rng g(0);
    auto net = xgrad::nn::mlp<float>({f, 256, 10}, xgrad::nn::activation_kind::relu, g);
    xgrad::optim::adam<float> opt(net->parameters(), 1e-3f);
    xgrad::train::fit_options<float> fo;
    fo.epochs = epochs;
    fo.batch = batch;
    fo.seed = 0;

    // libtorch: examples as rows, the same shuffling scheme (a permutation per epoch), the same model.
    torch::manual_seed(0);
    torch::nn::Sequential tnet(torch::nn::Linear(static_cast<int64_t>(f), 256), torch::nn::ReLU(),
                               torch::nn::Linear(256, 10));
    torch::optim::Adam topt(tnet->parameters(), torch::optim::AdamOptions(1e-3));
    std::vector<float> xt(train.x.begin(), train.x.end());
    auto X = torch::from_blob(xt.data(), {static_cast<int64_t>(f), static_cast<int64_t>(n)}).t().contiguous();
    std::vector<int64_t> yt(train.y.begin(), train.y.end());
    auto Y = torch::from_blob(yt.data(), {static_cast<int64_t>(n)}, torch::kInt64).clone();

    std::printf("BLAS: %s\n%zu examples, batch %zu, 784-256-10 ReLU, Adam, %d thread(s)\n",
                xgrad::blas_info().to_string().c_str(), n, batch, threads);  // after set_num_threads
    // The GEMM floor: an epoch of only the step's five products (forward W1·X and W2·H; dW2 = dZ2·Hᵀ,
    // dH = W2ᵀ·dZ2, dW1 = dZ1·Xᵀ; no dX for the first layer), through xgrad::gemm with the same shapes and
    // transpose flags as the tape, on one fixed batch: examples/s if nothing but GEMM ran, the ceiling of
    // any implementation of this loop with this BLAS kernel.
    const std::size_t h = 256, c = 10;
    xgrad::matrix<float> w1({h, f}), w2({c, h}), xb({f, batch}), z1({h, batch}), z2({c, batch}),
        dz2({c, batch}), dh({h, batch}), dw1({h, f}), dw2({c, h});
    for (auto* m : {&w1, &w2, &xb, &z1, &dz2})
        for (std::size_t i = 0; i < m->size(); ++i)
            m->data()[i] = static_cast<float>((i * 7919) % 997) / 997.f - 0.5f;
    const auto gemm_epoch = [&] {
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < n; i += batch) {
            const std::size_t m = std::min(batch, n - i);
            xgrad::gemm(false, false, h, m, f, 1.f, w1.data(), f, xb.data(), batch, 0.f, z1.data(), batch);
            xgrad::gemm(false, false, c, m, h, 1.f, w2.data(), h, z1.data(), batch, 0.f, z2.data(), batch);
            xgrad::gemm(false, true, c, h, m, 1.f, dz2.data(), batch, z1.data(), batch, 0.f, dw2.data(), h);
            xgrad::gemm(true, false, h, m, c, 1.f, w2.data(), h, dz2.data(), batch, 0.f, dh.data(), batch);
            xgrad::gemm(false, true, h, f, m, 1.f, dh.data(), batch, xb.data(), batch, 0.f, dw1.data(), f);
        }
        return static_cast<double>(n) / seconds_since(t0);
    };
    std::printf(
        "| epoch | xgrad examples/s | libtorch examples/s | GEMM floor examples/s | xgrad/libtorch | "
        "xgrad/GEMM floor | xgrad loss | libtorch loss |\n|---|---|---|---|---|---|---|---|\n");
    // One libtorch epoch after each xgrad epoch (from fit's on_epoch), so both see the same machine state.
    // xgrad's examples/s is fit's own: the epoch's training loop (epoch 1 includes the batcher's one-time
    // example-major copy of the data).
    fo.on_epoch = [&](const xgrad::train::epoch_stats& s) {
        const auto t0 = std::chrono::steady_clock::now();
        auto perm = torch::randperm(static_cast<int64_t>(n), torch::kInt64);
        double loss_sum = 0;
        for (int64_t i = 0; i < static_cast<int64_t>(n); i += static_cast<int64_t>(batch)) {
            auto idx =
                perm.slice(0, i, std::min<int64_t>(i + static_cast<int64_t>(batch), static_cast<int64_t>(n)));
            auto xb = X.index_select(0, idx), yb = Y.index_select(0, idx);
            topt.zero_grad();
            auto loss = torch::nn::functional::cross_entropy(tnet->forward(xb), yb);
            loss.backward();
            topt.step();
            loss_sum += loss.item<double>() * static_cast<double>(xb.size(0));
        }
        const double ts = static_cast<double>(n) / seconds_since(t0);
        const double gs = gemm_epoch();
        std::printf("| %d | %.0f | %.0f | %.0f | %.2f | %.2f | %.4f | %.4f |\n", s.epoch,
                    s.examples_per_second, ts, gs, s.examples_per_second / ts, s.examples_per_second / gs,
                    s.loss, loss_sum / static_cast<double>(n));
        std::fflush(stdout);
    };
    xgrad::train::fit(*net, opt, train, fo);
    return 0;
}
