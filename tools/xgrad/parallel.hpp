// mpirun -np N xgrad train: the job the command runs in (docs/distributed.md). Without MPI (a build with
// XGRAD_WITH_MPI=OFF, or a plain start without mpirun) the job is this process alone and nothing here does
// anything.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <xgrad/communicator.hpp>
#include <xgrad/data.hpp>
#include <xgrad/train.hpp>

namespace xgrad::cli {

/// For main's lifetime: initialises MPI when started by mpirun (and finalizes it); on ranks other than 0,
/// standard output goes to /dev/null (rank 0 alone prints progress and results). Keeps the command line for
/// check_same_configuration.
class job_scope {
public:
    job_scope(int& argc, char**& argv);
    ~job_scope();
    job_scope(const job_scope&) = delete;
    job_scope& operator=(const job_scope&) = delete;
};

/// The job's communicator with more than one process, else null (this process alone).
dist::communicator* job_communicator() noexcept;
int job_rank() noexcept;
int job_size() noexcept;
/// Rank 0, or no job: the process that prints results and writes outputs.
inline bool is_root() noexcept {
    return job_rank() == 0;
}

/// Ends every process of the job with `status` (MPI_Abort) after a failure on this rank that the others,
/// waiting in a collective, would never learn of. Returns (does nothing) without a job.
void abort_job(int status) noexcept;

/// Before training: every rank hashes its command line (without --out, --progress and --threads, which may
/// differ) and its data (sizes and a CRC-32 of every split), and compares with rank 0. Throws
/// app::usage_error naming the first rank that differs and what differs. No job: nothing.
void check_same_configuration(const data::dataset<float>& train, const data::dataset<float>& validation,
                              const data::dataset<float>& test);

/// Sets options.communicator, shard_optimizer (unless XGRAD_DIST_SHARD=0) and overlap_reduction (when
/// XGRAD_DIST_OVERLAP=1), and wraps options.on_batch
/// for the test hook XGRAD_TEST_KILL=RANK:K (rank RANK raises SIGKILL on itself after its K-th batch, to test
/// a lost process). No job: nothing.
void attach_job(train::fit_options<float>& options);

/// "allreduce (rank 0): …" — the time this rank was blocked in the job's sums per optimizer step of this run
/// (counted by attach_job's on_batch), for the report after training (empty without a job).
std::string collective_report();

}  // namespace xgrad::cli
