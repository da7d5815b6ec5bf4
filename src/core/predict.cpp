#include "xgrad/predict.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "xgrad/graph.hpp"

namespace xgrad::train {

template <class T>
predictions<T> predict(nn::module<T>& model, const matrix<T>& x, std::size_t batch) {
    if (batch == 0) throw argument_error("predict: the batch size must be at least 1");
    const std::size_t n = x.shape()[1], f = x.shape()[0];
    if (n == 0)
        throw argument_error(fmt::format("predict: x {} has no examples (columns)", to_string(x.shape())));
    predictions<T> out;
    out.classes.reserve(n);
    // Evaluation mode (no dropout; batch_norm's running statistics), then back into the model's own mode.
    struct evaluation_mode {
        nn::module<T>& model;
        bool was = model.is_training();
        ~evaluation_mode() { model.train(was); }
    } mode{model};
    model.eval();
    graph<T> g;
    no_grad guard;
    matrix<T> part;
    std::vector<double> e;
    for (std::size_t j0 = 0; j0 < n; j0 += batch) {
        const std::size_t m = std::min(batch, n - j0);
        part = matrix<T>({f, m});
        for (std::size_t i = 0; i < f; ++i)
            for (std::size_t j = 0; j < m; ++j) part(i, j) = x(i, j0 + j);
        g.clear();
        const auto& z = model(g.borrow(part)).value();
        const std::size_t k = z.shape()[0];
        if (k == 0) throw argument_error("predict: the model has no outputs");
        if (out.probabilities.size() == 0) out.probabilities = matrix<T>({k, n});
        e.resize(k);
        for (std::size_t j = 0; j < m; ++j) {
            std::size_t best = 0;
            for (std::size_t i = 1; i < k; ++i)
                if (z(i, j) > z(best, j)) best = i;
            const double top = static_cast<double>(z(best, j));
            double sum = 0;
            for (std::size_t i = 0; i < k; ++i) sum += e[i] = std::exp(static_cast<double>(z(i, j)) - top);
            for (std::size_t i = 0; i < k; ++i) out.probabilities(i, j0 + j) = static_cast<T>(e[i] / sum);
            out.classes.push_back(best);
        }
    }
    return out;
}

template predictions<float> predict(nn::module<float>&, const matrix<float>&, std::size_t);
template predictions<double> predict(nn::module<double>&, const matrix<double>&, std::size_t);

}  // namespace xgrad::train
