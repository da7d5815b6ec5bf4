// Data parallelism over MPI (issue 15), run by ctest through mpirun with 2 and 3 processes
// (tests/CMakeLists.txt: mpi.<case>.np2, mpi.<case>.np3). Every rank runs every case; each compares its
// distributed result with the one-process reference it computes itself (the same seed, N× the batch), so no
// rank needs another's files.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
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
    std::vector<T> state;    // the optimizer's flat state (adam: both moments)
    std::size_t steps = 0;   // adam's step count
};

/// Trains a 2-16-16-3 tanh MLP on a 3-arm spiral of `n` training examples for `epochs`, with `comm` (null:
/// this process alone) and a per-rank batch `batch`.
template <class T>
run_result<T> run(std::size_t n, std::size_t batch, optimizer_kind kind, dist::communicator* c,
                  bool overlap = false, int epochs = 3, bool shard = false) {
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
    o.shard_optimizer = shard;
    // Sharded: buckets of 64 bytes, so that every parameter (of at least 2 elements) is sharded rather than
    // summed whole with the small ones.
    if (shard) o.bucket_bytes = 64;
    run_result<T> r;
    r.history = train::fit(*net, *opt, tr, o);
    for (auto* p : net->parameters()) r.weights.insert(r.weights.end(), p->value().begin(), p->value().end());
    if (auto* s = dynamic_cast<xgrad::optim::sgd<T>*>(opt.get()))
        r.state.assign(s->velocity().begin(), s->velocity().end());
    if (auto* a = dynamic_cast<xgrad::optim::adam<T>*>(opt.get())) {
        r.state.assign(a->first_moment().begin(), a->first_moment().end());
        r.state.insert(r.state.end(), a->second_moment().begin(), a->second_moment().end());
        r.steps = a->steps();
    }
    return r;
}

template <class T>
bool same(const xgrad::matrix<T>& a, const xgrad::matrix<T>& b) {
    return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

/// The distributed run (per-rank batch b) against one process with the global batch N·b.
template <class T>
void check_equivalent(std::size_t n, std::size_t b, optimizer_kind kind, double tolerance,
                      bool shard = false) {
    auto& c = comm();
    const std::size_t N = static_cast<std::size_t>(c.size());
    const auto reference = run<T>(n, N * b, kind, nullptr);
    const auto parallel = run<T>(n, b, kind, &c, false, 3, shard);
    CHECK(parallel.steps == reference.steps);
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

// ---- the optimizer's step sharded over the ranks (ZeRO stage 1: dist::sharded_optimizer) ----

// The 2-16-16-3 MLP has 371 parameters, flat: W1 [0, 32) b1 [32, 48) W2 [48, 304) b2 [304, 320) W3 [320, 368)
// b3 [368, 371); the shards' boundaries (185 for 2 ranks; 123 and 247 for 3) cut W2 in the middle.
// n = 10·(8N) + 5: the last global batch has 5 examples, split unevenly.
TEST_CASE("mpi: the sharded step (ZeRO-1) trains as the allreduce step and as one process, adam and momentum",
          "[mpi]") {
    auto& c = comm();
    const std::size_t N = static_cast<std::size_t>(c.size());
    for (const auto kind : {optimizer_kind::adam, optimizer_kind::momentum}) {
        INFO("rank " << c.rank() << " of " << N << ", "
                     << (kind == optimizer_kind::adam ? "adam" : "momentum"));
        const auto reference = run<double>(10 * 8 * N + 5, 8 * N, kind, nullptr);
        const auto whole = run<double>(10 * 8 * N + 5, 8, kind, &c, false, 3, false);
        const auto sharded = run<double>(10 * 8 * N + 5, 8, kind, &c, false, 3, true);
        xgrad::test::check_history_agrees(sharded.history, whole.history, 1e-12);
        xgrad::test::check_history_agrees(sharded.history, reference.history, 1e-12);
        // The weights, and the whole optimizer state on every rank after fit (gathered from the shards'
        // owners): the state a checkpoint written by rank 0 holds.
        CHECK(xgrad::test::max_relative_difference(sharded.weights, whole.weights) <= 1e-12);
        CHECK(xgrad::test::max_relative_difference(sharded.state, whole.state) <= 1e-12);
        CHECK(xgrad::test::max_relative_difference(sharded.state, reference.state) <= 1e-12);
        CHECK(sharded.steps == reference.steps);
        CHECK(xgrad::test::max_relative_difference(sharded.weights, reference.weights) <
              1e-3);  // not nothing
    }
}

TEST_CASE("mpi: the sharded step cuts parameters in the middle and gives every rank the whole step",
          "[mpi]") {
    auto& c = comm();
    const int N = c.size();
    for (const std::size_t bucket_bytes : {std::size_t(8), std::size_t(1) << 20}) {
        // Every rank its own gradients; the reference: their weighted sum by one allreduce, then adam's whole
        // step, on every rank.
        xgrad::rng g(9);
        auto net = xgrad::nn::mlp<double>({2, 16, 16, 3}, xgrad::nn::activation_kind::tanh, g);
        xgrad::rng g2(9);
        auto ref = xgrad::nn::mlp<double>({2, 16, 16, 3}, xgrad::nn::activation_kind::tanh, g2);
        xgrad::optim::adam<double> opt(net->parameters(), 0.01), ref_opt(ref->parameters(), 0.01);
        dist::sharded_optimizer<double> zero(c, opt, bucket_bytes);
        INFO("rank " << c.rank() << " of " << N << ", buckets of " << bucket_bytes
                     << " bytes: " << zero.buckets());
        CHECK(zero.buckets() == (bucket_bytes == 8 ? 6u : 1u));
        const auto own = zero.own();
        CHECK(own.begin == dist::shard_of(371, c.rank(), N).begin);
        CHECK(own.count == dist::shard_of(371, c.rank(), N).count);
        if (c.rank() > 0) CHECK((own.begin > 48 && own.begin < 304));  // inside W2
        for (int step = 0; step < 3; ++step) {
            std::vector<double> sum;
            for (auto* p : {&opt, &ref_opt}) p->zero_grad();
            for (std::size_t k = 0; k < opt.params().size(); ++k) {
                auto& gw = opt.params()[k]->grad_for_writing();
                auto& gr = ref_opt.params()[k]->grad_for_writing();
                for (std::size_t i = 0; i < gw.size(); ++i) {
                    gw.data()[i] = std::sin(0.1 * static_cast<double>(i + 7 * k + 13 * step) + c.rank());
                    gr.data()[i] = 0.5 * gw.data()[i];
                }
                c.allreduce_sum(std::span<double>(gr.data(), gr.size()));
            }
            zero.reduce(0.5);
            CHECK(zero.first_non_finite() == opt.params().size());
            zero.step();
            ref_opt.step();
            for (std::size_t k = 0; k < opt.params().size(); ++k) {
                INFO("step " << step << ", parameter " << k);
                CHECK(
                    xgrad::test::max_relative_difference(
                        std::vector<double>(opt.params()[k]->value().begin(), opt.params()[k]->value().end()),
                        std::vector<double>(ref_opt.params()[k]->value().begin(),
                                            ref_opt.params()[k]->value().end())) <= 1e-15);
            }
        }
        CHECK(opt.steps() == 3);
        zero.gather_state();
        const std::vector<double> m(opt.first_moment().begin(), opt.first_moment().end()),
            m_ref(ref_opt.first_moment().begin(), ref_opt.first_moment().end()),
            v(opt.second_moment().begin(), opt.second_moment().end()),
            v_ref(ref_opt.second_moment().begin(), ref_opt.second_moment().end());
        CHECK(xgrad::test::max_relative_difference(m, m_ref) <= 1e-15);
        CHECK(xgrad::test::max_relative_difference(v, v_ref) <= 1e-15);
    }
}

TEST_CASE("mpi: a non-finite gradient in one rank's shard stops every rank with the same error", "[mpi]") {
    auto& c = comm();
    const int N = c.size();
    // sharded_optimizer: a NaN from rank 0 in b3, which is in the last rank's shard: every rank learns it.
    {
        xgrad::rng g(9);
        auto net = xgrad::nn::mlp<double>({2, 16, 16, 3}, xgrad::nn::activation_kind::tanh, g);
        xgrad::optim::adam<double> opt(net->parameters(), 0.01);
        dist::sharded_optimizer<double> zero(c, opt, 8);  // every parameter sharded
        for (auto* p : opt.params()) {
            auto& gr = p->grad_for_writing();
            for (auto& v : gr) v = 1;
        }
        if (c.rank() == 0)
            opt.params().back()->grad_for_writing()(1, 0) = std::numeric_limits<double>::quiet_NaN();
        zero.reduce(1.0);
        INFO("rank " << c.rank() << " of " << N);
        CHECK(zero.first_non_finite() == opt.params().size() - 1);
    }
    // fit: a loss whose value is finite but whose gradient is NaN everywhere (0·∞ in the backward of √(z −
    // z)): every shard finds a bad parameter, and every rank names the first one, as one process does.
    const train::loss_function<double> nan_gradient = [](const auto& z, const auto& y) {
        return xgrad::softmax_cross_entropy(z, y) + xgrad::sum(xgrad::pow(z - z, 0.5));
    };
    const auto message_of = [&](dist::communicator* with, std::size_t batch) {
        auto ds = data::make_spiral<double>(64, 3, 0.1, 11);
        xgrad::rng g(5);
        auto net = xgrad::nn::mlp<double>({2, 16, 16, 3}, xgrad::nn::activation_kind::tanh, g);
        xgrad::optim::adam<double> opt(net->parameters(), 0.01);
        train::fit_options<double> o;
        o.epochs = 1;
        o.batch = batch;
        o.loss = nan_gradient;
        o.communicator = with;
        o.shard_optimizer = true;
        o.bucket_bytes = 64;
        return xgrad::test::message_of<xgrad::numeric_error>([&] { train::fit(*net, opt, ds, o); });
    };
    const std::string one = message_of(nullptr, 8 * static_cast<std::size_t>(N));
    xgrad::rng g(5);
    const std::string first_name = xgrad::nn::mlp<double>({2, 16, 16, 3}, xgrad::nn::activation_kind::tanh, g)
                                       ->named_parameters()[0]
                                       .first;
    REQUIRE_THAT(one,
                 Catch::Contains("the gradient of '" + first_name + "' is not finite in epoch 1, batch 1"));
    const std::string all = message_of(&c, 8);
    INFO("rank " << c.rank() << " of " << N);
    CHECK(all == one);
}

TEST_CASE("mpi: a sharded run stopped after an epoch and resumed from rank 0's state equals the whole run",
          "[mpi]") {
    auto& c = comm();
    const std::size_t N = static_cast<std::size_t>(c.size());
    auto all = data::make_spiral<double>(10 * 8 * N + 5 + 90, 3, 0.1, 11);
    auto [tr, val] = data::split(all, 90.0 / static_cast<double>(10 * 8 * N + 5 + 90), 12);
    const auto make = [](std::uint64_t seed) {
        xgrad::rng g(seed);
        return xgrad::nn::mlp<double>({2, 16, 16, 3}, xgrad::nn::activation_kind::tanh, g);
    };
    train::fit_options<double> o;
    o.epochs = 3;
    o.batch = 8;
    o.seed = 3;
    o.validation = &val;
    o.communicator = &c;
    o.shard_optimizer = true;
    o.bucket_bytes = 64;
    auto whole = make(5);
    xgrad::optim::adam<double> whole_opt(whole->parameters(), 0.01);
    const auto whole_history = train::fit(*whole, whole_opt, tr, o);

    // Epoch 1, then "saved" by rank 0: its weights and its optimizer's state, as a checkpoint holds them.
    auto first = make(5);
    xgrad::optim::adam<double> first_opt(first->parameters(), 0.01);
    o.epochs = 1;
    train::fit(*first, first_opt, tr, o);
    // Resumed on fresh models: rank 0 loads the checkpoint, the others start from anything (fit broadcasts).
    auto resumed = make(100 + static_cast<std::uint64_t>(c.rank()));
    xgrad::optim::adam<double> resumed_opt(resumed->parameters(), 0.01);
    if (c.rank() == 0) {
        for (std::size_t k = 0; k < first_opt.params().size(); ++k)
            resumed_opt.params()[k]->value() = first_opt.params()[k]->value();
        std::copy(first_opt.first_moment().begin(), first_opt.first_moment().end(),
                  resumed_opt.first_moment().begin());
        std::copy(first_opt.second_moment().begin(), first_opt.second_moment().end(),
                  resumed_opt.second_moment().begin());
        resumed_opt.set_steps(first_opt.steps());
    }
    o.epochs = 3;
    o.first_epoch = 1;
    const auto rest = train::fit(*resumed, resumed_opt, tr, o);
    REQUIRE(rest.size() == 2);
    INFO("rank " << c.rank() << " of " << N);
    for (std::size_t e = 0; e < 2; ++e) {
        CHECK(rest[e].loss == whole_history[e + 1].loss);  // bit for bit: the same sums in the same order
        CHECK(rest[e].val_loss == whole_history[e + 1].val_loss);
    }
    for (std::size_t k = 0; k < whole_opt.params().size(); ++k)
        CHECK(same(resumed_opt.params()[k]->value(), whole_opt.params()[k]->value()));
    CHECK(std::equal(resumed_opt.first_moment().begin(), resumed_opt.first_moment().end(),
                     whole_opt.first_moment().begin()));
    CHECK(std::equal(resumed_opt.second_moment().begin(), resumed_opt.second_moment().end(),
                     whole_opt.second_moment().begin()));
    CHECK(resumed_opt.steps() == whole_opt.steps());
}

// n = 10·(8N) + 1: in the last global batch N − 1 ranks have no example, and still take part in the
// reduce-scatter (with zeros), the update of their shards and the all-gather.
TEST_CASE("mpi: the sharded step equals one process when ranks get no example of the last batch", "[mpi]") {
    const std::size_t N = static_cast<std::size_t>(comm().size());
    check_equivalent<double>(10 * 8 * N + 1, 8, optimizer_kind::adam, 1e-12, true);
}

namespace {

/// A hash of x's bits (FNV-1a), to compare results across ranks bit for bit.
template <class T>
std::uint64_t bits_of(const std::vector<T>& x) {
    std::uint64_t h = 1469598103934665603ull;
    const auto* p = reinterpret_cast<const unsigned char*>(x.data());
    for (std::size_t i = 0; i < x.size() * sizeof(T); ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/// Every rank holds the same bits as rank 0.
template <class T>
bool same_on_every_rank(dist::communicator& c, const std::vector<T>& x) {
    const auto all = c.all_gather(bits_of(x));
    return std::all_of(all.begin(), all.end(), [&](std::uint64_t h) { return h == all[0]; });
}

/// The collectives of `shm` (shared memory) against those of `msg` (MPI's messages) on the same data, for
/// buffers of n elements (block sizes uneven, the last rank's block empty when n allows), three times in a
/// row (each call uses the other half of the segments; a size above the last one grows the window).
template <class T>
void check_collectives(dist::mpi_communicator& shm, dist::mpi_communicator& msg, std::size_t n, int round) {
    const int N = shm.size(), me = shm.rank();
    const double tolerance = std::is_same_v<T, double> ? 1e-15 : 1e-6;
    INFO("rank " << me << " of " << N << ", " << n << " elements, round " << round);
    std::vector<T> x(n);
    for (std::size_t i = 0; i < n; ++i)
        x[i] = static_cast<T>(std::sin(0.37 * static_cast<double>(i) + 1.3 * me + 0.1 * round) * (1 + me));
    // allreduce_sum: the same bits on every rank; equal to MPI's sum up to its order of additions (with 2
    // ranks a + b = b + a exactly).
    std::vector<T> a = x, b = x;
    shm.allreduce_sum(std::span<T>(a));
    msg.allreduce_sum(std::span<T>(b));
    CHECK(same_on_every_rank(shm, a));
    if (N == 2) CHECK(a == b);
    CHECK(xgrad::test::max_relative_difference(a, b) <= tolerance);
    // reduce_scatter_sum: blocks of uneven sizes (with n = 1, every block but the last is empty).
    std::vector<std::size_t> counts;
    for (int q = 0; q < N; ++q) counts.push_back(dist::shard_of(n, q, N).count);
    const std::size_t moved = counts.back() / 2;  // uneven: rank 0's block the largest
    counts.front() += moved;
    counts.back() -= moved;
    std::size_t at = 0;
    for (int q = 0; q < me; ++q) at += counts[static_cast<std::size_t>(q)];
    const std::size_t mine = counts[static_cast<std::size_t>(me)];
    std::vector<T> out(mine, T(-7)),
        want(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + mine));
    shm.reduce_scatter_sum(std::span<const T>(x), std::span<T>(out), counts);
    // rank me's block equals the whole sum's block me: the same additions in the same order as allreduce
    CHECK(out == std::vector<T>(a.begin() + static_cast<std::ptrdiff_t>(at),
                                a.begin() + static_cast<std::ptrdiff_t>(at + mine)));
    CHECK(xgrad::test::max_relative_difference(out, want) <= tolerance);
    // …and in place (this rank's block of the buffer itself), through both transports.
    for (auto* with : {&shm, &msg}) {
        std::vector<T> in_place = x;
        with->reduce_scatter_sum_in_place(std::span<T>(in_place), counts);
        const std::vector<T> block(in_place.begin() + static_cast<std::ptrdiff_t>(at),
                                   in_place.begin() + static_cast<std::ptrdiff_t>(at + mine));
        INFO((with == &shm ? "shared memory" : "messages") << ", in place");
        if (with == &shm) {
            CHECK(block == out);  // the same additions in the same order
        } else {                  // (MPI may add in another order in place: with 3 ranks it does)
            CHECK(xgrad::test::max_relative_difference(block, want) <= tolerance);
        }
    }
    // all_gather in place: every block from its owner, exactly (the other blocks start as garbage).
    std::vector<T> g(n, T(12345)), expected(n);
    std::size_t from = 0;
    for (int q = 0; q < N; ++q) {
        for (std::size_t i = from; i < from + counts[static_cast<std::size_t>(q)]; ++i) {
            expected[i] = static_cast<T>(q + 1) * x[i] - static_cast<T>(round);
            if (q == me) g[i] = expected[i];
        }
        from += counts[static_cast<std::size_t>(q)];
    }
    // (x differs by rank, so rank q's block of `expected` is only right on rank q: gather it into every rank
    // by MPI's messages for the reference.)
    std::vector<T> reference = g;
    msg.all_gather(std::span<T>(reference), counts);
    shm.all_gather(std::span<T>(g), counts);
    CHECK(g == reference);
    CHECK(same_on_every_rank(shm, g));
}

}  // namespace

// The job's communicator (main) uses shared memory unless XGRAD_DIST_SHM=0 (ctest runs every case both ways).
TEST_CASE("mpi: the shared-memory collectives equal MPI's and train as one process, the same bits every run",
          "[mpi]") {
    auto& c = comm();
    const char* env = std::getenv("XGRAD_DIST_SHM");
    CHECK(c.shared_memory() == !(env != nullptr && std::string(env) == "0"));
    dist::mpi_communicator shm(dist::transport::shared_memory), msg(dist::transport::messages);
    REQUIRE(shm.shared_memory());  // every rank of the test is on this machine
    REQUIRE(!msg.shared_memory());
    dist::mpi_communicator sums(dist::transport::shared_memory_sums);  // all_gather by MPI's messages
    REQUIRE(sums.shared_memory());
    for (int round = 0; round < 3; ++round) {
        for (const std::size_t n : {std::size_t(1), std::size_t(5), std::size_t(1000), std::size_t(70001)}) {
            check_collectives<float>(shm, msg, n, round);
            check_collectives<double>(shm, msg, n, round);
        }
    }
    CHECK(shm.stats().shm_calls == 4u * 4u * 2u * 3u);
    CHECK(msg.stats().shm_calls == 0u);
    // fit with the sharded step and with the allreduce step, through shared memory: ≡ one process (1e-12 in
    // double), and bit for bit the same in a second run.
    const std::size_t N = static_cast<std::size_t>(c.size());
    for (const bool shard : {true, false}) {
        INFO("rank " << c.rank() << " of " << N << (shard ? ", sharded" : ", allreduce step"));
        const auto reference = run<double>(10 * 8 * N + 5, 8 * N, optimizer_kind::adam, nullptr);
        const auto first = run<double>(10 * 8 * N + 5, 8, optimizer_kind::adam, &shm, false, 3, shard);
        const auto again = run<double>(10 * 8 * N + 5, 8, optimizer_kind::adam, &shm, false, 3, shard);
        const auto messages = run<double>(10 * 8 * N + 5, 8, optimizer_kind::adam, &msg, false, 3, shard);
        const auto hybrid = run<double>(10 * 8 * N + 5, 8, optimizer_kind::adam, &sums, false, 3, shard);
        xgrad::test::check_history_agrees(first.history, reference.history, 1e-12);
        CHECK(xgrad::test::max_relative_difference(first.weights, reference.weights) <= 1e-12);
        CHECK(xgrad::test::max_relative_difference(first.state, reference.state) <= 1e-12);
        CHECK(xgrad::test::max_relative_difference(first.weights, messages.weights) <= 1e-12);
        CHECK(xgrad::test::max_relative_difference(first.weights, reference.weights) < 1e-3);  // not nothing
        CHECK(first.weights == again.weights);
        CHECK(first.weights == hybrid.weights);  // (an all-gather copies: the same bits either way)
        CHECK(first.state == hybrid.state);
        CHECK(first.state == again.state);
        CHECK(same_on_every_rank(c, first.weights));
    }
}
