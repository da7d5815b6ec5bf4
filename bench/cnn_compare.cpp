// The CNN case (issue 12): examples per second of xgrad's training loop (what `xgrad train --model cnn` runs)
// beside the same CNN in libtorch, on the same Fashion-MNIST data (standardized), Adam 1e-3, batch 64, one
// thread, alternating epochs so both see the same machine state; then the conv GEMMs alone (GFLOP/s) and
// CPU seconds per step (process CPU time, which a busy machine's other processes do not inflate).
//
//   cnn_compare [DATA_DIR] [EXAMPLES] [ROUNDS] [--xgrad-only|--train-only|--both] [BATCH]
//       DATA_DIR defaults to /usr/share/datasets/fashion-mnist; EXAMPLES (0: all 60000) per epoch; BATCH 64.
//       --train-only: xgrad's epochs alone, without the allocation count and the GEMM table (for profiles).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "bench.hpp"  // bench::allocations (alloc_count.cpp)

namespace {

double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double wall_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// GFLOP/s of C[M×N] = op(A)·op(B) with inner dimension K, through xgrad::gemm, over `reps` calls (CPU time).
double gemm_rate(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, int reps) {
    std::vector<float> a(M * K, 0.5f), b(K * N, 0.25f), c(M * N);
    const std::size_t lda = ta ? M : K, ldb = tb ? K : N;
    xgrad::gemm<float>(ta, tb, M, N, K, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), N);
    const double t0 = cpu_seconds();
    for (int r = 0; r < reps; ++r)
        xgrad::gemm<float>(ta, tb, M, N, K, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), N);
    return 2.0 * static_cast<double>(M * N * K) * reps / (cpu_seconds() - t0) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
    const auto blas = xgrad::blas_info();
    const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    std::size_t limit = argc > 2 ? static_cast<std::size_t>(std::atol(argv[2])) : 0;
    const int rounds = argc > 3 ? std::atoi(argv[3]) : 1;
    const bool train_only = argc > 4 && std::strcmp(argv[4], "--train-only") == 0;
    const bool xgrad_only = train_only || (argc > 4 && std::strcmp(argv[4], "--xgrad-only") == 0);
    const std::size_t batch = argc > 5 ? static_cast<std::size_t>(std::atol(argv[5])) : 64;
    xgrad::set_num_threads(1);
    torch::set_num_threads(1);

    auto train = xgrad::data::load_mnist<float>(dir, "train");
    if (limit > 0 && limit < train.size()) {
        std::vector<std::size_t> cols(limit);
        for (std::size_t i = 0; i < limit; ++i) cols[i] = i;
        train = xgrad::data::subset(train, cols);
    }
    xgrad::data::standardizer<float> z;
    z.fit(train.x);
    z.apply(train.x);
    const std::size_t n = train.size();

    // xgrad: the training loop of `xgrad train --model cnn`.
    xgrad::rng g(0);
    auto net =
        xgrad::nn::build<float>(xgrad::nn::parse_architecture(xgrad::nn::default_cnn), {1, 28, 28}, 10, g);
    xgrad::optim::adam<float> opt(net->parameters(), 1e-3f);
    xgrad::train::fit_options<float> fo;
    fo.epochs = 1;
    fo.batch = batch;

    // libtorch: NCHW, the same CNN (oneDNN or its native convolutions), the same shuffling scheme.
    torch::manual_seed(0);
    namespace tnn = torch::nn;
    tnn::Sequential tnet(tnn::Conv2d(tnn::Conv2dOptions(1, 32, 3).padding(1)), tnn::ReLU(), tnn::MaxPool2d(2),
                         tnn::Conv2d(tnn::Conv2dOptions(32, 64, 3).padding(1)), tnn::ReLU(),
                         tnn::MaxPool2d(2), tnn::Flatten(), tnn::Linear(64 * 7 * 7, 128), tnn::ReLU(),
                         tnn::Linear(128, 10));
    torch::optim::Adam topt(tnet->parameters(), torch::optim::AdamOptions(1e-3));
    std::vector<float> xt(train.x.begin(), train.x.end());
    auto X = torch::from_blob(xt.data(), {784, static_cast<int64_t>(n)})
                 .t()
                 .contiguous()
                 .reshape({static_cast<int64_t>(n), 1, 28, 28});
    std::vector<int64_t> yt(train.y.begin(), train.y.end());
    auto Y = torch::from_blob(yt.data(), {static_cast<int64_t>(n)}, torch::kInt64).clone();

    std::printf("BLAS: %s\n%zu examples, batch %zu, CNN %s, Adam 1e-3, 1 thread\n", blas.to_string().c_str(),
                n, batch, std::string(xgrad::nn::default_cnn).c_str());
    std::printf(
        "| round | xgrad examples/s (wall) | xgrad examples/CPU-s | libtorch examples/s (wall) | libtorch "
        "examples/CPU-s | xgrad/libtorch (CPU) | xgrad loss | libtorch loss "
        "|\n|---|---|---|---|---|---|---|---|\n");
    for (int e = 0; e < rounds; ++e) {
        fo.seed = static_cast<std::uint64_t>(e);
        double w0 = wall_seconds(), c0 = cpu_seconds();
        const auto h = xgrad::train::fit(*net, opt, train, fo);
        const double xw = static_cast<double>(n) / (wall_seconds() - w0),
                     xc = static_cast<double>(n) / (cpu_seconds() - c0);
        double tw = 0, tc = 0, loss_sum = 0;
        if (!xgrad_only) {
            w0 = wall_seconds(), c0 = cpu_seconds();
            auto perm = torch::randperm(static_cast<int64_t>(n), torch::kInt64);
            for (int64_t i = 0; i < static_cast<int64_t>(n); i += static_cast<int64_t>(batch)) {
                auto idx = perm.slice(
                    0, i, std::min<int64_t>(i + static_cast<int64_t>(batch), static_cast<int64_t>(n)));
                auto xb = X.index_select(0, idx), yb = Y.index_select(0, idx);
                topt.zero_grad();
                auto loss = torch::nn::functional::cross_entropy(tnet->forward(xb), yb);
                loss.backward();
                topt.step();
                loss_sum += loss.item<double>() * static_cast<double>(xb.size(0));
            }
            tw = static_cast<double>(n) / (wall_seconds() - w0);
            tc = static_cast<double>(n) / (cpu_seconds() - c0);
        }
        std::printf("| %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.4f | %.4f |\n", e + 1, xw, xc, tw, tc,
                    tc > 0 ? xc / tc : 0.0, h.back().loss, loss_sum / static_cast<double>(n));
        std::fflush(stdout);
    }

    if (train_only) return 0;
    // Allocations per steady step: the step of fit (record, backward, Adam) on one batch, repeated.
    {
        xgrad::graph<float> tape;
        xgrad::matrix<float> xb({784, batch}), yb({1, batch});
        for (std::size_t j = 0; j < batch; ++j) {
            for (std::size_t f = 0; f < 784; ++f) xb(f, j) = train.x(f, j);
            yb(0, j) = train.y(0, j);
        }
        std::uint64_t a0 = 0;
        const int warm = 3, steps = 20;
        for (int i = 0; i < warm + steps; ++i) {
            if (i == warm) a0 = bench::allocations();
            tape.clear();
            opt.zero_grad();
            auto loss = xgrad::softmax_cross_entropy((*net)(tape.borrow(xb)), tape.borrow(yb));
            tape.backward(loss);
            opt.step();
        }
        std::printf("\nxgrad allocations per steady training step (batch %zu): %.2f\n", batch,
                    static_cast<double>(bench::allocations() - a0) / steps);
    }

    // The conv GEMMs of one step at batch 64 (row-major M×N×K, as xgrad calls them), alone.
    struct shape {
        const char* what;
        bool ta, tb;
        std::size_t M, N, K;
    };
    const std::size_t m = batch;
    const shape shapes[] = {
        {"conv1 forward  A = W·cols", false, false, 32, 28 * 28 * m, 9},
        {"conv1 dW = dA·colsᵀ", false, true, 32, 9, 28 * 28 * m},
        {"conv2 forward  A = W·cols", false, false, 64, 14 * 14 * m, 288},
        {"conv2 dW = dA·colsᵀ", false, true, 64, 288, 14 * 14 * m},
        {"conv2 dcols = Wᵀ·dA", true, false, 288, 14 * 14 * m, 64},
        {"fc1 forward (reference)", false, false, 128, m, 3136},
    };
    std::printf("\n| GEMM (batch %zu) | M×N×K | GFLOP/s |\n|---|---|---|\n", m);
    for (const shape& s : shapes) {
        std::printf("| %s | %zu×%zu×%zu | %.1f |\n", s.what, s.M, s.N, s.K,
                    gemm_rate(s.ta, s.tb, s.M, s.N, s.K, 20));
    }
    return 0;
}
