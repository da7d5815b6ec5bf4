// Data parallelism over threads (train_threads.hpp): the shared-memory communicator's sums and failures,
// the sharded batcher, and fit_threads against fit with the same batches.
#include <xgrad/train_threads.hpp>

#include <thread>

#include "support.hpp"

namespace dist = xgrad::dist;
namespace train = xgrad::train;
namespace data = xgrad::data;

namespace {

enum class optimizer_kind { momentum, adam };

template <class T>
struct run_result {
    std::vector<train::epoch_stats> history;
    std::vector<T> weights;        // every parameter, flat
    std::vector<T> state;          // the optimizer's flat state (velocity; or both moments)
    std::size_t steps = 0;         // adam's t
    std::size_t batches_seen = 0;  // on_batch calls
};

template <class T>
std::unique_ptr<xgrad::optim::optimizer<T>> make_optimizer(optimizer_kind kind,
                                                           std::vector<xgrad::parameter<T>*> params) {
    if (kind == optimizer_kind::momentum)
        return std::make_unique<xgrad::optim::sgd<T>>(std::move(params), T(0.05), T(0.9));
    return std::make_unique<xgrad::optim::adam<T>>(std::move(params), T(0.01));
}

/// Trains a 2-16-16-3 tanh MLP on a 3-arm spiral of n training examples with batch `batch` for 3 epochs, on
/// `threads` threads (1: train::fit itself).
template <class T>
run_result<T> run(std::size_t n, std::size_t batch, optimizer_kind kind, int threads,
                  const train::loss_function<T>& loss = {}) {
    auto all = data::make_spiral<T>(n + 90, 3, 0.1, 11);
    auto [tr, val] = data::split(all, 90.0 / static_cast<double>(n + 90), 12);
    REQUIRE(tr.size() == n);
    xgrad::rng g(5);
    auto net = xgrad::nn::mlp<T>({2, 16, 16, 3}, xgrad::nn::activation_kind::tanh, g);
    auto opt = make_optimizer(kind, net->parameters());
    train::fit_options<T> o;
    o.epochs = 3;
    o.batch = batch;
    o.seed = 3;
    o.validation = &val;
    o.loss = loss;
    run_result<T> r;
    o.on_batch = [&r](const train::batch_progress&) { ++r.batches_seen; };
    const auto make = [kind](int rank) {
        xgrad::rng other(100 + static_cast<std::uint64_t>(rank));  // other weights: fit_threads copies
        train::replica<T> rep;
        rep.model = xgrad::nn::mlp<T>({2, 16, 16, 3}, xgrad::nn::activation_kind::tanh, other);
        rep.optimizer = make_optimizer(kind, rep.model->parameters());
        return rep;
    };
    r.history = train::fit_threads<T>(threads, *net, *opt, make, tr, o);
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

/// fit_threads on 2 and 3 threads against fit (one thread) with the same batch.
template <class T>
void check_equivalent(std::size_t n, std::size_t batch, optimizer_kind kind, double tolerance) {
    const auto reference = run<T>(n, batch, kind, 1);
    for (int threads : {2, 3}) {
        const auto parallel = run<T>(n, batch, kind, threads);
        REQUIRE(parallel.history.size() == reference.history.size());
        CHECK(parallel.batches_seen == reference.batches_seen);  // on_batch: on one thread only
        CHECK(parallel.steps == reference.steps);
        {
            INFO(threads << " threads");
            xgrad::test::check_history_agrees(parallel.history, reference.history, tolerance);
        }
        const double dw = xgrad::test::max_relative_difference(parallel.weights, reference.weights);
        const double ds = xgrad::test::max_relative_difference(parallel.state, reference.state);
        INFO(threads << " threads: weights differ by " << dw << ", optimizer state by " << ds);
        CHECK(dw <= tolerance);
        CHECK(ds <= tolerance);
        CHECK(dw < 1e-3);  // rounding, not a wrong average
    }
}

}  // namespace

TEST_CASE("threads: allreduce_sum adds the ranks' values in rank order, whichever thread adds", "[threads]") {
    // Values of mixed magnitudes, so that the order of the additions shows in the rounded float sums.
    constexpr int n = 3;
    constexpr std::size_t size = 1000;  // every thread's slice is used
    std::vector<std::vector<float>> x(n, std::vector<float>(size));
    for (int r = 0; r < n; ++r) {
        const auto v = xgrad::test::random_matrix<float>(1, size, 40 + static_cast<std::uint64_t>(r));
        for (std::size_t i = 0; i < size; ++i)
            x[r][i] = v.data()[i] * (r == 1 ? 1.0f : 3e7f) * (i % 2 == 0 ? 1.0f : -1.0f);
    }
    std::vector<float> in_order(size), other_order(size);
    for (std::size_t i = 0; i < size; ++i) {
        in_order[i] = (x[0][i] + x[1][i]) + x[2][i];
        other_order[i] = (x[2][i] + x[1][i]) + x[0][i];
    }
    REQUIRE(in_order != other_order);  // the test can see the order
    dist::thread_team team(n);
    std::vector<std::thread> others;
    for (int r = 1; r < n; ++r)
        others.emplace_back([&, r] { team.member(r).allreduce_sum(std::span<float>(x[r])); });
    team.member(0).allreduce_sum(std::span<float>(x[0]));
    for (auto& t : others) t.join();
    for (int r = 0; r < n; ++r) {
        INFO("rank " << r);
        CHECK(x[r] == in_order);  // bit for bit, on every rank
    }
    CHECK(team.barriers() == 2);  // publish, combine
}

TEST_CASE("threads: broadcast and all_gather through a thread_team", "[threads]") {
    constexpr int n = 3;
    std::vector<std::vector<double>> x(n);
    std::vector<std::vector<std::uint64_t>> gathered(n);
    for (int r = 0; r < n; ++r) x[r] = {1.0 * r, 2.0 * r, 3.0 * r};
    dist::thread_team team(n);
    const auto work = [&](int r) {
        team.member(r).broadcast(std::span<double>(x[r]), 2);
        gathered[r] = team.member(r).all_gather(static_cast<std::uint64_t>(10 + r));
    };
    std::vector<std::thread> others;
    for (int r = 1; r < n; ++r) others.emplace_back(work, r);
    work(0);
    for (auto& t : others) t.join();
    for (int r = 0; r < n; ++r) {
        CHECK(x[r] == std::vector<double>{2, 4, 6});
        CHECK(gathered[r] == std::vector<std::uint64_t>{10, 11, 12});
    }
}

TEST_CASE("threads: abort wakes a thread waiting at the barrier, and every later wait throws", "[threads]") {
    dist::thread_team team(2);
    std::string waiter_error;
    std::thread waiter([&] {
        try {
            team.arrive_and_wait();  // its partner never arrives: only abort ends this
        } catch (const dist::team_aborted& e) {
            waiter_error = e.what();
        }
    });
    team.abort();
    waiter.join();
    CHECK_THAT(waiter_error, Catch::Contains("another thread of the team failed"));
    CHECK_THROWS_AS(team.arrive_and_wait(), dist::team_aborted);
    CHECK(team.aborted());
}

TEST_CASE(
    "threads: a sharded batcher gathers its slice of each batch of the unsharded one, from a shared copy",
    "[threads]") {
    auto ds = data::make_spiral<float>(53, 3, 0.1, 2);
    const auto rows = data::example_major(ds);
    for (std::size_t ranks : {2u, 3u, 7u}) {  // 7: batches of 5 leave some ranks without examples
        data::batcher<float> whole(ds, 5, 9);
        std::vector<data::batcher<float>> parts;
        for (std::size_t r = 0; r < ranks; ++r) {
            parts.emplace_back(ds, 5, 9);
            parts.back().share_examples(rows);
            parts.back().set_shard(r, ranks);
        }
        std::size_t batches = 0;
        while (whole.next()) {
            ++batches;
            const std::size_t m = whole.x().shape()[1];
            for (std::size_t r = 0; r < ranks; ++r) {
                REQUIRE(parts[r].next());
                const auto sh = dist::shard_of(m, static_cast<int>(r), static_cast<int>(ranks));
                INFO(ranks << " ranks, batch " << batches << ", rank " << r);
                CHECK(parts[r].global_count() == m);
                REQUIRE(parts[r].x().shape() == xgrad::shape2{2, sh.count});
                for (std::size_t i = 0; i < 2; ++i)
                    for (std::size_t j = 0; j < sh.count; ++j)
                        CHECK(parts[r].x()(i, j) == whole.x()(i, sh.begin + j));
                for (std::size_t j = 0; j < sh.count; ++j)
                    CHECK(parts[r].y()(0, j) == whole.y()(0, sh.begin + j));
            }
        }
        CHECK(batches == 11);
        for (auto& p : parts) CHECK_FALSE(p.next());
    }
    data::batcher<float> b(ds, 5, 9);
    CHECK_THROWS_WITH(b.share_examples(std::make_shared<const std::vector<float>>(7)),
                      Catch::Contains("not the data set's 53 × 2"));
    CHECK_THROWS_WITH(b.set_shard(3, 3), Catch::Contains("rank 3 is not one of 3 ranks"));
}

// Batch 8, n = 10·8 + 5: the last batch has 5 examples, split unevenly; momentum, so that a wrongly weighted
// slice changes the update (Adam's update hardly sees a gradient's scale).
TEST_CASE("threads: fit_threads on 2 and 3 threads equals fit with the same batch, double, momentum",
          "[threads]") {
    check_equivalent<double>(10 * 8 + 5, 8, optimizer_kind::momentum, 1e-12);
}

// n = 10·8 + 1: the last batch has one example, so the other threads have none in it.
TEST_CASE("threads: fit_threads equals fit, double, adam, threads without examples", "[threads]") {
    check_equivalent<double>(10 * 8 + 1, 8, optimizer_kind::adam, 1e-12);
}

// A batch of 2, smaller than 3 threads: one thread has no examples in any batch.
TEST_CASE("threads: fit_threads equals fit when the batch is smaller than the thread count", "[threads]") {
    check_equivalent<double>(41, 2, optimizer_kind::momentum, 1e-12);
}

// float: each thread's mean over its slice, scaled by m_r/m and summed, against one mean over the batch,
// rounds differently (the tolerance of the MPI tests, tests/mpi/mpi_cases.cpp).
TEST_CASE("threads: fit_threads equals fit, float, adam, to 2e-5", "[threads]") {
    check_equivalent<float>(10 * 8 + 5, 8, optimizer_kind::adam, 2e-5);
}

TEST_CASE("threads: two runs of fit_threads on 3 threads are bit-identical", "[threads]") {
    const auto a = run<float>(10 * 8 + 5, 8, optimizer_kind::adam, 3);
    const auto b = run<float>(10 * 8 + 5, 8, optimizer_kind::adam, 3);
    CHECK(a.weights == b.weights);
    CHECK(a.state == b.state);
    REQUIRE(a.history.size() == b.history.size());
    for (std::size_t e = 0; e < a.history.size(); ++e) {
        CHECK(a.history[e].loss == b.history[e].loss);
        CHECK(a.history[e].val_loss == b.history[e].val_loss);
    }
}

TEST_CASE("threads: an error in one thread ends every thread with that error", "[threads]") {
    // Batches of 5 on 2 threads: slices of 2 and 3 columns. The loss fails on the 3-column slices only,
    // that is on thread 1 alone; thread 0 waits for it in the gradient sum and must be released.
    const train::loss_function<double> fails_on_thread_1 = [](const auto& z, const auto& y) {
        if (z.cols() == 3) throw xgrad::argument_error("test loss: no slices of 3");
        return xgrad::softmax_cross_entropy(z, y);
    };
    const auto message = xgrad::test::message_of<xgrad::argument_error>(
        [&] { run<double>(40, 5, optimizer_kind::adam, 2, fails_on_thread_1); });
    CHECK_THAT(message, Catch::Contains("test loss: no slices of 3"));

    // A NaN in one thread's slice: the batch's loss is NaN on every thread, and fit's own error is the one.
    const train::loss_function<double> nan_on_thread_1 = [](const auto& z, const auto& y) {
        auto l = xgrad::softmax_cross_entropy(z, y);
        return z.cols() == 3 ? l * std::numeric_limits<double>::quiet_NaN() : l;
    };
    const auto nan_message = xgrad::test::message_of<xgrad::numeric_error>(
        [&] { run<double>(40, 5, optimizer_kind::adam, 2, nan_on_thread_1); });
    CHECK_THAT(nan_message, Catch::Contains("the training loss became nan in epoch 1, batch 1"));
}

// A finite loss whose gradient is NaN on one thread only (0·∞ in the backward of √(z − z) on its 3-column
// slices): the threads find it without a wait of their own, every thread alike, and fit's error names the
// first parameter, as one thread does, with the weights those before the batch.
TEST_CASE("threads: a gradient that is not finite on one thread only stops every thread before the update",
          "[threads]") {
    const train::loss_function<double> nan_gradient_on_one_thread = [](const auto& z, const auto& y) {
        auto l = xgrad::softmax_cross_entropy(z, y);
        return z.cols() == 3 ? l + xgrad::sum(xgrad::pow(z - z, 0.5)) : l;
    };
    auto ds = data::make_spiral<double>(40, 3, 0.1, 2);
    for (int threads : {2, 3}) {
        xgrad::rng g(5);
        auto net = xgrad::nn::mlp<double>({2, 8, 3}, xgrad::nn::activation_kind::tanh, g);
        xgrad::optim::adam<double> opt(net->parameters(), 0.01);
        std::vector<double> before;
        for (auto* p : net->parameters()) before.insert(before.end(), p->value().begin(), p->value().end());
        train::fit_options<double> o;
        o.epochs = 1;
        o.batch = threads == 2 ? 5 : 7;  // slices of 2 and 3 (2 threads); 2, 2 and 3 (3 threads)
        o.loss = nan_gradient_on_one_thread;
        const auto make = [](int) {
            xgrad::rng other(7);
            train::replica<double> rep;
            rep.model = xgrad::nn::mlp<double>({2, 8, 3}, xgrad::nn::activation_kind::tanh, other);
            rep.optimizer = std::make_unique<xgrad::optim::adam<double>>(rep.model->parameters(), 0.01);
            return rep;
        };
        const auto message = xgrad::test::message_of<xgrad::numeric_error>(
            [&] { train::fit_threads<double>(threads, *net, opt, make, ds, o); });
        INFO(threads << " threads");
        CHECK_THAT(message, Catch::Contains("the gradient of '" + net->named_parameters()[0].first +
                                            "' is not finite in epoch 1, batch 1"));
        std::vector<double> after;
        for (auto* p : net->parameters()) after.insert(after.end(), p->value().begin(), p->value().end());
        CHECK(after == before);
        CHECK(opt.steps() == 0);
    }
}

// The barrier waits of a step (counted, not timed): the difference between runs of 4 and 10 batches per
// epoch, so that the waits of the start and of the epoch's end cancel.
TEST_CASE("threads: fit_threads waits at the barrier twice per step", "[threads]") {
    const auto waits = [](int threads, std::size_t batches, optimizer_kind kind) {
        auto ds = data::make_spiral<float>(batches * 8, 3, 0.1, 2);
        xgrad::rng g(1);
        auto net = xgrad::nn::mlp<float>({2, 8, 3}, xgrad::nn::activation_kind::tanh, g);
        auto opt = make_optimizer(kind, net->parameters());
        train::fit_options<float> o;
        o.epochs = 1;
        o.batch = 8;
        const auto make = [kind](int) {
            xgrad::rng other(7);
            train::replica<float> rep;
            rep.model = xgrad::nn::mlp<float>({2, 8, 3}, xgrad::nn::activation_kind::tanh, other);
            rep.optimizer = make_optimizer(kind, rep.model->parameters());
            return rep;
        };
        const std::uint64_t before = dist::thread_team::barriers_in_process();
        train::fit_threads<float>(threads, *net, *opt, make, ds, o);
        return dist::thread_team::barriers_in_process() - before;
    };
    for (int threads : {2, 3}) {
        for (auto kind : {optimizer_kind::adam, optimizer_kind::momentum}) {
            INFO(threads << " threads");
            CHECK(waits(threads, 10, kind) - waits(threads, 4, kind) == 2 * 6);
        }
    }
}

TEST_CASE("threads: on_epoch throwing on the caller's thread stops the other threads too", "[threads]") {
    auto ds = data::make_spiral<float>(60, 3, 0.1, 2);
    xgrad::rng g(1);
    auto net = xgrad::nn::mlp<float>({2, 8, 3}, xgrad::nn::activation_kind::tanh, g);
    xgrad::optim::adam<float> opt(net->parameters(), 0.01f);
    train::fit_options<float> o;
    o.epochs = 5;
    o.batch = 10;
    int epochs_seen = 0;
    o.on_epoch = [&](const train::epoch_stats& e) {
        ++epochs_seen;
        if (e.epoch == 2) throw std::runtime_error("enough");
    };
    const auto replicas_of_width = [](std::size_t hidden) {
        return [hidden](int) {
            xgrad::rng other(7);
            train::replica<float> rep;
            rep.model = xgrad::nn::mlp<float>({2, hidden, 3}, xgrad::nn::activation_kind::tanh, other);
            rep.optimizer = std::make_unique<xgrad::optim::adam<float>>(rep.model->parameters(), 0.01f);
            return rep;
        };
    };
    const auto make = replicas_of_width(8);
    CHECK_THROWS_WITH(train::fit_threads<float>(3, *net, opt, make, ds, o), "enough");
    CHECK(epochs_seen == 2);
    CHECK(opt.steps() == 12);  // 2 epochs of 6 batches

    // A replica unlike the model is refused before any thread starts.
    const auto wrong = replicas_of_width(9);
    CHECK_THROWS_WITH(
        train::fit_threads<float>(2, *net, opt, wrong, ds, o),
        Catch::Contains("make_replica(1) gave a model or an optimizer unlike the one to train"));
}

// fit_threads runs one single-threaded gemm per worker at once. OpenBLAS 0.3.21 built with pthreads takes a
// lock around its buffer pool (blas_memory_alloc), and its USAGE.md asks multi-threaded programs for exactly
// this (openblas_set_num_threads(1)); here the concurrent products must equal the same products made one at a
// time, bit for bit.
TEST_CASE("threads: concurrent single-threaded gemms give the results of the same gemms one at a time",
          "[threads]") {
    constexpr int threads = 3, rounds = 40;
    const int blas_before = xgrad::num_threads();
    xgrad::set_num_threads(1);
    std::vector<xgrad::matrix<float>> a, b, serial;
    for (int t = 0; t < threads; ++t) {
        a.push_back(xgrad::test::random_matrix<float>(96, 300, 60 + static_cast<std::uint64_t>(t)));
        b.push_back(xgrad::test::random_matrix<float>(300, 64, 70 + static_cast<std::uint64_t>(t)));
        serial.emplace_back(xgrad::matrix<float>({96, 64}));
        xgrad::gemm(false, false, 1.0f, a[t], b[t], 0.0f, serial[t]);
    }
    std::vector<int> mismatches(threads, 0);
    const auto work = [&](int t) {
        xgrad::matrix<float> c({96, 64});
        for (int r = 0; r < rounds; ++r) {
            xgrad::gemm(false, false, 1.0f, a[t], b[t], 0.0f, c);
            mismatches[t] += !std::equal(c.begin(), c.end(), serial[t].begin());
        }
    };
    std::vector<std::thread> others;
    for (int t = 1; t < threads; ++t) others.emplace_back(work, t);
    work(0);
    for (auto& t : others) t.join();
    if (blas_before > 0) xgrad::set_num_threads(blas_before);
    CHECK(mismatches == std::vector<int>(threads, 0));
}
