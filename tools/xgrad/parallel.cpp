#include "parallel.hpp"

#include <zlib.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "app/arguments.hpp"

#ifdef XGRAD_WITH_MPI
#include <xgrad/dist/mpi.hpp>
#endif

namespace xgrad::cli {

namespace {

#ifdef XGRAD_WITH_MPI
std::optional<dist::mpi_environment> g_environment;
std::unique_ptr<dist::mpi_communicator> g_comm;
#endif
std::vector<std::string> g_args;  // the command line after the program's name
std::size_t g_steps = 0;          // optimizer steps of this run (attach_job's on_batch)

/// FNV-1a, 64 bits, continued from `h`.
std::uint64_t fnv(std::string_view bytes, std::uint64_t h = 1469598103934665603ull) {
    for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    return h;
}

std::uint64_t crc_of(const data::dataset<float>& d) {
    uLong c = crc32_z(0L, Z_NULL, 0);
    c = crc32_z(c, reinterpret_cast<const Bytef*>(d.x.data()), d.x.size() * sizeof(float));
    c = crc32_z(c, reinterpret_cast<const Bytef*>(d.y.data()), d.y.size() * sizeof(float));
    return static_cast<std::uint64_t>(c);
}

std::string describe(const data::dataset<float>& d) {
    return fmt::format("{}×{}, {} classes, CRC-32 {:08x}", d.features(), d.size(), d.classes, crc_of(d));
}

}  // namespace

job_scope::job_scope(int& argc, char**& argv) {
    g_args.assign(argv + 1, argv + argc);
#ifdef XGRAD_WITH_MPI
    if (!dist::mpi_environment::launched_by_mpirun()) return;
    g_environment.emplace(argc, argv);
    g_comm = std::make_unique<dist::mpi_communicator>();
    if (g_comm->rank() != 0) {
        if (std::freopen("/dev/null", "w", stdout) == nullptr) std::fclose(stdout);
    }
#endif
}

job_scope::~job_scope() {
#ifdef XGRAD_WITH_MPI
    g_comm.reset();
    g_environment.reset();
#endif
}

dist::communicator* job_communicator() noexcept {
#ifdef XGRAD_WITH_MPI
    if (g_comm && g_comm->size() > 1) return g_comm.get();
#endif
    return nullptr;
}

int job_rank() noexcept {
    const dist::communicator* c = job_communicator();
    return c != nullptr ? c->rank() : 0;
}

int job_size() noexcept {
    const dist::communicator* c = job_communicator();
    return c != nullptr ? c->size() : 1;
}

void abort_job(int status) noexcept {
#ifdef XGRAD_WITH_MPI
    if (job_communicator() != nullptr) {
        std::fflush(stdout);
        std::fflush(stderr);
        dist::mpi_environment::abort(status);
    }
#else
    static_cast<void>(status);
#endif
}

void check_same_configuration(const data::dataset<float>& train, const data::dataset<float>& validation,
                              const data::dataset<float>& test) {
    dist::communicator* comm = job_communicator();
    if (comm == nullptr) return;
    // The flags, without those that may differ between ranks (where output goes, how progress shows).
    const std::vector<std::string>& args = g_args;
    std::uint64_t flags = fnv("flags");
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        bool skip = false;
        for (const char* f : {"--out", "--progress", "--threads"}) {
            if (a == f) skip = true, ++i;  // and its value
            if (a.rfind(std::string(f) + "=", 0) == 0) skip = true;
        }
        if (!skip) flags = fnv(std::string_view(a.data(), a.size() + 1), flags);  // with its '\0'
    }
    std::uint64_t data = fnv("data");
    for (const auto* d : {&train, &validation, &test}) data = fnv(describe(*d), data);
    const auto all_flags = comm->all_gather(flags);
    const auto all_data = comm->all_gather(data);
    for (std::size_t r = 1; r < all_flags.size(); ++r) {
        if (all_flags[r] != all_flags[0]) {
            throw app::usage_error(fmt::format(
                "rank {} of {} was started with other flags than rank 0 (every process of mpirun must run "
                "the same xgrad train command; only --out, --progress and --threads may differ)",
                r, all_flags.size()));
        }
        if (all_data[r] != all_data[0]) {
            throw app::usage_error(fmt::format(
                "rank {} of {} read other data than rank 0 (training set here on rank {}: {}); every "
                "process must read the same files",
                r, all_data.size(), comm->rank(), describe(train)));
        }
    }
}

void attach_job(train::fit_options<float>& options) {
    dist::communicator* comm = job_communicator();
    if (comm == nullptr) return;
    options.communicator = comm;
    // XGRAD_DIST_OVERLAP=1: non-blocking sums started during backward (off by default: docs/distributed.md).
    if (const char* v = std::getenv("XGRAD_DIST_OVERLAP"); v != nullptr && std::string_view(v) == "1")
        options.overlap_reduction = true;
    // The optimizer's step sharded over the processes (ZeRO-1; docs/distributed.md): XGRAD_DIST_SHARD=0 turns
    // it off (every process then steps every parameter after an allreduce).
    const char* shard = std::getenv("XGRAD_DIST_SHARD");
    options.shard_optimizer = !(shard != nullptr && std::string_view(shard) == "0");
#ifdef XGRAD_WITH_MPI
    g_comm->reset_stats();
#endif
    g_steps = 0;
    const char* hook = std::getenv("XGRAD_TEST_KILL");
    int rank = -1;
    long long after = 0;
    if (hook == nullptr || std::sscanf(hook, "%d:%lld", &rank, &after) != 2 || rank != comm->rank())
        after = 0;  // no kill
    options.on_batch = [previous = options.on_batch, after, rank,
                        done = 0LL](const train::batch_progress& p) mutable {
        if (previous) previous(p);
        ++g_steps;
        if (++done == after) {
            fmt::print(stderr, "xgrad: XGRAD_TEST_KILL: rank {} kills itself (SIGKILL) after {} batches\n",
                       rank, done);
            std::fflush(stderr);
            std::raise(SIGKILL);
        }
    };
}

std::string collective_report() {
    const std::size_t steps = g_steps;
#ifdef XGRAD_WITH_MPI
    if (job_communicator() == nullptr || steps == 0) return {};
    const auto& s = g_comm->stats();
    const double per_step = 1.0 / static_cast<double>(steps);
    std::string text = fmt::format(
        "allreduce (rank 0): {:.3f} ms per step blocked in the collectives ({} calls, {:.2f} MB per step, "
        "{:.1f} s in all)",
        1e3 * s.seconds * per_step, s.allreduces, 1e-6 * static_cast<double>(s.bytes) * per_step, s.seconds);
    if (g_comm->shared_memory()) {
        text += fmt::format(
            "; shared memory: {:.3f} ms per step waiting in its barriers, {:.2f} MB per step "
            "copied",
            1e3 * s.shm_wait_seconds * per_step, 1e-6 * static_cast<double>(s.shm_bytes_copied) * per_step);
    }
    return text;
#else
    static_cast<void>(steps);
    return {};
#endif
}

}  // namespace xgrad::cli
