// The collectives of one sharded step of the MLP (784-256-10, float; docs/distributed.md, "Shared memory"),
// through MPI's messages, through MPI-3 shared memory, and shared memory for the sums only (all-gather by
// MPI's messages: XGRAD_DIST_SHM=sums), alternating, with every rank synchronised before
// each step (an untimed MPI barrier), so that the time measured is moving and summing the bytes, not waiting
// for a late rank:
//   mpirun --allow-run-as-root -np 2 build-bench/bench/dist_collectives [STEPS] [ROUNDS]
// Per step as the sharded step of `xgrad train` makes them: the metric sum (2 doubles), the reduce-scatter of
// W1's gradient (200,704 floats, cut at the flat shard boundary), the sum of the small parameters and the
// finiteness flags (2,830 floats), the all-gather of W1. Prints rank 0's median and 10th percentile per step
// and per call, and the bytes copied through the shared segments per step.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include <xgrad/dist/mpi.hpp>
#include <xgrad/distributed.hpp>

namespace dist = xgrad::dist;

namespace {

struct times {
    std::vector<double> metric, rs, small, ag, step;
};

double median(std::vector<double> v, double q = 0.5) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

void run(dist::mpi_communicator& c, int steps, times& t) {
    const std::size_t w1 = 784 * 256, total = w1 + 256 + 256 * 10 + 10;
    std::vector<float> grad(w1), weights(w1), recv(w1), small(2826 + 4);
    std::vector<double> metric(2);
    std::vector<std::size_t> counts;
    for (int r = 0; r < c.size(); ++r) {  // the flat shards of all parameters, restricted to W1
        const auto s = dist::shard_of(total, r, c.size());
        const std::size_t lo = std::min(s.begin, w1), hi = std::min(s.begin + s.count, w1);
        counts.push_back(hi - lo);
    }
    const std::size_t mine = counts[static_cast<std::size_t>(c.rank())];
    using clock = std::chrono::steady_clock;
    const auto ms = [](clock::time_point a, clock::time_point b) {
        return std::chrono::duration<double, std::milli>(b - a).count();
    };
    for (int k = 0; k < steps; ++k) {
        for (std::size_t i = 0; i < w1; ++i)
            grad[i] = static_cast<float>(i % 97) * 1e-3f + static_cast<float>(k);
        MPI_Barrier(MPI_COMM_WORLD);
        const auto t0 = clock::now();
        c.allreduce_sum(std::span<double>(metric));
        const auto t1 = clock::now();
        c.reduce_scatter_sum(std::span<const float>(grad), std::span<float>(recv.data(), mine), counts);
        const auto t2 = clock::now();
        c.allreduce_sum(std::span<float>(small));
        const auto t3 = clock::now();
        c.all_gather(std::span<float>(weights), counts);
        const auto t4 = clock::now();
        t.metric.push_back(ms(t0, t1));
        t.rs.push_back(ms(t1, t2));
        t.small.push_back(ms(t2, t3));
        t.ag.push_back(ms(t3, t4));
        t.step.push_back(ms(t0, t4));
    }
}

}  // namespace

int main(int argc, char** argv) {
    dist::mpi_environment env(argc, argv);
    const int steps = argc > 1 ? std::atoi(argv[1]) : 500, rounds = argc > 2 ? std::atoi(argv[2]) : 3;
    dist::mpi_communicator shm(dist::transport::shared_memory), msg(dist::transport::messages),
        sums(dist::transport::shared_memory_sums);
    times ts, tm, th;
    run(shm, 20, ts);  // warm-up (the segments' first touches)
    run(msg, 20, tm);
    run(sums, 20, th);
    ts = {};
    tm = {};
    th = {};
    shm.reset_stats();
    for (int r = 0; r < rounds; ++r) {
        run(msg, steps, tm);
        run(shm, steps, ts);
        run(sums, steps, th);
    }
    if (shm.rank() == 0) {
        std::printf(
            "%d ranks, %d rounds x %d steps each, alternating; ms per step, median (10th percentile)\n",
            shm.size(), rounds, steps);
        for (auto [name, t] :
             {std::pair{"messages", &tm}, std::pair{"shared memory", &ts}, std::pair{"shm sums", &th}}) {
            std::printf(
                "%-14s step %.4f (%.4f)  metric %.4f  reduce-scatter %.4f  small %.4f  all-gather %.4f\n",
                name, median(t->step), median(t->step, 0.1), median(t->metric), median(t->rs),
                median(t->small), median(t->ag));
        }
        const double n = static_cast<double>(rounds) * steps;
        std::printf("shared memory: %.3f MB copied per step by rank 0, %.4f ms per step in its barriers\n",
                    1e-6 * static_cast<double>(shm.stats().shm_bytes_copied) / n,
                    1e3 * shm.stats().shm_wait_seconds / n);
    }
    return 0;
}
