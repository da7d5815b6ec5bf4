/// @file communicator.hpp
/// @brief What data-parallel training needs from a group of processes, as an interface the core can call
/// without knowing how the processes talk: rank and size, a sum over all ranks (blocking and started now /
/// finished later), a broadcast from one rank, and a gather of one number per rank. The core's
/// local_communicator is the group of one process; xgrad::dist (include/xgrad/dist/mpi.hpp, built when MPI is
/// found) implements it over MPI. Every rank must make the same calls in the same order (collectives).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace xgrad::dist {

/// A group of `size()` processes numbered 0 … size() − 1, of which this is `rank()`.
class communicator {
public:
    virtual ~communicator() = default;
    virtual int rank() const noexcept = 0;
    virtual int size() const noexcept = 0;

    /// In place on every rank: x ← Σ_ranks x (element-wise; the same result on every rank).
    virtual void allreduce_sum(std::span<float> x) = 0;
    virtual void allreduce_sum(std::span<double> x) = 0;

    /// A sum started now and finished by wait(handle) (it may overlap with computation in between; x must
    /// stay untouched until then). The default sums at once and wait does nothing.
    virtual int start_allreduce_sum(std::span<float> x) {
        allreduce_sum(x);
        return -1;
    }
    virtual int start_allreduce_sum(std::span<double> x) {
        allreduce_sum(x);
        return -1;
    }
    /// Finishes the sum start_allreduce_sum returned `handle` for (−1: nothing to wait for).
    virtual void wait(int handle) { static_cast<void>(handle); }

    /// x ← root's x, on every rank.
    virtual void broadcast(std::span<float> x, int root) = 0;
    virtual void broadcast(std::span<double> x, int root) = 0;
    virtual void broadcast(std::span<std::uint64_t> x, int root) = 0;

    /// Every rank's `value`, indexed by rank (the same vector on every rank).
    virtual std::vector<std::uint64_t> all_gather(std::uint64_t value) = 0;
};

/// The group of this process alone (rank 0 of 1): every collective leaves its data as it is.
class local_communicator final : public communicator {
public:
    int rank() const noexcept override { return 0; }
    int size() const noexcept override { return 1; }
    void allreduce_sum(std::span<float>) override {}
    void allreduce_sum(std::span<double>) override {}
    void broadcast(std::span<float>, int) override {}
    void broadcast(std::span<double>, int) override {}
    void broadcast(std::span<std::uint64_t>, int) override {}
    std::vector<std::uint64_t> all_gather(std::uint64_t value) override { return {value}; }
};

}  // namespace xgrad::dist
