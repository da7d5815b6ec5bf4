// Data parallelism without MPI (distributed.hpp): the slices of a global batch, and the gradient reducer's
// buckets against a stand-in group of identical ranks. The runs over MPI are tests/mpi/.
#include <xgrad/distributed.hpp>

#include <thread>

#include <xgrad/train_threads.hpp>

#include "support.hpp"

namespace dist = xgrad::dist;

namespace {

/// N ranks that all hold this process's numbers: a sum over them is N times the value.
class identical_ranks final : public dist::communicator {
public:
    explicit identical_ranks(int n) : m_n(n) {}
    int rank() const noexcept override { return 0; }
    int size() const noexcept override { return m_n; }
    void allreduce_sum(std::span<float> x) override { blocking(x); }
    void allreduce_sum(std::span<double> x) override { blocking(x); }
    int start_allreduce_sum(std::span<float> x) override { return start(x); }
    int start_allreduce_sum(std::span<double> x) override { return start(x); }
    void wait(int handle) override {
        REQUIRE(handle == static_cast<int>(waited));  // finished in the order started
        ++waited;
    }
    void broadcast(std::span<float>, int) override {}
    void broadcast(std::span<double>, int) override {}
    void broadcast(std::span<std::uint64_t>, int) override {}
    std::vector<std::uint64_t> all_gather(std::uint64_t v) override {
        return std::vector<std::uint64_t>(static_cast<std::size_t>(m_n), v);
    }
    std::vector<std::size_t> started_sizes;  // elements of each non-blocking sum started, in order
    std::vector<std::size_t> summed_sizes;   // elements of each blocking sum, in order
    std::size_t waited = 0;

private:
    template <class T>
    void scale(std::span<T> x) {
        for (auto& v : x) v *= static_cast<T>(m_n);
    }
    template <class T>
    void blocking(std::span<T> x) {
        scale(x);
        summed_sizes.push_back(x.size());
    }
    template <class T>
    int start(std::span<T> x) {
        scale(x);
        started_sizes.push_back(x.size());
        return static_cast<int>(started_sizes.size() - 1);
    }
    int m_n;
};

}  // namespace

TEST_CASE("distributed: shard_of splits m items into N ordered slices that differ by at most one", "[dist]") {
    for (std::size_t m = 0; m <= 40; ++m) {
        for (int n = 1; n <= 5; ++n) {
            std::size_t next = 0, smallest = m, largest = 0;
            for (int r = 0; r < n; ++r) {
                const auto s = dist::shard_of(m, r, n);
                INFO("m " << m << ", rank " << r << " of " << n);
                CHECK(s.begin == next);
                next = s.begin + s.count;
                smallest = std::min(smallest, s.count);
                largest = std::max(largest, s.count);
            }
            CHECK(next == m);
            CHECK(largest - smallest <= 1);
        }
    }
    CHECK(dist::shard_of(5, 2, 3).count == 2);  // ⌊5·2/3⌋ = 3 … ⌊5·3/3⌋ = 5
    CHECK_THROWS_WITH(dist::shard_of(5, 3, 3), Catch::Contains("rank 3 is not one of the 3 ranks"));
}

TEST_CASE(
    "distributed: gradient_reducer packs and unpacks every gradient in buckets, with and without overlap",
    "[dist]") {
    xgrad::rng g(3);
    auto net = xgrad::nn::mlp<double>({3, 7, 5, 2}, xgrad::nn::activation_kind::tanh, g);
    xgrad::matrix<double> x({3, 6}), y({1, 6});
    for (std::size_t j = 0; j < 6; ++j) {
        for (std::size_t i = 0; i < 3; ++i)
            x(i, j) = 0.3 * static_cast<double>(i) - 0.1 * static_cast<double>(j);
        y(0, j) = static_cast<double>(j % 2);
    }
    const auto grads = [&] {
        std::vector<double> v;
        for (auto* p : net->parameters()) v.insert(v.end(), p->grad().begin(), p->grad().end());
        return v;
    };
    xgrad::graph<double> tape;
    const auto record = [&] {
        tape.clear();
        net->zero_grad();
        return xgrad::softmax_cross_entropy((*net)(tape.borrow(x)), tape.borrow(y));
    };
    tape.backward(record());
    const std::vector<double> plain = grads();
    // mode 0: reducer.backward, blocking; 1: with overlap; 2: the caller's backward, then reduce (scaling the
    // accumulated gradients instead of seeding backward with the scale).
    for (int mode : {0, 1, 2}) {
        const bool overlap = mode == 1;
        // 4 identical ranks, each weighted 1/4: the sum is the gradient itself (powers of 2: exactly).
        for (const std::size_t bucket : {12, 100}) {
            identical_ranks four(4);
            dist::gradient_reducer<double> reducer(four, net->parameters(), bucket * sizeof(double));
            CHECK(reducer.elements() == plain.size());
            if (mode == 2) {
                tape.backward(record());
                reducer.reduce(0.25);
            } else {
                reducer.backward(tape, record(), 0.25, overlap);
            }
            INFO("mode " << mode << ", buckets of " << bucket << " elements");
            CHECK(grads() == plain);
            CHECK(four.waited == four.started_sizes.size());
            // Reverse parameter order; a parameter of at least a quarter of the bucket size alone in its
            // bucket (summed in place), the others packed until the next would pass the size:
            //   12: b3 (2) | W3 (10) | b2 (5) | W2 (35) | b1 (7) | W1 (21)
            //  100: b3 (2) + W3 (10) + b2 (5) | W2 (35) | b1 (7) + W1 (21)
            const std::vector<std::size_t> buckets = bucket == 12
                                                         ? std::vector<std::size_t>{2, 10, 5, 35, 7, 21}
                                                         : std::vector<std::size_t>{17, 35, 28};
            CHECK(reducer.buckets() == buckets.size());
            CHECK((overlap ? four.started_sizes : four.summed_sizes) == buckets);
            CHECK((overlap ? four.summed_sizes : four.started_sizes).empty());
        }
    }
}

TEST_CASE("distributed: every communicator reduce-scatters and all-gathers, and shards the optimizer's step",
          "[dist]") {
    // thread_team has only the communicator's default reduce_scatter_sum and all_gather (over allreduce_sum).
    constexpr int n = 3;
    dist::thread_team team(n);
    const std::vector<std::size_t> counts{2, 0, 3};  // a rank with an empty block
    std::vector<std::vector<double>> scattered(n), gathered(n), in_place(n);
    // sharded_optimizer on each thread (2-5-3 tanh MLP, 33 parameters: shards of 11 cut W1 and W2), against
    // the whole step after one sum.
    std::vector<std::vector<double>> weights(n), reference(n);
    std::vector<std::thread> threads;
    for (int r = 0; r < n; ++r) {
        threads.emplace_back([&, r] {
            auto& c = team.member(r);
            const auto me = static_cast<std::size_t>(r);
            std::vector<double> in(5), out(counts[me]);
            for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<double>(10 * r + i);
            c.reduce_scatter_sum(std::span<const double>(in), std::span<double>(out), counts);
            scattered[me] = out;
            std::size_t at = 0;
            for (std::size_t q = 0; q < me; ++q) at += counts[q];
            std::vector<double> y = in;  // in place: this rank's block of y itself
            c.reduce_scatter_sum_in_place(std::span<double>(y), counts);
            in_place[me].assign(y.begin() + static_cast<std::ptrdiff_t>(at),
                                y.begin() + static_cast<std::ptrdiff_t>(at + counts[me]));
            std::vector<double> x(5, -1.0);
            for (std::size_t i = 0; i < counts[me]; ++i) x[at + i] = 100.0 * (r + 1) + static_cast<double>(i);
            c.all_gather(std::span<double>(x), counts);
            gathered[me] = x;

            xgrad::rng g(4), g2(4);
            auto net = xgrad::nn::mlp<double>({2, 5, 3}, xgrad::nn::activation_kind::tanh, g);
            auto ref = xgrad::nn::mlp<double>({2, 5, 3}, xgrad::nn::activation_kind::tanh, g2);
            xgrad::optim::sgd<double> opt(net->parameters(), 0.1, 0.9), ref_opt(ref->parameters(), 0.1, 0.9);
            dist::sharded_optimizer<double> zero(c, opt, 8);  // buckets of one parameter each
            for (int step = 0; step < 2; ++step) {
                for (std::size_t k = 0; k < opt.params().size(); ++k) {
                    auto& gw = opt.params()[k]->grad_for_writing();
                    auto& gr = ref_opt.params()[k]->grad_for_writing();
                    for (std::size_t i = 0; i < gw.size(); ++i) {
                        gw.data()[i] = 0.25 * static_cast<double>(r + 1) * static_cast<double>(i + k + step);
                        gr.data()[i] = 0.5 * gw.data()[i];
                    }
                    c.allreduce_sum(std::span<double>(gr.data(), gr.size()));
                }
                zero.reduce(0.5);
                if (zero.first_non_finite() != opt.params().size()) return;
                zero.step();
                ref_opt.step();
            }
            zero.gather_state();
            for (auto* p : opt.params())
                weights[me].insert(weights[me].end(), p->value().begin(), p->value().end());
            weights[me].insert(weights[me].end(), opt.velocity().begin(), opt.velocity().end());
            for (auto* p : ref_opt.params())
                reference[me].insert(reference[me].end(), p->value().begin(), p->value().end());
            reference[me].insert(reference[me].end(), ref_opt.velocity().begin(), ref_opt.velocity().end());
        });
    }
    for (auto& t : threads) t.join();
    // Σ_r (10r + i) = 3i + 30 for element i; rank 0 gets elements 0–1, rank 2 elements 2–4.
    CHECK(scattered[0] == std::vector<double>{30, 33});
    CHECK(scattered[1].empty());
    CHECK(scattered[2] == std::vector<double>{36, 39, 42});
    CHECK(in_place == scattered);
    for (int r = 0; r < n; ++r) {
        INFO("rank " << r);
        CHECK(gathered[static_cast<std::size_t>(r)] == std::vector<double>{100, 101, 300, 301, 302});
        REQUIRE(weights[static_cast<std::size_t>(r)].size() == 2 * 33);
        // The sums are of exact multiples of 1/8: the sharded step equals the whole one bit for bit.
        CHECK(weights[static_cast<std::size_t>(r)] == reference[static_cast<std::size_t>(r)]);
    }
}
