#include "xgrad/dist/mpi.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "xgrad/error.hpp"

namespace xgrad::dist {

namespace {

void check(int rc, const char* call) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(rc, text, &length);
    throw error(fmt::format("{} failed: {}", call, std::string(text, static_cast<std::size_t>(length))));
}

int count_of(std::size_t n, const char* call) {
    if (n > static_cast<std::size_t>(INT32_MAX))
        throw argument_error(fmt::format("{}: {} elements is more than one MPI call takes", call, n));
    return static_cast<int>(n);
}

/// Block sizes as MPI's ints, their total within one call's limit.
std::vector<int> counts_of(std::span<const std::size_t> counts, const char* call) {
    std::size_t total = 0;
    for (std::size_t n : counts) total += n;
    count_of(total, call);
    std::vector<int> c;
    c.reserve(counts.size());
    for (std::size_t n : counts) c.push_back(static_cast<int>(n));
    return c;
}

using clock_type = std::chrono::steady_clock;

}  // namespace

mpi_environment::mpi_environment(int& argc, char**& argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return;
    int provided = 0;
    check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
}

mpi_environment::~mpi_environment() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
}

bool mpi_environment::launched_by_mpirun() noexcept {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
        if (std::getenv(v) != nullptr) return true;
    }
    return false;
}

void mpi_environment::abort(int status) noexcept {
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);
}

struct mpi_communicator::impl {
    MPI_Comm comm = MPI_COMM_NULL;
    int rank = 0, size = 1;
    std::vector<MPI_Request> requests;  // handle k: requests[k]; MPI_REQUEST_NULL once waited for
};

mpi_communicator::mpi_communicator() : m(std::make_unique<impl>()) {
    check(MPI_Comm_dup(MPI_COMM_WORLD, &m->comm), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(m->comm, &m->rank);
    MPI_Comm_size(m->comm, &m->size);
}

mpi_communicator::~mpi_communicator() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
}

int mpi_communicator::rank() const noexcept {
    return m->rank;
}

int mpi_communicator::size() const noexcept {
    return m->size;
}

namespace {

template <class T>
MPI_Datatype type_of() {
    if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
    if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
    if constexpr (std::is_same_v<T, std::uint64_t>) return MPI_UINT64_T;
}

}  // namespace

#define XGRAD_ALLREDUCE(T)                                                                                   \
    void mpi_communicator::allreduce_sum(std::span<T> x) {                                                   \
        const auto t0 = clock_type::now();                                                                   \
        check(MPI_Allreduce(MPI_IN_PLACE, x.data(), count_of(x.size(), "MPI_Allreduce"), type_of<T>(),       \
                            MPI_SUM, m->comm),                                                               \
              "MPI_Allreduce");                                                                              \
        m_stats.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();                    \
        ++m_stats.allreduces;                                                                                \
        m_stats.bytes += x.size_bytes();                                                                     \
    }                                                                                                        \
    int mpi_communicator::start_allreduce_sum(std::span<T> x) {                                              \
        const auto t0 = clock_type::now();                                                                   \
        MPI_Request r = MPI_REQUEST_NULL;                                                                    \
        check(MPI_Iallreduce(MPI_IN_PLACE, x.data(), count_of(x.size(), "MPI_Iallreduce"), type_of<T>(),     \
                             MPI_SUM, m->comm, &r),                                                          \
              "MPI_Iallreduce");                                                                             \
        m_stats.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();                    \
        ++m_stats.allreduces;                                                                                \
        m_stats.bytes += x.size_bytes();                                                                     \
        for (std::size_t k = 0; k < m->requests.size(); ++k) {                                               \
            if (m->requests[k] == MPI_REQUEST_NULL) {                                                        \
                m->requests[k] = r;                                                                          \
                return static_cast<int>(k);                                                                  \
            }                                                                                                \
        }                                                                                                    \
        m->requests.push_back(r);                                                                            \
        return static_cast<int>(m->requests.size() - 1);                                                     \
    }                                                                                                        \
    void mpi_communicator::reduce_scatter_sum(std::span<const T> in, std::span<T> out,                       \
                                              std::span<const std::size_t> counts) {                         \
        const std::size_t at = block_offset(counts, in.size(), "reduce_scatter_sum");                        \
        static_cast<void>(at);                                                                               \
        if (out.size() != counts[static_cast<std::size_t>(m->rank)])                                         \
            throw argument_error(                                                                            \
                fmt::format("reduce_scatter_sum: this rank's block has {} elements but "                     \
                            "its output has {}",                                                             \
                            counts[static_cast<std::size_t>(m->rank)], out.size()));                         \
        std::vector<int> c = counts_of(counts, "MPI_Reduce_scatter");                                        \
        const auto t0 = clock_type::now();                                                                   \
        /* (MPI wants a valid pointer even for a block of 0 elements) */                                     \
        T none{};                                                                                            \
        check(MPI_Reduce_scatter(in.empty() ? &none : in.data(), out.empty() ? &none : out.data(), c.data(), \
                                 type_of<T>(), MPI_SUM, m->comm),                                            \
              "MPI_Reduce_scatter");                                                                         \
        m_stats.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();                    \
        ++m_stats.allreduces;                                                                                \
        m_stats.bytes += in.size_bytes();                                                                    \
    }                                                                                                        \
    void mpi_communicator::all_gather(std::span<T> x, std::span<const std::size_t> counts) {                 \
        block_offset(counts, x.size(), "all_gather");                                                        \
        std::vector<int> c = counts_of(counts, "MPI_Allgatherv"), at(c.size(), 0);                           \
        for (std::size_t r = 1; r < c.size(); ++r) at[r] = at[r - 1] + c[r - 1];                             \
        const auto t0 = clock_type::now();                                                                   \
        T none{};                                                                                            \
        check(MPI_Allgatherv(MPI_IN_PLACE, 0, type_of<T>(), x.empty() ? &none : x.data(), c.data(),          \
                             at.data(), type_of<T>(), m->comm),                                              \
              "MPI_Allgatherv");                                                                             \
        m_stats.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();                    \
        ++m_stats.allreduces;                                                                                \
        m_stats.bytes += x.size_bytes();                                                                     \
    }                                                                                                        \
    void mpi_communicator::broadcast(std::span<T> x, int root) {                                             \
        check(MPI_Bcast(x.data(), count_of(x.size(), "MPI_Bcast"), type_of<T>(), root, m->comm),             \
              "MPI_Bcast");                                                                                  \
    }

XGRAD_ALLREDUCE(float)
XGRAD_ALLREDUCE(double)
#undef XGRAD_ALLREDUCE

void mpi_communicator::broadcast(std::span<std::uint64_t> x, int root) {
    check(MPI_Bcast(x.data(), count_of(x.size(), "MPI_Bcast"), MPI_UINT64_T, root, m->comm), "MPI_Bcast");
}

void mpi_communicator::wait(int handle) {
    if (handle < 0) return;
    const auto k = static_cast<std::size_t>(handle);
    if (k >= m->requests.size()) throw argument_error(fmt::format("wait: no sum was started as {}", handle));
    const auto t0 = clock_type::now();
    check(MPI_Wait(&m->requests[k], MPI_STATUS_IGNORE), "MPI_Wait");
    m_stats.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::vector<std::uint64_t> mpi_communicator::all_gather(std::uint64_t value) {
    std::vector<std::uint64_t> all(static_cast<std::size_t>(m->size));
    check(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, m->comm), "MPI_Allgather");
    return all;
}

}  // namespace xgrad::dist
