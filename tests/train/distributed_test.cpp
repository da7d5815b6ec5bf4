// Data parallelism without MPI (distributed.hpp): the slices of a global batch, and the gradient reducer's
// buckets against a stand-in group of identical ranks. The runs over MPI are tests/mpi/.
#include <xgrad/distributed.hpp>

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
