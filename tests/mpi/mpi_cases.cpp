// Data parallelism over MPI (issue 15), run by ctest through mpirun with 2 and 3 processes
// (tests/CMakeLists.txt: mpi.<case>.np2, mpi.<case>.np3). Every rank runs every case; each compares its
// distributed result with the one-process reference it computes itself (the same seed, N× the batch), so no
// rank needs another's files.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include <xgrad/dist/mpi.hpp>
#include <xgrad/distributed.hpp>
#include <xgrad/layers.hpp>
#include <xgrad/xgrad.hpp>

#include "support.hpp"

namespace data = xgrad::data;
namespace train = xgrad::train;
namespace dist = xgrad::dist;

namespace {

dist::mpi_communicator* g_comm = nullptr;

dist::mpi_communicator& comm() {
    REQUIRE(g_comm != nullptr);
    REQUIRE(g_comm->size() >= 2);  // run through mpirun -np 2 or more (a lone process tests nothing)
    return *g_comm;
}

enum class optimizer_kind { momentum, adam };

template <class T>
struct run_result {
    std::vector<train::epoch_stats> history;
    std::vector<T> weights;  // every parameter, flat
    std::vector<T> state;    // the optimizer's flat state
};

/// Trains a 2-16-16-3 tanh MLP on a 3-arm spiral of `n` training examples for `epochs`, with `comm` (null:
/// this process alone) and a per-rank batch `batch`.
template <class T>
run_result<T> run(std::size_t n, std::size_t batch, optimizer_kind kind, dist::communicator* c,
                  bool overlap = false, int epochs = 3) {
    auto all = data::make_spiral<T>(n + 90, 3, 0.1, 11);
    auto [tr, val] = data::split(all, 90.0 / static_cast<double>(n + 90), 12);
    REQUIRE(tr.size() == n);
    xgrad::rng g(5);
    auto net = xgrad::nn::mlp<T>({2, 16, 16, 3}, xgrad::nn::activation_kind::tanh, g);
    std::unique_ptr<xgrad::optim::optimizer<T>> opt;
    if (kind == optimizer_kind::momentum)
        opt = std::make_unique<xgrad::optim::sgd<T>>(net->parameters(), T(0.05), T(0.9));
    else
        opt = std::make_unique<xgrad::optim::adam<T>>(net->parameters(), T(0.01));
    train::fit_options<T> o;
    o.epochs = epochs;
    o.batch = batch;
    o.seed = 3;
    o.validation = &val;
    o.communicator = c;
    o.overlap_reduction = overlap;
    run_result<T> r;
    r.history = train::fit(*net, *opt, tr, o);
    for (auto* p : net->parameters()) r.weights.insert(r.weights.end(), p->value().begin(), p->value().end());
    if (auto* s = dynamic_cast<xgrad::optim::sgd<T>*>(opt.get()))
        r.state.assign(s->velocity().begin(), s->velocity().end());
    if (auto* a = dynamic_cast<xgrad::optim::adam<T>*>(opt.get()))
        r.state.assign(a->first_moment().begin(), a->first_moment().end());
    return r;
}

template <class T>
bool same(const xgrad::matrix<T>& a, const xgrad::matrix<T>& b) {
    return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

/// The distributed run (per-rank batch b) against one process with the global batch N·b.
template <class T>
void check_equivalent(std::size_t n, std::size_t b, optimizer_kind kind, double tolerance) {
    auto& c = comm();
    const std::size_t N = static_cast<std::size_t>(c.size());
    const auto reference = run<T>(n, N * b, kind, nullptr);
    const auto parallel = run<T>(n, b, kind, &c);
    REQUIRE(parallel.history.size() == reference.history.size());
    {
        INFO("rank " << c.rank() << " of " << N);
        xgrad::test::check_history_agrees(parallel.history, reference.history, tolerance);
    }
    const double dw = xgrad::test::max_relative_difference(parallel.weights, reference.weights);
    const double ds = xgrad::test::max_relative_difference(parallel.state, reference.state);
    INFO("rank " << c.rank() << " of " << N << ": weights differ by " << dw << ", optimizer state by " << ds);
    CHECK(dw <= tolerance);
    CHECK(ds <= tolerance);
    // The difference is rounding, not nothing: the test can see a wrong average (a 1/N too many or few).
    CHECK(dw < 1e-3);
}

}  // namespace

int main(int argc, char** argv) {
    dist::mpi_environment env(argc, argv);
    int status = 0;
    {
        dist::mpi_communicator c;
        g_comm = &c;
        status = Catch::Session().run(argc, argv);
        g_comm = nullptr;
    }
    return status;
}

TEST_CASE("mpi: broadcast_model gives every rank rank 0's weights, running statistics and optimizer state",
          "[mpi]") {
    auto& c = comm();
    // Every rank starts different (seed = rank), then takes rank 0's.
    const auto make = [](std::uint64_t seed, xgrad::nn::sequential<double>& net) {
        xgrad::rng g(seed);
        net.emplace<xgrad::nn::linear<double>>(4, 6, g);
        auto& bn = net.emplace<xgrad::nn::batch_norm<double>>(6);
        for (auto& v : bn.running_mean().value()) v = static_cast<double>(seed) + 0.5;
        net.emplace<xgrad::nn::linear<double>>(6, 3, g);
    };
    xgrad::nn::sequential<double> mine, rank0;
    make(static_cast<std::uint64_t>(c.rank()), mine);
    make(0, rank0);
    xgrad::optim::adam<double> opt(mine.parameters(), 1e-3);
    for (std::size_t i = 0; i < opt.first_moment().size(); ++i) {
        opt.first_moment()[i] = c.rank() + 1.0 * static_cast<double>(i);
        opt.second_moment()[i] = 2.0 * c.rank();
    }
    opt.set_steps(static_cast<std::size_t>(7 + c.rank()));
    opt.set_learning_rate(0.01 * (c.rank() + 1));
    if (c.rank() != 0) {
        CHECK_FALSE(same(mine.named_state()[0].second->value(), rank0.named_state()[0].second->value()));
    }
    dist::broadcast_model(c, mine, opt);
    const auto a = mine.named_state(), b = rank0.named_state();
    REQUIRE(a.size() == b.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
        INFO("rank " << c.rank() << ": " << a[k].first);
        CHECK(same(a[k].second->value(), b[k].second->value()));  // bit for bit
    }
    CHECK(opt.steps() == 7);
    CHECK(opt.learning_rate() == 0.01);
    for (std::size_t i = 0; i < opt.first_moment().size(); ++i) {
        CHECK(opt.first_moment()[i] == 1.0 * static_cast<double>(i));
        CHECK(opt.second_moment()[i] == 0.0);
    }
}

// A per-rank batch of 8 with n = 10·(8N) + 5: the last global batch has 5 examples, split unevenly.
TEST_CASE(
    "mpi: fit on N ranks equals one process with N times the batch, double, momentum, uneven last batch",
    "[mpi]") {
    const std::size_t N = static_cast<std::size_t>(comm().size());
    check_equivalent<double>(10 * 8 * N + 5, 8, optimizer_kind::momentum, 1e-12);
}

// n = 10·(8N) + 1: the last global batch has one example, so N − 1 ranks have none in it.
TEST_CASE(
    "mpi: fit on N ranks equals one process with N times the batch, double, adam, ranks without examples",
    "[mpi]") {
    const std::size_t N = static_cast<std::size_t>(comm().size());
    check_equivalent<double>(10 * 8 * N + 1, 8, optimizer_kind::adam, 1e-12);
}

// float: the same sums in another order (each rank's mean over its slice, scaled by m_r/M and summed by the
// allreduce, against one mean over the batch) round differently, about 6e-8 relative per operation. Measured
// over the 3 epochs of Adam here: weights within 7.2e-8 (2 and 3 ranks), optimizer state within 1.1e-8; the
// tolerance leaves room for other BLAS kernels (another blocking of gemm's sums) and longer chains of steps.
TEST_CASE("mpi: fit on N ranks equals one process with N times the batch, float, to 2e-5", "[mpi]") {
    const std::size_t N = static_cast<std::size_t>(comm().size());
    check_equivalent<float>(10 * 8 * N + 5, 8, optimizer_kind::adam, 2e-5);
}

// Non-blocking sums (MPI_Iallreduce) may add the ranks' numbers in another order than blocking ones.
TEST_CASE("mpi: overlapped and blocking gradient reductions train the same model", "[mpi]") {
    auto& c = comm();
    const std::size_t N = static_cast<std::size_t>(c.size());
    const auto overlapped = run<double>(10 * 8 * N + 5, 8, optimizer_kind::adam, &c, true, 2);
    const auto blocking = run<double>(10 * 8 * N + 5, 8, optimizer_kind::adam, &c, false, 2);
    CHECK(xgrad::test::max_relative_difference(overlapped.weights, blocking.weights) <= 1e-12);
    CHECK(xgrad::test::relative_difference(overlapped.history.back().loss, blocking.history.back().loss) <=
          1e-12);
}

TEST_CASE("mpi: gradient_reducer sums buckets in the same order on every rank and overlaps with backward",
          "[mpi]") {
    auto& c = comm();
    // 3 linear layers, buckets of one parameter each: the reducer starts them as backward finishes them.
    xgrad::rng g(1);
    auto net = xgrad::nn::mlp<double>({3, 5, 4, 2}, xgrad::nn::activation_kind::tanh, g);
    dist::broadcast_model(c, *net);
    dist::gradient_reducer<double> reducer(c, net->parameters(), 8);
    CHECK(reducer.buckets() == net->parameters().size());
    xgrad::matrix<double> x({3, 4}), y({1, 4});
    for (std::size_t j = 0; j < 4; ++j) {
        for (std::size_t i = 0; i < 3; ++i) x(i, j) = 0.1 * static_cast<double>(c.rank() + 1) * (i + j);
        y(0, j) = static_cast<double>((j + c.rank()) % 2);
    }
    // The expected sum: each rank's gradient (computed alone), summed with one allreduce over everything.
    std::vector<double> expected;
    {
        xgrad::graph<double> tape;
        net->zero_grad();
        tape.backward(xgrad::softmax_cross_entropy((*net)(tape.borrow(x)), tape.borrow(y)));
        for (auto* p : net->parameters()) expected.insert(expected.end(), p->grad().begin(), p->grad().end());
        for (auto& v : expected) v *= 0.25;
        c.allreduce_sum(std::span<double>(expected));
    }
    // Count the observer calls of a pre-existing observer: the reducer chains it and puts it back.
    xgrad::graph<double> tape;
    std::size_t seen = 0;
    tape.set_backward_observer([&](const xgrad::graph<double>&, std::uint32_t) { ++seen; });
    net->zero_grad();
    reducer.backward(tape, xgrad::softmax_cross_entropy((*net)(tape.borrow(x)), tape.borrow(y)), 0.25);
    CHECK(seen > 0);
    CHECK(tape.current_backward_observer());
    std::vector<double> got;
    for (auto* p : net->parameters()) got.insert(got.end(), p->grad().begin(), p->grad().end());
    // (one allreduce of everything against one per bucket: MPI may add in another order per message size)
    CHECK(xgrad::test::max_relative_difference(got, expected) <= 1e-15);
}

TEST_CASE("mpi: evaluate on N ranks equals evaluate on one process", "[mpi]") {
    auto& c = comm();
    auto ds = data::make_spiral<double>(1001, 3, 0.2, 4);  // 1001: the slices differ in size
    xgrad::rng g(2);
    auto net = xgrad::nn::mlp<double>({2, 8, 3}, xgrad::nn::activation_kind::relu, g);
    const auto one = train::evaluate(*net, ds, 100);
    const auto all = train::evaluate(*net, ds, 100, {}, {}, &c);
    CHECK(all.examples == one.examples);
    CHECK(all.confusion == one.confusion);
    CHECK(all.accuracy == one.accuracy);
    CHECK(xgrad::test::relative_difference(all.loss, one.loss) <= 1e-13);
}
