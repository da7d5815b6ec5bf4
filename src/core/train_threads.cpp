// Data parallelism over threads: a shared-memory communicator (thread_team) and fit_threads.
#include "xgrad/train_threads.hpp"

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "xgrad/blas.hpp"
#include "xgrad/distributed.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace xgrad::dist {

namespace {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

/// Element ranges of the threads' slices, cut at multiples of 64 bytes so that no two threads write into
/// the same cache line.
template <class T>
shard aligned_slice(std::size_t n, int rank, int size) {
    constexpr std::size_t line = 64 / sizeof(T) > 0 ? 64 / sizeof(T) : 1;
    const std::size_t lines = (n + line - 1) / line;
    const shard s = shard_of(lines, rank, size);
    const std::size_t lo = std::min(n, s.begin * line), hi = std::min(n, (s.begin + s.count) * line);
    return {lo, hi - lo};
}

}  // namespace

/// Rank r's view of a thread_team.
class thread_member final : public communicator {
public:
    thread_member(thread_team& team, int rank) : m_team(team), m_rank(rank) {}
    int rank() const noexcept override { return m_rank; }
    int size() const noexcept override { return m_team.m_size; }

    void allreduce_sum(std::span<float> x) override { sum(x); }
    void allreduce_sum(std::span<double> x) override { sum(x); }
    void broadcast(std::span<float> x, int root) override { copy_from(x, root); }
    void broadcast(std::span<double> x, int root) override { copy_from(x, root); }
    void broadcast(std::span<std::uint64_t> x, int root) override { copy_from(x, root); }

    std::vector<std::uint64_t> all_gather(std::uint64_t value) override {
        m_team.m_slots[static_cast<std::size_t>(m_rank)].value = value;
        m_team.arrive_and_wait();
        std::vector<std::uint64_t> all;
        all.reserve(m_team.m_slots.size());
        for (const auto& s : m_team.m_slots) all.push_back(s.value);
        m_team.arrive_and_wait();
        return all;
    }

private:
    template <class T>
    void publish(std::span<T> x) {
        auto& s = m_team.m_slots[static_cast<std::size_t>(m_rank)];
        s.data = x.data();
        s.size = x.size();
        m_team.arrive_and_wait();
        for (const auto& o : m_team.m_slots) {
            if (o.size != x.size()) {  // every rank sees the same sizes, so every rank throws
                m_team.arrive_and_wait();
                throw argument_error(
                    fmt::format("thread_team: a collective got {} elements on rank {} but {} on another rank",
                                x.size(), m_rank, o.size));
            }
        }
    }
    /// x ← Σ_r x_r: this thread adds its slice of every rank's buffer in rank order into rank 0's buffer,
    /// then copies the sums into the other ranks' buffers.
    template <class T>
    void sum(std::span<T> x) {
        publish(x);
        const int n = m_team.m_size;
        const shard s = aligned_slice<T>(x.size(), m_rank, n);
        if (s.count > 0) {
            T* acc = static_cast<T*>(m_team.m_slots[0].data) + s.begin;
            for (int r = 1; r < n; ++r) {
                const T* in =
                    static_cast<const T*>(m_team.m_slots[static_cast<std::size_t>(r)].data) + s.begin;
                for (std::size_t i = 0; i < s.count; ++i) acc[i] += in[i];
            }
            for (int r = 1; r < n; ++r)
                std::copy_n(acc, s.count,
                            static_cast<T*>(m_team.m_slots[static_cast<std::size_t>(r)].data) + s.begin);
        }
        m_team.arrive_and_wait();
    }
    template <class T>
    void copy_from(std::span<T> x, int root) {
        if (root < 0 || root >= m_team.m_size)
            throw argument_error(
                fmt::format("thread_team: broadcast from rank {} of {}", root, m_team.m_size));
        publish(x);
        if (m_rank != root) {
            const T* src = static_cast<const T*>(m_team.m_slots[static_cast<std::size_t>(root)].data);
            std::copy_n(src, x.size(), x.data());
        }
        m_team.arrive_and_wait();
    }

    thread_team& m_team;
    int m_rank;
};

thread_team::thread_team(int size) : m_size(size) {
    if (size < 1) throw argument_error(fmt::format("thread_team: needs at least 1 thread, not {}", size));
    m_slots.resize(static_cast<std::size_t>(size));
    for (int r = 0; r < size; ++r) m_members.push_back(std::make_unique<thread_member>(*this, r));
}

thread_team::~thread_team() = default;

communicator& thread_team::member(int rank) {
    if (rank < 0 || rank >= m_size)
        throw argument_error(fmt::format("thread_team::member: rank {} is not one of the {}", rank, m_size));
    return *m_members[static_cast<std::size_t>(rank)];
}

void thread_team::arrive_and_wait() {
    const auto check = [this] {
        if (aborted()) throw team_aborted("thread_team: another thread of the team failed");
    };
    check();
    const std::uint32_t gen = m_generation.load(std::memory_order_acquire);
    if (m_arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == m_size) {
        m_arrived.store(0, std::memory_order_relaxed);
        m_generation.fetch_add(1, std::memory_order_acq_rel);
        m_generation.notify_all();
    } else {
        // A step's threads arrive within microseconds of each other: spin that long before sleeping.
        for (int i = 0; i < 2000 && m_generation.load(std::memory_order_acquire) == gen; ++i) cpu_relax();
        while (m_generation.load(std::memory_order_acquire) == gen)
            m_generation.wait(gen, std::memory_order_acquire);
    }
    check();
}

void thread_team::abort() noexcept {
    m_aborted.store(true, std::memory_order_release);
    m_generation.fetch_add(1, std::memory_order_acq_rel);
    m_generation.notify_all();
}

}  // namespace xgrad::dist

namespace xgrad::train {

namespace {

/// Sets the BLAS's thread count for a scope, then back.
class blas_threads_scope {
public:
    explicit blas_threads_scope(int n) : m_previous(num_threads()) {
        if (m_previous != n) set_num_threads(n);
    }
    ~blas_threads_scope() {
        if (m_previous > 0 && m_previous != num_threads()) set_num_threads(m_previous);
    }
    blas_threads_scope(const blas_threads_scope&) = delete;
    blas_threads_scope& operator=(const blas_threads_scope&) = delete;

private:
    int m_previous;
};

}  // namespace

template <class T>
std::vector<epoch_stats> fit_threads(int threads, nn::module<T>& model, optim::optimizer<T>& opt,
                                     const std::function<replica<T>(int rank)>& make_replica,
                                     const data::dataset<T>& train, const fit_options<T>& options,
                                     std::source_location loc) {
    if (threads < 1) throw argument_error(fmt::format("fit_threads: threads must be ≥ 1, not {}", threads));
    if (options.communicator != nullptr)
        throw argument_error("fit_threads: options.communicator must be null (the threads make their own)");
    if (threads == 1) return fit(model, opt, train, options, loc);
    if (!make_replica) throw argument_error("fit_threads: make_replica is empty");

    // The replicas, checked against the model before any thread starts.
    const auto params = model.named_state();
    std::vector<replica<T>> replicas;
    for (int r = 1; r < threads; ++r) {
        replica<T> rep = make_replica(r);
        if (!rep.model || !rep.optimizer)
            throw argument_error(
                fmt::format("fit_threads: make_replica({}) gave no model or no optimizer", r));
        const auto theirs = rep.model->named_state();
        bool same = theirs.size() == params.size() && rep.optimizer->params().size() == opt.params().size() &&
                    rep.optimizer->name() == opt.name();
        for (std::size_t k = 0; same && k < params.size(); ++k)
            same =
                theirs[k].first == params[k].first && theirs[k].second->shape() == params[k].second->shape();
        if (!same) {
            throw argument_error(fmt::format(
                "fit_threads: make_replica({}) gave a model or an optimizer unlike the one to train (it must "
                "have the same parameters, in the same order and shapes, and an optimizer of the same kind)",
                r));
        }
        replicas.push_back(std::move(rep));
    }

    dist::thread_team team(threads);
    const auto shared_rows = train.size() > 0 && train.features() > 1 ? data::example_major(train) : nullptr;
    const blas_threads_scope one_blas_thread(1);  // the threads are the parallelism

    std::mutex failure_mutex;
    std::exception_ptr failure;
    std::vector<epoch_stats> history;
    const auto run = [&](int rank) {
        try {
            fit_options<T> o = options;
            o.communicator = &team.member(rank);
            o.split_batch = true;
            o.shared_examples = shared_rows;
            if (rank != 0) o.on_batch = {}, o.on_epoch = {};
            nn::module<T>& m = rank == 0 ? model : *replicas[static_cast<std::size_t>(rank - 1)].model;
            optim::optimizer<T>& p =
                rank == 0 ? opt : *replicas[static_cast<std::size_t>(rank - 1)].optimizer;
            auto h = fit(m, p, train, o, loc);
            if (rank == 0) history = std::move(h);
        } catch (...) {
            {
                const std::scoped_lock lock(failure_mutex);
                if (!failure && !team.aborted()) failure = std::current_exception();
            }
            team.abort();
        }
    };
    std::vector<std::thread> workers;
    workers.reserve(static_cast<std::size_t>(threads - 1));
    try {
        for (int r = 1; r < threads; ++r) workers.emplace_back(run, r);
    } catch (...) {
        team.abort();
        for (auto& w : workers) w.join();
        throw;
    }
    run(0);
    for (auto& w : workers) w.join();
    if (failure) std::rethrow_exception(failure);
    return history;
}

template std::vector<epoch_stats> fit_threads(int, nn::module<float>&, optim::optimizer<float>&,
                                              const std::function<replica<float>(int)>&,
                                              const data::dataset<float>&, const fit_options<float>&,
                                              std::source_location);
template std::vector<epoch_stats> fit_threads(int, nn::module<double>&, optim::optimizer<double>&,
                                              const std::function<replica<double>(int)>&,
                                              const data::dataset<double>&, const fit_options<double>&,
                                              std::source_location);

}  // namespace xgrad::train
