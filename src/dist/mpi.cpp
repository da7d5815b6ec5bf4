#include "xgrad/dist/mpi.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

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

    // Shared memory (transport::shared_memory): the ranks of one node, one window of a segment per rank,
    // each segment two halves of `capacity` bytes used in turn (`half`: the one the next call uses).
    bool shm = false;
    bool shm_gather = true;  // all_gather through shared memory too (transport::shared_memory_sums: not)
    MPI_Comm node = MPI_COMM_NULL;
    MPI_Win win = MPI_WIN_NULL;
    std::size_t capacity = 0;
    std::vector<std::byte*> segments;  // rank q's segment (both halves)
    int half = 0;
    std::vector<const void*> sources;  // sum_into's per-rank inputs (3 ranks or more)

    void free_window() {
        if (win == MPI_WIN_NULL) return;
        MPI_Win_unlock_all(win);
        MPI_Win_free(&win);
        win = MPI_WIN_NULL;
        segments.clear();
        capacity = 0;
    }
    /// Segments of at least `bytes` per half (collective: every rank calls it with the same size).
    void reserve(std::size_t bytes) {
        if (bytes <= capacity) return;
        // The other ranks may still read the last call's half: wait for all before freeing it.
        if (win != MPI_WIN_NULL) check(MPI_Barrier(node), "MPI_Barrier");
        free_window();
        const std::size_t want = std::max<std::size_t>(bytes, 4096);
        const std::size_t cap = (want + 4095) / 4096 * 4096;
        MPI_Info info;
        MPI_Info_create(&info);
        MPI_Info_set(info, "alloc_shared_noncontig", "true");  // each segment near its rank
        void* base = nullptr;
        const int rc = MPI_Win_allocate_shared(static_cast<MPI_Aint>(2 * cap), 1, info, node, &base, &win);
        MPI_Info_free(&info);
        check(rc, "MPI_Win_allocate_shared");
        segments.assign(static_cast<std::size_t>(size), nullptr);
        for (int q = 0; q < size; ++q) {
            MPI_Aint got = 0;
            int unit = 0;
            void* at = nullptr;
            check(MPI_Win_shared_query(win, q, &got, &unit, &at), "MPI_Win_shared_query");
            segments[static_cast<std::size_t>(q)] = static_cast<std::byte*>(at);
        }
        check(MPI_Win_lock_all(MPI_MODE_NOCHECK, win), "MPI_Win_lock_all");
        capacity = cap;
        half = 0;
    }
    /// The half of rank q's segment the current call uses, as T.
    template <class T>
    T* region(int q) const {
        return reinterpret_cast<T*>(segments[static_cast<std::size_t>(q)] +
                                    static_cast<std::size_t>(half) * capacity);
    }
    /// Every rank's writes to its segment visible to every rank (MPI's unified memory model: a memory
    /// barrier, the ranks' barrier, a memory barrier).
    void barrier(collective_stats& stats) {
        const auto t0 = std::chrono::steady_clock::now();
        MPI_Win_sync(win);
        check(MPI_Barrier(node), "MPI_Barrier");
        MPI_Win_sync(win);
        stats.shm_wait_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }

    /// out[i] ← Σ_q src_q[i], q = 0 … size − 1 in this order (the same bits on every rank); src_q is `mine`
    /// for this rank, rank q's region at `offset` otherwise.
    template <class T>
    void sum_into(T* out, const T* mine, std::size_t offset, std::size_t n, collective_stats& stats) {
        // (out may be `mine`: every element is read from all sources before it is written)
        const auto from = [&](int q) { return q == rank ? mine : region<T>(q) + offset; };
        if (size == 2) {
            const T* a = from(0);
            const T* b = from(1);
            for (std::size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
        } else {
            sources.resize(static_cast<std::size_t>(size));  // (no allocation after the first call)
            for (int q = 0; q < size; ++q) sources[static_cast<std::size_t>(q)] = from(q);
            const auto src = [&](std::size_t q) { return static_cast<const T*>(sources[q]); };
            for (std::size_t i = 0; i < n; ++i) {
                T acc = src(0)[i];
                for (std::size_t q = 1; q < sources.size(); ++q) acc += src(q)[i];
                out[i] = acc;
            }
        }
        stats.shm_bytes_copied += static_cast<std::size_t>(size - 1) * n * sizeof(T);  // read from the others
    }
    /// allreduce_sum: x into this rank's half, barrier, x ← the sum in rank order over all halves.
    template <class T>
    void allreduce(std::span<T> x, collective_stats& stats) {
        if (x.empty()) return;
        reserve(x.size_bytes());
        T* own = region<T>(rank);
        std::memcpy(own, x.data(), x.size_bytes());
        stats.shm_bytes_copied += x.size_bytes();
        barrier(stats);
        sum_into(x.data(), own, 0, x.size(), stats);
        half ^= 1;
    }
    /// reduce_scatter_sum: the other ranks' blocks of `in` into this rank's half (at their offsets), barrier,
    /// out ← Σ_q (rank q's block of this rank) in rank order. `out` may be `in`'s own block (in place: each
    /// element is read before it is written).
    template <class T>
    void reduce_scatter(std::span<const T> in, std::span<T> out, std::span<const std::size_t> counts,
                        collective_stats& stats) {
        if (in.empty()) return;
        reserve(in.size_bytes());
        T* own = region<T>(rank);
        std::size_t at = 0, mine = 0;
        for (int q = 0; q < size; ++q) {
            const std::size_t n = counts[static_cast<std::size_t>(q)];
            if (q == rank) {
                mine = at;
            } else if (n > 0) {
                std::memcpy(own + at, in.data() + at, n * sizeof(T));
                stats.shm_bytes_copied += n * sizeof(T);
            }
            at += n;
        }
        barrier(stats);
        sum_into(out.data(), in.data() + mine, mine, out.size(), stats);
        half ^= 1;
    }
    /// all_gather: this rank's block into its half, barrier, every other block from its owner's half.
    template <class T>
    void all_gather(std::span<T> x, std::span<const std::size_t> counts, collective_stats& stats) {
        if (x.empty()) return;
        reserve(x.size_bytes());
        std::size_t at = 0;
        for (int q = 0; q < size; ++q) {
            const std::size_t n = counts[static_cast<std::size_t>(q)];
            if (q == rank && n > 0) {
                std::memcpy(region<T>(rank) + at, x.data() + at, n * sizeof(T));
                stats.shm_bytes_copied += n * sizeof(T);
            }
            at += n;
        }
        barrier(stats);
        at = 0;
        for (int q = 0; q < size; ++q) {
            const std::size_t n = counts[static_cast<std::size_t>(q)];
            if (q != rank && n > 0) {
                std::memcpy(x.data() + at, region<T>(q) + at, n * sizeof(T));
                stats.shm_bytes_copied += n * sizeof(T);
            }
            at += n;
        }
        half ^= 1;
    }
};

mpi_communicator::mpi_communicator(transport how) : m(std::make_unique<impl>()) {
    check(MPI_Comm_dup(MPI_COMM_WORLD, &m->comm), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(m->comm, &m->rank);
    MPI_Comm_size(m->comm, &m->size);
    if (how == transport::automatic) {
        const char* v = std::getenv("XGRAD_DIST_SHM");
        how = v == nullptr                    ? transport::shared_memory
              : std::string_view(v) == "0"    ? transport::messages
              : std::string_view(v) == "sums" ? transport::shared_memory_sums
                                              : transport::shared_memory;
    }
    if (m->size > 1) {
        // Shared memory only when every rank is on this node with the same rank numbers, and every rank asked
        // for it (the choice must be the same everywhere).
        check(MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, m->rank, MPI_INFO_NULL, &m->node),
              "MPI_Comm_split_type");
        MPI_Comm_set_errhandler(m->node, MPI_ERRORS_ARE_FATAL);
        int node_rank = -1, node_size = 0;
        MPI_Comm_rank(m->node, &node_rank);
        MPI_Comm_size(m->node, &node_size);
        m->shm_gather = how == transport::shared_memory;
        int able = how != transport::messages && node_size == m->size && node_rank == m->rank ? 1 : 0;
        check(MPI_Allreduce(MPI_IN_PLACE, &able, 1, MPI_INT, MPI_MIN, m->comm), "MPI_Allreduce");
        m->shm = able == 1;
        if (!m->shm) MPI_Comm_free(&m->node);
    }
}

mpi_communicator::~mpi_communicator() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (m->win != MPI_WIN_NULL) {
        MPI_Barrier(m->node);  // no rank frees the window while another still reads it
        m->free_window();
    }
    if (m->node != MPI_COMM_NULL) MPI_Comm_free(&m->node);
    if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
}

bool mpi_communicator::shared_memory() const noexcept {
    return m->shm;
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

#define XGRAD_ALLREDUCE(T)                                                                                 \
    void mpi_communicator::allreduce_sum(std::span<T> x) {                                                 \
        const auto t0 = clock_type::now();                                                                 \
        if (m->shm) {                                                                                      \
            m->allreduce(x, m_stats);                                                                      \
            ++m_stats.shm_calls;                                                                           \
        } else {                                                                                           \
            check(MPI_Allreduce(MPI_IN_PLACE, x.data(), count_of(x.size(), "MPI_Allreduce"), type_of<T>(), \
                                MPI_SUM, m->comm),                                                         \
                  "MPI_Allreduce");                                                                        \
        }                                                                                                  \
        m_stats.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();                  \
        ++m_stats.allreduces;                                                                              \
        m_stats.bytes += x.size_bytes();                                                                   \
    }                                                                                                      \
    int mpi_communicator::start_allreduce_sum(std::span<T> x) {                                            \
        const auto t0 = clock_type::now();                                                                 \
        MPI_Request r = MPI_REQUEST_NULL;                                                                  \
        check(MPI_Iallreduce(MPI_IN_PLACE, x.data(), count_of(x.size(), "MPI_Iallreduce"), type_of<T>(),   \
                             MPI_SUM, m->comm, &r),                                                        \
              "MPI_Iallreduce");                                                                           \
        m_stats.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();                  \
        ++m_stats.allreduces;                                                                              \
        m_stats.bytes += x.size_bytes();                                                                   \
        for (std::size_t k = 0; k < m->requests.size(); ++k) {                                             \
            if (m->requests[k] == MPI_REQUEST_NULL) {                                                      \
                m->requests[k] = r;                                                                        \
                return static_cast<int>(k);                                                                \
            }                                                                                              \
        }                                                                                                  \
        m->requests.push_back(r);                                                                          \
        return static_cast<int>(m->requests.size() - 1);                                                   \
    }                                                                                                      \
    void mpi_communicator::reduce_scatter_sum(std::span<const T> in, std::span<T> out,                     \
                                              std::span<const std::size_t> counts) {                       \
        const std::size_t at = block_offset(counts, in.size(), "reduce_scatter_sum");                      \
        static_cast<void>(at);                                                                             \
        if (out.size() != counts[static_cast<std::size_t>(m->rank)])                                       \
            throw argument_error(                                                                          \
                fmt::format("reduce_scatter_sum: this rank's block has {} elements but "                   \
                            "its output has {}",                                                           \
                            counts[static_cast<std::size_t>(m->rank)], out.size()));                       \
        std::vector<int> c = counts_of(counts, "MPI_Reduce_scatter");                                      \
        const auto t0 = clock_type::now();                                                                 \
        /* (MPI wants a valid pointer even for a block of 0 elements) */                                   \
        T none{};                                                                                          \
        if (m->shm) {                                                                                      \
            m->reduce_scatter(in, out, counts, m_stats);                                                   \
            ++m_stats.shm_calls;                                                                           \
        } else                                                                                             \
            check(MPI_Reduce_scatter(in.empty() ? &none : in.data(), out.empty() ? &none : out.data(),     \
                                     c.data(), type_of<T>(), MPI_SUM, m->comm),                            \
                  "MPI_Reduce_scatter");                                                                   \
        m_stats.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();                  \
        ++m_stats.allreduces;                                                                              \
        m_stats.bytes += in.size_bytes();                                                                  \
    }                                                                                                      \
    void mpi_communicator::reduce_scatter_sum_in_place(std::span<T> x,                                     \
                                                       std::span<const std::size_t> counts) {              \
        const std::size_t at = block_offset(counts, x.size(), "reduce_scatter_sum_in_place");              \
        const std::size_t n = counts[static_cast<std::size_t>(m->rank)];                                   \
        const auto t0 = clock_type::now();                                                                 \
        if (m->shm) {                                                                                      \
            m->reduce_scatter(std::span<const T>(x.data(), x.size()), x.subspan(at, n), counts, m_stats);  \
            ++m_stats.shm_calls;                                                                           \
        } else if (!x.empty()) {                                                                           \
            std::vector<int> c = counts_of(counts, "MPI_Reduce_scatter");                                  \
            check(MPI_Reduce_scatter(MPI_IN_PLACE, x.data(), c.data(), type_of<T>(), MPI_SUM, m->comm),    \
                  "MPI_Reduce_scatter");                                                                   \
            if (at > 0 && n > 0) std::memmove(x.data() + at, x.data(), n * sizeof(T));                     \
        }                                                                                                  \
        m_stats.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();                  \
        ++m_stats.allreduces;                                                                              \
        m_stats.bytes += x.size_bytes();                                                                   \
    }                                                                                                      \
    void mpi_communicator::all_gather(std::span<T> x, std::span<const std::size_t> counts) {               \
        block_offset(counts, x.size(), "all_gather");                                                      \
        std::vector<int> c = counts_of(counts, "MPI_Allgatherv"), at(c.size(), 0);                         \
        for (std::size_t r = 1; r < c.size(); ++r) at[r] = at[r - 1] + c[r - 1];                           \
        const auto t0 = clock_type::now();                                                                 \
        T none{};                                                                                          \
        if (m->shm && m->shm_gather) {                                                                     \
            m->all_gather(x, counts, m_stats);                                                             \
            ++m_stats.shm_calls;                                                                           \
        } else                                                                                             \
            check(MPI_Allgatherv(MPI_IN_PLACE, 0, type_of<T>(), x.empty() ? &none : x.data(), c.data(),    \
                                 at.data(), type_of<T>(), m->comm),                                        \
                  "MPI_Allgatherv");                                                                       \
        m_stats.seconds += std::chrono::duration<double>(clock_type::now() - t0).count();                  \
        ++m_stats.allreduces;                                                                              \
        m_stats.bytes += x.size_bytes();                                                                   \
    }                                                                                                      \
    void mpi_communicator::broadcast(std::span<T> x, int root) {                                           \
        check(MPI_Bcast(x.data(), count_of(x.size(), "MPI_Bcast"), type_of<T>(), root, m->comm),           \
              "MPI_Bcast");                                                                                \
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
