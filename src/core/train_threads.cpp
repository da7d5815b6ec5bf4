// Data parallelism over threads: a shared-memory communicator (thread_team) and fit_threads.
#include "xgrad/train_threads.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <type_traits>

#include <fmt/format.h>

#include "xgrad/blas.hpp"
#include "xgrad/detail/finite.hpp"
#include "xgrad/distributed.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace xgrad::dist {

namespace {

std::atomic<std::uint64_t> g_barriers{0};  // thread_team::barriers_in_process

/// The bounds of how long arrive_and_wait spins before it sleeps.
constexpr std::chrono::nanoseconds spin_min{20'000}, spin_max{300'000};

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

}  // namespace

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
        g_barriers.fetch_add(1, std::memory_order_relaxed);
        m_generation.fetch_add(1, std::memory_order_acq_rel);
        m_generation.notify_all();
    } else {
        // Spin before sleeping in the kernel: a thread that sleeps runs again 24–30 µs after the wake-up
        // (median on this VM; 0.2 µs when spinning), and the last thread to arrive pays 7–12 µs for the futex
        // wake (docs/performance.md, "Two threads"), while the threads of a step of the main job arrive
        // within ~20–50 µs of each other. The budget adapts: it doubles (up to spin_max) each time the other
        // threads came while this one spun, and halves (down to spin_min) each time they did not, so that on
        // a loaded machine, where a thread that spins may be keeping the one it waits for off the core, the
        // threads soon sleep at once.
        const auto budget = std::chrono::nanoseconds(m_spin_ns.load(std::memory_order_relaxed));
        const auto start = std::chrono::steady_clock::now();
        bool came = false;
        for (unsigned i = 1;; ++i) {
            if (m_generation.load(std::memory_order_acquire) != gen) {
                came = true;
                break;
            }
            cpu_relax();
            if (i % 64 == 0 && std::chrono::steady_clock::now() - start > budget) break;
        }
        const auto next = came ? std::min(spin_max, 2 * budget) : std::max(spin_min, budget / 2);
        m_spin_ns.store(next.count(), std::memory_order_relaxed);
        while (m_generation.load(std::memory_order_acquire) == gen)
            m_generation.wait(gen, std::memory_order_acquire);
    }
    check();
}

std::uint64_t thread_team::barriers_in_process() noexcept {
    return g_barriers.load(std::memory_order_relaxed);
}

void thread_team::abort() noexcept {
    m_aborted.store(true, std::memory_order_release);
    m_generation.fetch_add(1, std::memory_order_acq_rel);
    m_generation.notify_all();
}

}  // namespace xgrad::dist

namespace xgrad::train {

namespace {

/// The flat state buffers of an optimizer that updates in parts (sgd's velocity, adam's moments).
template <class T>
std::vector<std::span<T>> state_buffers(optim::optimizer<T>& opt) {
    if (auto* s = dynamic_cast<optim::sgd<T>*>(&opt)) return {s->velocity()};
    if (auto* a = dynamic_cast<optim::adam<T>*>(&opt)) return {a->first_moment(), a->second_moment()};
    return {};
}

/// acc ← s₀·acc + s₁·g (thread 0's term first: the rank order)
template <class T>
void sum_two_into_first(T* __restrict acc, const T* __restrict g, std::size_t n, T s0, T s1) {
    for (std::size_t i = 0; i < n; ++i) acc[i] = s0 * acc[i] + s1 * g[i];
}

/// acc ← s₀·g + s₁·acc
template <class T>
void sum_two_into_second(T* __restrict acc, const T* __restrict g, std::size_t n, T s0, T s1) {
    for (std::size_t i = 0; i < n; ++i) acc[i] = s0 * g[i] + s1 * acc[i];
}

template <class T>
void scaled(T* __restrict out, const T* __restrict g, std::size_t n, T s) {
    for (std::size_t i = 0; i < n; ++i) out[i] = s * g[i];
}

template <class T>
void add_scaled(T* __restrict acc, const T* __restrict g, std::size_t n, T s) {
    for (std::size_t i = 0; i < n; ++i) acc[i] += s * g[i];
}

/// fit_threads' step when the optimizer can update in parts. The flat parameters are cut into one slice per
/// thread, and thread r owns slice r: it sums that slice of every thread's gradient (Σ_q scale_q·∇_q in rank
/// order, as the allreduce would) into its own gradient buffer, updates that slice of its own replica with
/// its own optimizer (whose state is current only in slice r), and writes the new weights into the other
/// replicas, block by block. Each gradient and weight crosses between cores once per step; two waits at the
/// barrier per step (after backward; after the update). The gradient check needs no
/// wait of its own: before the first wait each thread tests its own gradient (any_huge_or_non_finite), and
/// a sum can only be non-finite if some term failed that test; only then do the threads check the sums
/// themselves, each all of them, alike (first_non_finite_sum). At the end of each epoch thread 0's optimizer
/// collects the other slices' state, so that it holds the whole state when on_epoch runs and when fit ends.
template <class T>
class thread_update final : public xgrad::detail::shared_update<T> {
public:
    thread_update(dist::thread_team& team, nn::module<T>& model, optim::optimizer<T>& opt,
                  const std::vector<replica<T>>& replicas, bool check)
        : m_team(team), m_check(check) {
        const std::size_t n = static_cast<std::size_t>(team.size());
        m_opts.push_back(&opt);
        for (const auto& r : replicas) m_opts.push_back(r.optimizer.get());
        const std::size_t count = opt.params().size();
        for (auto* o : m_opts) {
            bool same = o->params().size() == count && o->can_update_in_parts() &&
                        state_buffers(*o).size() == state_buffers(opt).size();
            for (std::size_t k = 0; same && k < count; ++k)
                same = o->params()[k]->value().size() == opt.params()[k]->value().size();
            if (!same)
                throw argument_error("fit_threads: the replicas' optimizers differ from the one to train");
            m_params.push_back(o->params());
        }
        const auto named = model.named_parameters();
        m_named = named.size();
        for (std::size_t k = 0; k < count; ++k) {
            std::size_t at = none;
            for (std::size_t j = 0; j < named.size() && at == none; ++j)
                if (named[j].second == opt.params()[k]) at = j;
            m_named_of.push_back(at);
        }
        m_slots.resize(n);
        m_grads.assign(n, std::vector<T*>(count, nullptr));
        std::size_t widest = 0;
        for (std::size_t r = 0; r < n; ++r) widest = std::max(widest, slice(static_cast<int>(r)).count);
        if (n > 2) m_scratch.assign(n, std::vector<T>(widest));
    }

    void exchange(int rank, double (&stats)[2], double scale) override {
        const auto r = static_cast<std::size_t>(rank);
        m_slots[r].stats[0] = stats[0];
        m_slots[r].stats[1] = stats[1];
        m_slots[r].scale = scale;
        std::size_t suspect = none;  // the first parameter (named order) whose gradient here fails the test
        for (std::size_t k = 0; k < m_params[r].size(); ++k) {
            auto& gr = m_params[r][k]->grad_for_writing();  // zeros without examples
            m_grads[r][k] = gr.data();
            if (m_check && m_named_of[k] != none && m_named_of[k] < suspect &&
                detail::any_huge_or_non_finite(gr.data(), gr.size()))
                suspect = m_named_of[k];
        }
        m_slots[r].bad = suspect;
        m_team.arrive_and_wait();
        double s0 = 0, s1 = 0;
        for (const auto& o : m_slots) s0 += o.stats[0], s1 += o.stats[1];
        stats[0] = s0;
        stats[1] = s1;
    }

    /// Only decides (the sums are made in update, block by block, just before the optimizer reads them).
    std::size_t reduce(int, bool check) override {
        if (check && m_check) {  // (every thread decides alike from the same values: no wait needed)
            bool suspect = false;
            for (const auto& o : m_slots) suspect = suspect || o.bad != none;
            if (suspect) {
                const std::size_t bad = first_non_finite_sum();
                if (bad != none) return bad;  // nothing written: the weights stay those before this batch
                // All sums finite (a term was huge): the others may still read the terms this thread's
                // update is about to overwrite with sums.
                m_team.arrive_and_wait();
            }
        }
        return m_named;
    }

    /// This rank's slice, in blocks: Σ_q scale_q·∇_q into its own gradient buffer, the optimizer's update
    /// of the block (while the sums are still in the cache), then the block's new weights written into every
    /// other replica (push_block); after the wait every replica holds all new weights.
    void update(int rank) override {
        const auto me = static_cast<std::size_t>(rank);
        const dist::shard own = slice(rank);
        for (std::size_t at = 0; at < own.count; at += block) {
            const dist::shard part{own.begin + at, std::min(block, own.count - at)};
            sum_slice(me, part);
            m_opts[me]->update(part.begin, part.begin + part.count);
            push_block(me, part);
        }
        m_team.arrive_and_wait();
        m_opts[me]->end_step();
    }

    void end_epoch(int rank) override {
        m_team.arrive_and_wait();
        if (rank == 0) {  // thread 0's optimizer takes every other slice's state from its owner
            auto mine = state_buffers(*m_opts[0]);
            for (std::size_t q = 1; q < m_slots.size(); ++q) {
                const auto theirs = state_buffers(*m_opts[q]);
                const dist::shard sl = slice(static_cast<int>(q));
                for (std::size_t b = 0; b < mine.size(); ++b) {
                    if (theirs[b].size() == mine[b].size() && sl.count > 0)
                        std::copy_n(theirs[b].data() + sl.begin, sl.count, mine[b].data() + sl.begin);
                }
            }
        }
        m_team.arrive_and_wait();
    }

private:
    static constexpr std::size_t none = static_cast<std::size_t>(-1);
    /// Elements per block of update (multiple of 64 bytes): the sums of a block of 64 KiB (float) are read
    /// back by the optimizer from the core's L2.
    static constexpr std::size_t block = 16384;
    /// The new weights of the flat elements `part` (rank me's, just updated) into every other replica. Their
    /// owner writes them; the others only read them in their next forward. (The reverse — each thread
    /// copying the other slices from their owners after the wait — left the owner's replica shared with
    /// every reader, and the owner's next update waited on each line's invalidation: Adam 1.5–2× slower
    /// per element; the main job on 2 threads 5–11 % faster this way, docs/performance.md.)
    /// Nobody else touches these elements of these replicas until the wait: the others update and push
    /// their own slices.
    void push_block(std::size_t me, dist::shard part) {
        pieces(part, [&](std::size_t k, std::size_t at, std::size_t count, std::size_t) {
            const T* mine = m_params[me][k]->value().data() + at;
            for (std::size_t q = 0; q < m_slots.size(); ++q)
                if (q != me) std::copy_n(mine, count, m_params[q][k]->value().data() + at);
        });
    }
    /// Σ_q scale_q·∇_q over the flat elements `part` into rank me's gradient buffer (rank order).
    void sum_slice(std::size_t me, dist::shard part) {
        const std::size_t n = m_slots.size();
        pieces(part, [&](std::size_t k, std::size_t at, std::size_t count, std::size_t done) {
            T* own = m_grads[me][k] + at;
            if (n == 2) {
                const T s0 = static_cast<T>(m_slots[0].scale), s1 = static_cast<T>(m_slots[1].scale);
                if (me == 0) {
                    sum_two_into_first(own, m_grads[1][k] + at, count, s0, s1);
                } else {
                    sum_two_into_second(own, m_grads[0][k] + at, count, s0, s1);
                }
            } else {  // into scratch (this thread's own term is read in its turn), then into its buffer
                T* acc = m_scratch[me].data() + done;
                scaled(acc, m_grads[0][k] + at, count, static_cast<T>(m_slots[0].scale));
                for (std::size_t q = 1; q < n; ++q)
                    add_scaled(acc, m_grads[q][k] + at, count, static_cast<T>(m_slots[q].scale));
                std::copy_n(acc, count, own);
            }
            // (The others read only their own slices of this buffer: writing this slice races with nothing.)
        });
    }
    /// The index in named_parameters() of the first parameter whose sum Σ_q scale_q·∇_q (computed as reduce
    /// does, element by element, in blocks on the stack) is not finite, or none. Reads the gradients only.
    std::size_t first_non_finite_sum() const {
        const std::size_t n = m_slots.size();
        std::size_t first = none;
        T sums[256];
        for (std::size_t k = 0; k < m_params[0].size(); ++k) {
            if (m_named_of[k] == none || m_named_of[k] >= first) continue;
            const std::size_t size = m_opts[0]->state_offset(k + 1) - m_opts[0]->state_offset(k);
            for (std::size_t at = 0; at < size; at += std::size(sums)) {
                const std::size_t count = std::min(std::size(sums), size - at);
                const T s0 = static_cast<T>(m_slots[0].scale);
                if (n == 2) {
                    std::copy_n(m_grads[0][k] + at, count, sums);
                    sum_two_into_first(sums, m_grads[1][k] + at, count, s0, static_cast<T>(m_slots[1].scale));
                } else {
                    scaled(sums, m_grads[0][k] + at, count, s0);
                    for (std::size_t q = 1; q < n; ++q)
                        add_scaled(sums, m_grads[q][k] + at, count, static_cast<T>(m_slots[q].scale));
                }
                if (xgrad::detail::any_non_finite(sums, count)) {
                    first = m_named_of[k];
                    break;
                }
            }
        }
        return first;
    }
    dist::shard slice(int rank) const {
        return dist::aligned_slice<T>(m_opts[0]->state_offset(m_params[0].size()), rank, m_team.size());
    }
    /// f(k, offset in parameter k, count, elements of the slice before) for each parameter's part of a slice.
    template <class F>
    void pieces(dist::shard sl, F&& f) const {
        const std::size_t end = sl.begin + sl.count;
        for (std::size_t k = 0; k < m_params[0].size(); ++k) {
            const std::size_t lo = std::max(sl.begin, m_opts[0]->state_offset(k)),
                              hi = std::min(end, m_opts[0]->state_offset(k + 1));
            if (lo < hi) f(k, lo - m_opts[0]->state_offset(k), hi - lo, lo - sl.begin);
        }
    }

    struct alignas(64) slot {
        double stats[2] = {0, 0};
        double scale = 0;
        std::size_t bad = none;
    };
    dist::thread_team& m_team;
    bool m_check;                                      // fit's check_gradients
    std::vector<optim::optimizer<T>*> m_opts;          // [rank]
    std::vector<std::vector<parameter<T>*>> m_params;  // [rank][k], in the optimizer's order
    std::vector<std::size_t> m_named_of;               // per k: index in named_parameters(), or none
    std::size_t m_named = 0;
    std::vector<slot> m_slots;
    std::vector<std::vector<T*>> m_grads;   // [rank][k], this step's gradient buffers
    std::vector<std::vector<T>> m_scratch;  // [rank]: the slice's sums, for more than 2 threads
};

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

    // The shared step when the optimizer can update in parts; else allreduces and a step on every thread.
    std::unique_ptr<thread_update<T>> shared;
    if (opt.can_update_in_parts())
        shared = std::make_unique<thread_update<T>>(team, model, opt, replicas, options.check_gradients);

    std::mutex failure_mutex;
    std::exception_ptr failure;
    std::vector<epoch_stats> history;
    const auto run = [&](int rank) {
        try {
            fit_options<T> o = options;
            o.communicator = &team.member(rank);
            o.split_batch = true;
            o.shared_examples = shared_rows;
            o.shared_update = shared.get();
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
