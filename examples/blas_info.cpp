// A plain program using xgrad: it prints which BLAS library and kernel multiply its matrices, then trains the
// benchmark's model (b) — 784-512-256-10 ReLU, softmax cross-entropy, batch 256, SGD — and prints µs per
// training step. Nothing BLAS-specific is called: xgrad loads OpenBLAS at its first gemm and, on a CPU
// OpenBLAS 0.3.21 does not know, switches it from its generic Prescott kernels to the ones this CPU runs.
//
//   blas_info [STEPS=200] [THREADS=1]
//   XGRAD_BLAS=blis blas_info            OPENBLAS_CORETYPE=Haswell blas_info      (choose another kernel)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <vector>

#include <xgrad/xgrad.hpp>

/// Entries of /proc/self/task (Linux), or 0 where it cannot be read.
std::size_t threads_of_this_process() {
    std::error_code ec;
    std::size_t n = 0;
    for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end;
         it.increment(ec))
        ++n;
    return ec ? 0 : n;
}

int run(int argc, char** argv) {
    // One line before xgrad does anything, with the process id: a program that re-executed itself would
    // print it twice.
    std::printf("blas_info: process %ld started\n", static_cast<long>(::getpid()));
    std::fflush(stdout);
    const int steps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
    const int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 1;
    xgrad::set_num_threads(threads);
    const xgrad::blas_backend blas = xgrad::blas_info();
    std::printf("BLAS: %s\nkernel: %s\n", blas.to_string().c_str(), blas.kernel.c_str());
    // The process's threads now: 1 on one BLAS thread (OpenBLAS started no idle workers on other cores).
    std::printf("threads of this process: %zu\n", threads_of_this_process());
    std::fflush(stdout);

    const std::size_t batch = 256, features = 784, classes = 10;
    xgrad::rng g(1);
    auto net = xgrad::nn::mlp<float>({features, 512, 256, classes}, xgrad::nn::activation_kind::relu, g);
    xgrad::optim::sgd<float> opt(net->parameters(), 0.01f);
    xgrad::matrix<float> x({features, batch}), y({1, batch});
    for (std::size_t i = 0; i < x.size(); ++i)
        x.data()[i] = static_cast<float>((i * 7919) % 997) / 997.f - 0.5f;
    for (std::size_t j = 0; j < batch; ++j) y(0, j) = static_cast<float>(j % classes);

    xgrad::graph<float> graph;
    auto step = [&] {
        graph.clear();
        opt.zero_grad();
        auto loss = xgrad::softmax_cross_entropy((*net)(graph.borrow(x)), graph.borrow(y));
        graph.backward(loss);
        opt.step();
        return loss.item();
    };
    const float first = step();
    std::vector<double> us;  // µs per step, in chunks of ~10 steps; the median is reported
    const int chunk = std::min(steps, 10);
    float last = first;
    for (int done = 0; done < steps; done += chunk) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < chunk; ++i) last = step();
        us.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / chunk);
    }
    std::sort(us.begin(), us.end());
    std::printf(
        "model (b), float, %d thread(s): %.0f µs per step (median of %zu chunks of %d steps); loss %.4f → "
        "%.4f\n",
        threads, us[us.size() / 2], us.size(), chunk, first, last);
    return 0;
}

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {  // e.g. XGRAD_BLAS names a library that cannot be loaded
        std::fprintf(stderr, "blas_info: %s\n", e.what());
        return 1;
    }
}
