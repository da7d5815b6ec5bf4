/// @file dist/mpi.hpp
/// @brief xgrad::dist over MPI (the xgrad::dist library, built when CMake finds MPI): the environment a
/// program started by `mpirun -np N` runs in, and a communicator over its processes. The header does not
/// include <mpi.h>.
///
///   int main(int argc, char** argv) {
///       xgrad::dist::mpi_environment env(argc, argv);   // MPI_Init … MPI_Finalize
///       xgrad::dist::mpi_communicator comm;              // all processes of the job
///       xgrad::train::fit_options<float> o;  o.communicator = &comm;   // fit shards and averages
///       …; if (comm.rank() == 0) save the model;
///   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "xgrad/communicator.hpp"

namespace xgrad::dist {

/// Initialises MPI for the program's lifetime (MPI_Init_thread, funneled; MPI_Finalize in the destructor).
/// One per process, made before any mpi_communicator.
class mpi_environment {
public:
    mpi_environment(int& argc, char**& argv);
    ~mpi_environment();
    mpi_environment(const mpi_environment&) = delete;
    mpi_environment& operator=(const mpi_environment&) = delete;

    /// Whether this process was started by an MPI launcher (mpirun, mpiexec): its environment says so.
    static bool launched_by_mpirun() noexcept;
    /// Ends every process of the job at once with `status` (MPI_Abort): for a failure on one rank that the
    /// others, waiting in a collective, would never learn about.
    [[noreturn]] static void abort(int status) noexcept;
};

/// Time and traffic of the collectives of one communicator.
struct collective_stats {
    std::size_t allreduces =
        0;                  ///< allreduce_sum, start_allreduce_sum, reduce_scatter_sum and all_gather calls
    std::size_t bytes = 0;  ///< their payload (per rank: the whole buffer of a reduce-scatter or all-gather)
    double seconds = 0;     ///< wall time inside them and wait (blocked on the collectives)
    /// Shared-memory collectives only (transport::shared_memory): the calls that ran so, the bytes this rank
    /// copied into its segment and read from the other ranks' segments, and the time spent in their barriers
    /// (waiting for the other ranks; the rest of `seconds` is copying and summing).
    std::size_t shm_calls = 0;
    std::size_t shm_bytes_copied = 0;
    double shm_wait_seconds = 0;
};

/// How an mpi_communicator moves the data of its sums, reduce-scatters and all-gathers.
enum class transport {
    automatic,           ///< from the environment: XGRAD_DIST_SHM=0 messages, =sums shared_memory_sums,
                         ///< else shared_memory
    messages,            ///< MPI's collectives (MPI_Allreduce, MPI_Reduce_scatter, MPI_Allgatherv)
    shared_memory,       ///< MPI-3 shared memory when every rank is on one node (else messages)
    shared_memory_sums,  ///< shared memory for the sums and reduce-scatters, MPI_Allgatherv (one copy by
                         ///< the receiver with Open MPI's CMA) for all_gather
};

/// A communicator over MPI_COMM_WORLD (a duplicate of it). The MPI errors handler is MPI_ERRORS_ARE_FATAL:
/// a lost process ends the job (mpirun reports which).
///
/// With transport::shared_memory and every rank on one node (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)),
/// allreduce_sum, reduce_scatter_sum and all_gather run through segments of one MPI-3 shared window
/// (MPI_Win_allocate_shared): each rank copies what the others need into its own segment, one MPI_Barrier,
/// and each rank reads the others' segments directly — sums in rank order, Σ_q x_q = ((x_0 + x_1) + …), the
/// same bits on every rank and in every run — instead of messages copied through MPI's transport. Two halves
/// per segment, used in turn, so that a call's writes never meet the previous call's reads without a
/// barrier in between. The choice is made once, collectively (every rank takes shared memory or none).
/// Broadcasts, the non-blocking sums and the gather of one number stay MPI's.
class mpi_communicator final : public communicator {
public:
    explicit mpi_communicator(transport how = transport::automatic);
    ~mpi_communicator() override;
    mpi_communicator(const mpi_communicator&) = delete;
    mpi_communicator& operator=(const mpi_communicator&) = delete;

    int rank() const noexcept override;
    int size() const noexcept override;
    void allreduce_sum(std::span<float> x) override;
    void allreduce_sum(std::span<double> x) override;
    int start_allreduce_sum(std::span<float> x) override;
    int start_allreduce_sum(std::span<double> x) override;
    void wait(int handle) override;
    /// MPI_Reduce_scatter (blocks of any sizes) and MPI_Allgatherv (in place).
    void reduce_scatter_sum(std::span<const float> in, std::span<float> out,
                            std::span<const std::size_t> counts) override;
    void reduce_scatter_sum(std::span<const double> in, std::span<double> out,
                            std::span<const std::size_t> counts) override;
    /// MPI_Reduce_scatter with MPI_IN_PLACE (then this rank's block moved into place); with shared memory
    /// summed directly into the block.
    void reduce_scatter_sum_in_place(std::span<float> x, std::span<const std::size_t> counts) override;
    void reduce_scatter_sum_in_place(std::span<double> x, std::span<const std::size_t> counts) override;
    void all_gather(std::span<float> x, std::span<const std::size_t> counts) override;
    void all_gather(std::span<double> x, std::span<const std::size_t> counts) override;
    using communicator::all_gather;
    void broadcast(std::span<float> x, int root) override;
    void broadcast(std::span<double> x, int root) override;
    void broadcast(std::span<std::uint64_t> x, int root) override;
    std::vector<std::uint64_t> all_gather(std::uint64_t value) override;

    /// Whether the collectives run through shared memory (see transport).
    bool shared_memory() const noexcept;

    const collective_stats& stats() const noexcept { return m_stats; }
    void reset_stats() noexcept { m_stats = {}; }

private:
    struct impl;
    std::unique_ptr<impl> m;
    collective_stats m_stats;
};

}  // namespace xgrad::dist
