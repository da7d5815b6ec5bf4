// Shared definitions of the benchmark: the four models, the step interface, the harness.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bench {

enum class act { relu, sigmoid, tanh };
enum class loss { softmax_ce, bce };

/// A multilayer perceptron trained by SGD: sizes[0] inputs … sizes.back() outputs, `hidden` between layers,
/// batch m, one full training step = zero-grad, forward, loss, backward, SGD update.
struct model_spec {
    std::string key;   // "a", "b", …
    std::string name;  // human description
    std::vector<std::size_t> sizes;
    act hidden;
    loss objective;
    std::size_t batch;
};

std::vector<model_spec> models();

/// One implementation of a model, ready to train on fixed random data.
class stepper {
public:
    virtual ~stepper() = default;
    virtual void step() = 0;
    /// The loss of the last step (to check the implementations agree and nothing is optimized away).
    virtual double last_loss() const = 0;
};

/// Random data and initial weights shared by all implementations (same seed, same values).
struct problem {
    std::vector<double> x;                  // [features × m], row-major (examples are columns)
    std::vector<double> labels;             // m class indices (softmax) or 0/1 targets (bce, one output row)
    std::vector<std::vector<double>> w, b;  // per layer: W [out×in] row-major, b [out]
};
problem make_problem(const model_spec& s, std::uint64_t seed);

constexpr double learning_rate = 0.01;

template <class T>
std::unique_ptr<stepper> make_xgrad(const model_spec& s, const problem& p);
/// The same step recorded once and replayed (graph::capture, recording::run).
template <class T>
std::unique_ptr<stepper> make_xgrad_replay(const model_spec& s, const problem& p);
template <class T>
std::unique_ptr<stepper> make_hand(const model_spec& s, const problem& p);
template <class T>
std::unique_ptr<stepper> make_torch(const model_spec& s, const problem& p);
bool torch_available();
void torch_set_threads(int n);

/// Allocation counters (operator new and malloc) maintained by alloc_count.cpp.
std::uint64_t allocations();

}  // namespace bench
