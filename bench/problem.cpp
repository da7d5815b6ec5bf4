#include <random>

#include "bench.hpp"

namespace bench {

std::vector<model_spec> models() {
    return {
        {"a", "784-128-10 ReLU, softmax-CE, batch 64", {784, 128, 10}, act::relu, loss::softmax_ce, 64},
        {"b",
         "784-512-256-10 ReLU, softmax-CE, batch 256",
         {784, 512, 256, 10},
         act::relu,
         loss::softmax_ce,
         256},
        {"c", "3-3-1 sigmoid (the lecture's), BCE, batch 4", {3, 3, 1}, act::sigmoid, loss::bce, 4},
        {"d", "2-16-16-3 tanh, softmax-CE, batch 32", {2, 16, 16, 3}, act::tanh, loss::softmax_ce, 32},
    };
}

problem make_problem(const model_spec& s, std::uint64_t seed) {
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    problem p;
    const std::size_t n = s.sizes.front(), m = s.batch, c = s.sizes.back();
    p.x.resize(n * m);
    for (auto& v : p.x) v = u(g);
    p.labels.resize(m);
    for (std::size_t j = 0; j < m; ++j)
        p.labels[j] = static_cast<double>(g() % (s.objective == loss::bce ? 2 : c));
    for (std::size_t l = 0; l + 1 < s.sizes.size(); ++l) {
        const std::size_t in = s.sizes[l], out = s.sizes[l + 1];
        const double a = std::sqrt(6.0 / static_cast<double>(in + out));
        std::vector<double> w(out * in), b(out, 0.0);
        for (auto& v : w) v = a * u(g);
        p.w.push_back(std::move(w));
        p.b.push_back(std::move(b));
    }
    return p;
}

}  // namespace bench
