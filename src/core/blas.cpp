// The BLAS behind xgrad::gemm, loaded at first use (see blas.hpp for the rules and the environment).
//
// Why at run time: OpenBLAS picks its kernels in its library constructor, from OPENBLAS_CORETYPE or the CPU
// model, and OpenBLAS 0.3.21 falls back to generic SSE3 kernels ("Prescott", 4–8× slower GEMM) on CPUs it
// does not know. A library linked at build time has run that constructor before main(), so the xgrad
// command used to re-execute itself with OPENBLAS_CORETYPE set, and every other program stayed slow. Here
// xgrad finds OpenBLAS (already loaded by the program, or dlopen'ed), asks it which core it chose, and if
// that is a generic fallback re-runs OpenBLAS's own dispatch (gotoblas_dynamic_init, exported by every
// DYNAMIC_ARCH build, reads OPENBLAS_CORETYPE) with the core this CPU can run — once, before any xgrad gemm.
// The measurements behind this choice (against BLIS, and OpenBLAS's cores) are in docs/performance.md.
#include "xgrad/blas.hpp"

#include <dlfcn.h>

#include <array>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xgrad/error.hpp"

namespace xgrad {

namespace {

// CBLAS (row-major, int indices: OpenBLAS's LP64 ABI and the reference CBLAS). Enum arguments are ints.
using cblas_sgemm_fn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                                float, float*, int);
using cblas_dgemm_fn = void (*)(int, int, int, int, int, int, double, const double*, int, const double*, int,
                                double, double*, int);
constexpr int cblas_row_major = 101, cblas_no_trans = 111, cblas_trans = 112;

// BLIS's typed API (dim_t, inc_t are 64-bit; trans_t BLIS_TRANSPOSE is the bit 0x08). Used instead of BLIS's
// CBLAS because that one calls sgemm_ through the PLT, which binds to whichever BLAS the process loaded
// first.
using bli_sgemm_fn = void (*)(int, int, std::int64_t, std::int64_t, std::int64_t, float*, float*,
                              std::int64_t, std::int64_t, float*, std::int64_t, std::int64_t, float*, float*,
                              std::int64_t, std::int64_t);
using bli_dgemm_fn = void (*)(int, int, std::int64_t, std::int64_t, std::int64_t, double*, double*,
                              std::int64_t, std::int64_t, double*, std::int64_t, std::int64_t, double*,
                              double*, std::int64_t, std::int64_t);
constexpr int bli_no_transpose = 0, bli_transpose = 8;

// BLIS behind the CBLAS signature (row-major only, which is all xgrad asks for), so gemm has one call path.
bli_sgemm_fn g_bli_sgemm = nullptr;
bli_dgemm_fn g_bli_dgemm = nullptr;

void blis_sgemm_as_cblas(int /*row major*/, int ta, int tb, int m, int n, int k, float alpha, const float* a,
                         int lda, const float* b, int ldb, float beta, float* c, int ldc) {
    g_bli_sgemm(ta == cblas_trans ? bli_transpose : bli_no_transpose,
                tb == cblas_trans ? bli_transpose : bli_no_transpose, m, n, k, &alpha, const_cast<float*>(a),
                lda, 1, const_cast<float*>(b), ldb, 1, &beta, c, ldc, 1);
}
void blis_dgemm_as_cblas(int /*row major*/, int ta, int tb, int m, int n, int k, double alpha,
                         const double* a, int lda, const double* b, int ldb, double beta, double* c,
                         int ldc) {
    g_bli_dgemm(ta == cblas_trans ? bli_transpose : bli_no_transpose,
                tb == cblas_trans ? bli_transpose : bli_no_transpose, m, n, k, &alpha, const_cast<double*>(a),
                lda, 1, const_cast<double*>(b), ldb, 1, &beta, c, ldc, 1);
}

enum class family { openblas, blis, cblas };

struct backend {
    family kind = family::cblas;
    void* handle = nullptr;
    blas_backend info;  // library, path, reason; kernel and threads are asked for when reported
    std::string how;    // "loaded by the program" / "loaded by xgrad"
    cblas_sgemm_fn cblas_sgemm = nullptr;
    cblas_dgemm_fn cblas_dgemm = nullptr;
    bli_sgemm_fn bli_sgemm = nullptr;
    bli_dgemm_fn bli_dgemm = nullptr;
    // OpenBLAS extras
    void (*openblas_set_num_threads)(int) = nullptr;
    int (*openblas_get_num_threads)() = nullptr;
    char* (*openblas_get_corename)() = nullptr;
    void (*dynamic_init)() = nullptr;
    void (*dynamic_quit)() = nullptr;
    // BLIS extras
    void (*bli_thread_set_num_threads)(std::int64_t) = nullptr;
    std::int64_t (*bli_thread_get_num_threads)() = nullptr;
    int (*bli_arch_query_id)() = nullptr;
    const char* (*bli_arch_string)(int) = nullptr;
};

template <class F>
F sym(void* handle, const char* name) {
    return reinterpret_cast<F>(dlsym(handle, name));
}

std::string env_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

// The file that defines `address` (a function of a loaded library).
std::string file_of(void* address) {
    Dl_info di{};
    if (address != nullptr && dladdr(address, &di) != 0 && di.dli_fname != nullptr) return di.dli_fname;
    return {};
}

// A handle to the loaded library that defines the global symbol `name`, or nullptr: so the symbols we look
// up next come from that library (and its dependencies), not from whichever defines them first.
void* loaded_library_defining(const char* name) {
    void* address = dlsym(RTLD_DEFAULT, name);
    if (address == nullptr) return nullptr;
    const std::string file = file_of(address);
    if (file.empty()) return nullptr;
    return dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
}

// Fills `b` from `handle`; false if the library has neither OpenBLAS, BLIS nor CBLAS gemm.
bool bind(backend& b, void* handle) {
    b.handle = handle;
    b.openblas_get_corename = sym<char* (*)()>(handle, "openblas_get_corename");
    b.bli_arch_query_id = sym<int (*)()>(handle, "bli_arch_query_id");
    b.bli_sgemm = sym<bli_sgemm_fn>(handle, "bli_sgemm");
    b.bli_dgemm = sym<bli_dgemm_fn>(handle, "bli_dgemm");
    b.cblas_sgemm = sym<cblas_sgemm_fn>(handle, "cblas_sgemm");
    b.cblas_dgemm = sym<cblas_dgemm_fn>(handle, "cblas_dgemm");
    if (b.openblas_get_corename != nullptr && b.cblas_sgemm != nullptr && b.cblas_dgemm != nullptr) {
        b.kind = family::openblas;
        b.openblas_set_num_threads = sym<void (*)(int)>(handle, "openblas_set_num_threads");
        b.openblas_get_num_threads = sym<int (*)()>(handle, "openblas_get_num_threads");
        b.dynamic_init = sym<void (*)()>(handle, "gotoblas_dynamic_init");
        b.dynamic_quit = sym<void (*)()>(handle, "gotoblas_dynamic_quit");
        std::string version = "OpenBLAS";
        if (auto config = sym<char* (*)()>(handle, "openblas_get_config")) {
            // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
            const std::string c = config();
            const auto space = c.find(' ', c.find(' ') + 1);
            version = c.substr(0, space);
        }
        b.info.library = version;
        b.info.path = file_of(reinterpret_cast<void*>(b.openblas_get_corename));
        return true;
    }
    if (b.bli_arch_query_id != nullptr && b.bli_sgemm != nullptr && b.bli_dgemm != nullptr) {
        b.kind = family::blis;
        g_bli_sgemm = b.bli_sgemm;  // set once, under the_backend()'s call_once
        g_bli_dgemm = b.bli_dgemm;
        b.cblas_sgemm = &blis_sgemm_as_cblas;
        b.cblas_dgemm = &blis_dgemm_as_cblas;
        b.bli_thread_set_num_threads = sym<void (*)(std::int64_t)>(handle, "bli_thread_set_num_threads");
        b.bli_thread_get_num_threads = sym<std::int64_t (*)()>(handle, "bli_thread_get_num_threads");
        b.bli_arch_string = sym<const char* (*)(int)>(handle, "bli_arch_string");
        auto version = sym<const char* (*)()>(handle, "bli_info_get_version_str");
        b.info.library = std::string("BLIS") + (version ? std::string(" ") + version() : "");
        b.info.path = file_of(reinterpret_cast<void*>(b.bli_sgemm));
        return true;
    }
    if (b.cblas_sgemm != nullptr && b.cblas_dgemm != nullptr) {
        b.kind = family::cblas;
        b.info.library = "CBLAS";
        b.info.path = file_of(reinterpret_cast<void*>(b.cblas_sgemm));
        return true;
    }
    return false;
}

// The thread count set_num_threads asked for before the BLAS was loaded (0: none).
std::atomic<int> g_threads_at_load{0};

// While xgrad itself loads OpenBLAS after set_num_threads(n) and the environment names no thread count:
// OPENBLAS_NUM_THREADS=n for OpenBLAS's constructor, then the environment as it was. OpenBLAS's pthreads
// build otherwise starts one worker per further core when it loads, and each spins ~2^28 cycles (0.1 s
// here) before it sleeps, on a core the program asked not to use; a later set_num_threads(m > n) starts
// the workers then. (OpenMP builds read the variable too, and start no thread when they load.)
class threads_at_load_scope {
public:
    threads_at_load_scope() {
        const int n = g_threads_at_load.load(std::memory_order_relaxed);
        if (n <= 0) return;
        for (const char* v : {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"})
            if (std::getenv(v) != nullptr) return;
        m_set = ::setenv("OPENBLAS_NUM_THREADS", std::to_string(n).c_str(), 1) == 0;
    }
    ~threads_at_load_scope() {
        if (m_set) ::unsetenv("OPENBLAS_NUM_THREADS");
    }
    threads_at_load_scope(const threads_at_load_scope&) = delete;
    threads_at_load_scope& operator=(const threads_at_load_scope&) = delete;

private:
    bool m_set = false;
};

// dlopen the first of `candidates` that loads and binds; records what failed in `tried`.
bool open_first(backend& b, const std::vector<std::string>& candidates, std::vector<std::string>& tried) {
    const threads_at_load_scope threads;
    for (const auto& c : candidates) {
        if (c.empty()) continue;
        void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (h == nullptr) {
            const char* e = dlerror();
            tried.push_back(c + " (" + (e ? e : "not found") + ")");
            continue;
        }
        if (bind(b, h)) return true;
        tried.push_back(c + " (no cblas_sgemm/cblas_dgemm or bli_sgemm/bli_dgemm in it)");
    }
    return false;
}

std::vector<std::string> openblas_files() {
    return {"libopenblas.so.0",
#ifdef XGRAD_OPENBLAS_LIBRARY
            XGRAD_OPENBLAS_LIBRARY,  // found when xgrad was configured
#endif
            "libopenblas.so"};
}
std::vector<std::string> blis_files() {
    return {"libblis.so.4",
#ifdef XGRAD_BLIS_LIBRARY
            XGRAD_BLIS_LIBRARY,
#endif
            "libblis.so"};
}

struct cpu_features {
    bool avx2_fma = false;
    bool avx512 = false;
};
cpu_features this_cpu() {
    cpu_features f;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#endif
    return f;
}

std::string upper(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return s;
}

std::string redispatch(backend& b, const std::string& core) {
    if (b.kind != family::openblas || b.dynamic_init == nullptr || b.dynamic_quit == nullptr) return {};
    const std::optional<std::string> saved =
        std::getenv("OPENBLAS_CORETYPE") ? std::optional<std::string>(std::getenv("OPENBLAS_CORETYPE"))
                                         : std::nullopt;
    b.dynamic_quit();
    if (core.empty()) {
        ::unsetenv("OPENBLAS_CORETYPE");
    } else {
        ::setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
    }
    b.dynamic_init();
    if (saved) {
        ::setenv("OPENBLAS_CORETYPE", saved->c_str(), 1);
    } else {
        ::unsetenv("OPENBLAS_CORETYPE");
    }
    return b.openblas_get_corename();
}

// OpenBLAS: keep the user's OPENBLAS_CORETYPE and OpenBLAS's own good choices; replace a generic fallback.
void choose_openblas_core(backend& b) {
    const std::string own = b.openblas_get_corename();
    if (const char* env = std::getenv("OPENBLAS_CORETYPE")) {
        b.info.reason = b.how + ", " + std::string("OPENBLAS_CORETYPE=") + env;
        return;
    }
    const cpu_features cpu = this_cpu();
    const std::string want = detail::better_openblas_core(own, cpu.avx2_fma, cpu.avx512);
    if (want.empty()) {
        b.info.reason = b.how + ", " + "OpenBLAS's own choice for this CPU";
        return;
    }
    const std::string why = cpu.avx512 ? "AVX-512" : "AVX2+FMA";
    if (b.dynamic_init == nullptr || b.dynamic_quit == nullptr ||
        dlsym(b.handle, ("gotoblas_" + upper(want)).c_str()) == nullptr) {
        b.info.reason = b.how + ", " + "OpenBLAS's own choice; this OpenBLAS cannot switch to " + want +
                        " at run time (" + why + " CPU): set OPENBLAS_CORETYPE=" + want;
        return;
    }
    const std::string now = redispatch(b, want);
    if (now == want) {
        b.info.reason = b.how + ", " + "chosen by xgrad for this " + why + " CPU; OpenBLAS chose " + own +
                        " (OPENBLAS_CORETYPE overrides)";
    } else {  // should not happen (the core's table exists); go back to what OpenBLAS chose
        redispatch(b, {});
        b.info.reason = b.how + ", " + "OpenBLAS's own choice (switching to " + want + " gave " + now + ")";
    }
}

backend load() {
    backend b;
    std::vector<std::string> tried;
    const std::string choice = env_or_empty("XGRAD_BLAS");
    std::string lower = choice;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    bool found = false;
    std::string how;
    if (lower.empty() || lower == "auto" || lower == "openblas") {
        // A BLAS the program already has: using another one beside it would give two thread pools.
        if (void* h = loaded_library_defining("openblas_get_corename"); h != nullptr && bind(b, h)) {
            found = true;
            how = "loaded by the program";
        } else if (lower != "openblas") {
            if (void* hb = loaded_library_defining("bli_arch_query_id"); hb != nullptr && bind(b, hb)) {
                found = true;
                how = "loaded by the program";
            } else if (void* hc = loaded_library_defining("cblas_dgemm"); hc != nullptr && bind(b, hc)) {
                found = true;
                how = "loaded by the program";
            }
        }
        if (!found) {
            found = open_first(b, openblas_files(), tried);
            if (!found && lower != "openblas") found = open_first(b, blis_files(), tried);
            how = "loaded by xgrad";
        }
    } else if (lower == "blis") {
        if (void* h = loaded_library_defining("bli_arch_query_id"); h != nullptr && bind(b, h)) {
            found = true;
            how = "loaded by the program";
        } else {
            found = open_first(b, blis_files(), tried);
            how = "loaded by xgrad";
        }
    } else {
        found = open_first(b, {choice}, tried);
        how = "loaded by xgrad";
    }
    if (!found) {
        std::string list;
        for (const auto& t : tried) list += (list.empty() ? "" : "; ") + t;
        throw error("BLAS: no library could be loaded (XGRAD_BLAS=" + (choice.empty() ? "auto" : choice) +
                    "); tried: " + list +
                    ". Install OpenBLAS (Debian: apt-get install libopenblas0) or set XGRAD_BLAS to a "
                    "library with CBLAS");
    }
    b.how = how;
    b.info.reason = how;
    if (b.kind == family::openblas) {
        choose_openblas_core(b);
    } else if (!choice.empty()) {
        b.info.reason = how + ", XGRAD_BLAS=" + choice;
    }
    return b;
}

std::string kernel_of(const backend& b) {
    if (b.kind == family::openblas) return b.openblas_get_corename();
    if (b.kind == family::blis && b.bli_arch_string != nullptr)
        return b.bli_arch_string(b.bli_arch_query_id());
    return "unknown";
}

int threads_of(const backend& b) {
    if (b.openblas_get_num_threads != nullptr) return b.openblas_get_num_threads();
    if (b.bli_thread_get_num_threads != nullptr) {
        const auto n = b.bli_thread_get_num_threads();
        return n < 1 ? 1 : static_cast<int>(n);  // BLIS says -1 when it follows BLIS_NUM_THREADS/OpenMP
    }
    return 0;
}

blas_backend describe(const backend& b) {
    blas_backend info = b.info;
    info.kernel = kernel_of(b);
    info.threads = threads_of(b);
    return info;
}

std::atomic<const backend*> g_loaded{nullptr};  // the_backend(), once it is loaded: gemm's fast path

backend& the_backend() {
    static std::once_flag once;
    static backend b;
    std::call_once(once, [] {
        b = load();  // throws (and is retried on the next call) when no BLAS can be loaded
        g_loaded.store(&b, std::memory_order_release);
        if (const char* v = std::getenv("XGRAD_BLAS_VERBOSE"); v != nullptr && std::string_view(v) != "0") {
            std::fprintf(stderr, "xgrad: BLAS %s\n", describe(b).to_string().c_str());
        }
    });
    return b;
}

template <class T>
inline void gemm_raw(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                     std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc);

// The first gemm loads the BLAS; kept out of gemm_raw so that its fast path saves no registers for it.
template <class T>
[[gnu::noinline]] void gemm_first(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, T alpha,
                                  const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c,
                                  std::size_t ldc) {
    the_backend();
    gemm_raw(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Inlined into the gemm entry points: a call with thirteen arguments costs as much as the checks.
template <class T>
[[gnu::always_inline]] inline void gemm_raw(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k,
                                            T alpha, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                                            T beta, T* c, std::size_t ldc) {
    const backend* loaded = g_loaded.load(std::memory_order_acquire);
    if (loaded == nullptr) [[unlikely]] {
        return gemm_first(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
    const backend& be = *loaded;
    if (m == 0 || n == 0) return;
    if (k == 0) {  // empty inner dimension: op(A)·op(B) is all zeros (BLAS rejects lda = 0)
        for (std::size_t i = 0; i < m; ++i) {
            T* row = c + i * ldc;
            for (std::size_t j = 0; j < n; ++j) row[j] = beta == T(0) ? T(0) : row[j] * beta;
        }
        return;
    }
    const int fa = ta ? cblas_trans : cblas_no_trans, fb = tb ? cblas_trans : cblas_no_trans;
    if constexpr (std::is_same_v<T, float>) {
        be.cblas_sgemm(cblas_row_major, fa, fb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                       alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                       static_cast<int>(ldc));
    } else {
        be.cblas_dgemm(cblas_row_major, fa, fb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                       alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                       static_cast<int>(ldc));
    }
}

template <class T>
void gemm_impl(bool ta, bool tb, T alpha, const matrix<T>& a, const matrix<T>& b, T beta, matrix<T>& c) {
    gemm_raw(ta, tb, c.shape()[0], c.shape()[1], ta ? a.shape()[0] : a.shape()[1], alpha, a.data(),
             a.shape()[1], b.data(), b.shape()[1], beta, c.data(), c.shape()[1]);
}

}  // namespace

template <>
void gemm<float>(bool ta, bool tb, float alpha, const matrix<float>& a, const matrix<float>& b, float beta,
                 matrix<float>& c) {
    gemm_impl(ta, tb, alpha, a, b, beta, c);
}

template <>
void gemm<double>(bool ta, bool tb, double alpha, const matrix<double>& a, const matrix<double>& b,
                  double beta, matrix<double>& c) {
    gemm_impl(ta, tb, alpha, a, b, beta, c);
}

template <>
void gemm<float>(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha, const float* a,
                 std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
    gemm_raw(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <>
void gemm<double>(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
                  const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta, double* c,
                  std::size_t ldc) {
    gemm_raw(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

std::string blas_backend::to_string() const {
    std::string s = library + ", kernel " + kernel;
    if (threads > 0) s += ", " + std::to_string(threads) + (threads == 1 ? " thread" : " threads");
    s += " (" + reason + (path.empty() ? "" : "; " + path) + ")";
    return s;
}

blas_backend blas_info() {
    return describe(the_backend());
}

void set_num_threads(int n) {
    n = n < 1 ? 1 : n;
    if (g_loaded.load(std::memory_order_acquire) == nullptr)
        g_threads_at_load.store(n, std::memory_order_relaxed);
    const backend& b = the_backend();
    if (b.openblas_set_num_threads != nullptr) b.openblas_set_num_threads(n);
    if (b.bli_thread_set_num_threads != nullptr) b.bli_thread_set_num_threads(n);
}

int num_threads() {
    return threads_of(the_backend());
}

std::string blas_core() {
    return kernel_of(the_backend());
}

namespace detail {

std::string better_openblas_core(std::string_view openblas_choice, bool avx2_fma, bool avx512) {
    // OpenBLAS's x86-64 cores without AVX2 kernels: the generic fallbacks for CPUs it does not know, and the
    // old families they are named after (on those CPUs avx2_fma is false, so nothing changes).
    static constexpr std::array<std::string_view, 17> pre_avx2{
        "Unknown", "Katmai",       "Coppermine", "Northwood",  "Prescott",   "Banias",
        "Atom",    "Core2",        "Penryn",     "Dunnington", "Nehalem",    "Athlon",
        "Opteron", "Opteron_SSE3", "Barcelona",  "Nano",       "Sandybridge"};
    bool generic = false;
    for (auto c : pre_avx2) generic = generic || c == openblas_choice;
    if (!generic) return {};
    if (avx512) return "SkylakeX";
    if (avx2_fma) return "Haswell";
    return {};
}

std::string better_openblas_core(std::string_view openblas_choice) {
    const cpu_features f = this_cpu();
    return better_openblas_core(openblas_choice, f.avx2_fma, f.avx512);
}

std::string openblas_redispatch(const std::string& core) {
    return redispatch(the_backend(), core);
}

std::string openblas_use_better_core() {
    backend& b = the_backend();
    if (b.kind != family::openblas) return {};
    choose_openblas_core(b);
    return b.info.reason;
}

}  // namespace detail

}  // namespace xgrad
