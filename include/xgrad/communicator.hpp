/// @file communicator.hpp
/// @brief What data-parallel training needs from a group of processes, as an interface the core can call
/// without knowing how the processes talk: rank and size, a sum over all ranks (blocking and started now /
/// finished later), a reduce-scatter and an all-gather of a flat buffer cut into one block per rank (for
/// sharding the optimizer's step, ZeRO stage 1), a broadcast from one rank, and a gather of one number per
/// rank. The core's local_communicator is the group of one process; xgrad::dist (include/xgrad/dist/mpi.hpp,
/// built when MPI is found) implements it over MPI. Every rank must make the same calls in the same order
/// (collectives).
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

    /// Reduce-scatter: `in` holds Σ_r counts[r] elements on every rank, block r at offset Σ_{q<r} counts[q];
    /// out (counts[rank()] elements) ← Σ_ranks (this rank's block of in). The default sums all of `in` with
    /// allreduce_sum (on a copy) and keeps this rank's block: correct for any communicator, not the cheapest.
    virtual void reduce_scatter_sum(std::span<const float> in, std::span<float> out,
                                    std::span<const std::size_t> counts) {
        default_reduce_scatter(in, out, counts);
    }
    virtual void reduce_scatter_sum(std::span<const double> in, std::span<double> out,
                                    std::span<const std::size_t> counts) {
        default_reduce_scatter(in, out, counts);
    }
    /// Reduce-scatter in place: x holds Σ_r counts[r] elements as `in` above; this rank's block of x ←
    /// Σ_ranks (that block of x); the other blocks of x are left unspecified. The default reduces into a
    /// copy with reduce_scatter_sum.
    virtual void reduce_scatter_sum_in_place(std::span<float> x, std::span<const std::size_t> counts) {
        default_reduce_scatter_in_place(x, counts);
    }
    virtual void reduce_scatter_sum_in_place(std::span<double> x, std::span<const std::size_t> counts) {
        default_reduce_scatter_in_place(x, counts);
    }
    /// All-gather in place: x holds Σ_r counts[r] elements, block r at offset Σ_{q<r} counts[q]; every rank's
    /// block r ← rank r's block r. The default zeroes the other blocks and sums with allreduce_sum (x + 0 is
    /// x: exact).
    virtual void all_gather(std::span<float> x, std::span<const std::size_t> counts) {
        default_all_gather(x, counts);
    }
    virtual void all_gather(std::span<double> x, std::span<const std::size_t> counts) {
        default_all_gather(x, counts);
    }

    /// x ← root's x, on every rank.
    virtual void broadcast(std::span<float> x, int root) = 0;
    virtual void broadcast(std::span<double> x, int root) = 0;
    virtual void broadcast(std::span<std::uint64_t> x, int root) = 0;

    /// Every rank's `value`, indexed by rank (the same vector on every rank).
    virtual std::vector<std::uint64_t> all_gather(std::uint64_t value) = 0;

protected:
    /// Where this rank's block starts, checking that counts has one entry per rank summing to `total`.
    std::size_t block_offset(std::span<const std::size_t> counts, std::size_t total, const char* what) const;

private:
    template <class T>
    void default_reduce_scatter(std::span<const T> in, std::span<T> out,
                                std::span<const std::size_t> counts) {
        const std::size_t at = block_offset(counts, in.size(), "reduce_scatter_sum");
        const std::size_t n = counts[static_cast<std::size_t>(rank())];
        check_block(out.size(), n, "reduce_scatter_sum");
        std::vector<T> all(in.begin(), in.end());
        allreduce_sum(std::span<T>(all));
        for (std::size_t i = 0; i < n; ++i) out[i] = all[at + i];
    }
    template <class T>
    void default_reduce_scatter_in_place(std::span<T> x, std::span<const std::size_t> counts) {
        const std::size_t at = block_offset(counts, x.size(), "reduce_scatter_sum_in_place");
        std::vector<T> out(counts[static_cast<std::size_t>(rank())]);
        reduce_scatter_sum(std::span<const T>(x.data(), x.size()), std::span<T>(out), counts);
        for (std::size_t i = 0; i < out.size(); ++i) x[at + i] = out[i];
    }
    template <class T>
    void default_all_gather(std::span<T> x, std::span<const std::size_t> counts) {
        const std::size_t at = block_offset(counts, x.size(), "all_gather");
        const std::size_t n = counts[static_cast<std::size_t>(rank())];
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (i < at || i >= at + n) x[i] = T(0);
        }
        allreduce_sum(x);
    }
    static void check_block(std::size_t got, std::size_t want, const char* what);
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
