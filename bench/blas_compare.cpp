// Which BLAS should xgrad use? GFLOP/s of the GEMMs xgrad's models make, for every contender, in one
// process and one run: OpenBLAS with the core it picks by itself, OpenBLAS with the generic Prescott (SSE3)
// core it falls back to on CPUs it does not know, with the Haswell (AVX2) and SkylakeX (AVX-512) cores, and
// BLIS (which picks its kernels from the CPU's features at run time). Float and double, 1 and 2 threads;
// samples of the contenders interleave in a random order (with a pause before each sample when
// there are several threads), so drift of the shared machine hits all alike.
// The table is the one in docs/performance.md ("Which BLAS").
//
//   blas_compare [--groups a,b,c,d,train,conv1,conv2] [--dtypes f32,f64] [--threads 1,2] [--samples 15]
//                [--sample-ms 10] [--only NAME] [--detail]
//
// The program links no BLAS: it loads libopenblas.so.0 and libblis.so.4 itself (dlopen, RTLD_LOCAL) and
// calls them through dlsym'd pointers — OpenBLAS's CBLAS, BLIS's typed API (bli_sgemm: BLIS's own CBLAS
// would call sgemm_ through the PLT, which could bind to OpenBLAS's). One OpenBLAS is loaded; its core
// is switched between samples by OpenBLAS's own run-time dispatch (gotoblas_dynamic_quit, then
// gotoblas_dynamic_init reading OPENBLAS_CORETYPE), and openblas_get_corename() confirms each switch.
// Every contender's products are checked against a plain loop before anything is timed.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

// ---- the GEMMs: row-major C[M×N] = op(A)·op(B), as xgrad::gemm calls them ----------------------------
struct gemm_shape {
    bool ta, tb;
    int m, n, k;
};
struct group {
    std::string key, what;
    std::vector<gemm_shape> shapes;
    double flops() const {
        double f = 0;
        for (const auto& s : shapes) f += 2.0 * s.m * s.n * s.k;
        return f;
    }
};

// One training step of an MLP (examples are columns, batch m): per layer A = W·H (NN: out×m, K = in),
// dW = dA·Hᵀ (NT: out×in, K = m), and for every layer but the first dH = Wᵀ·dA (TN: in×m, K = out).
group mlp(std::string key, std::string what, std::vector<int> sizes, int batch) {
    group g{std::move(key), std::move(what), {}};
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
        const int in = sizes[l], out = sizes[l + 1];
        g.shapes.push_back({false, false, out, batch, in});
        g.shapes.push_back({false, true, out, in, batch});
        if (l > 0) g.shapes.push_back({true, false, in, batch, out});
    }
    return g;
}

std::vector<group> all_groups() {
    return {
        mlp("a", "(a) 784-128-10, batch 64", {784, 128, 10}, 64),
        mlp("b", "(b) 784-512-256-10, batch 256", {784, 512, 256, 10}, 256),
        mlp("c", "(c) 3-3-1, batch 4", {3, 3, 1}, 4),
        mlp("d", "(d) 2-16-16-3, batch 32", {2, 16, 16, 3}, 32),
        mlp("train", "xgrad train: 784-256-10, batch 64", {784, 256, 10}, 64),
        {"conv1", "conv 1 im2col 32×6272×9", {{false, false, 32, 6272, 9}}},
        {"conv2", "conv 2 im2col 64×1568×288", {{false, false, 64, 1568, 288}}},
    };
}

// ---- the contenders ----------------------------------------------------------------------------------
using cblas_sgemm_t = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                               float, float*, int);
using cblas_dgemm_t = void (*)(int, int, int, int, int, int, double, const double*, int, const double*, int,
                               double, double*, int);
using bli_sgemm_t = void (*)(int, int, std::int64_t, std::int64_t, std::int64_t, float*, float*, std::int64_t,
                             std::int64_t, float*, std::int64_t, std::int64_t, float*, float*, std::int64_t,
                             std::int64_t);
using bli_dgemm_t = void (*)(int, int, std::int64_t, std::int64_t, std::int64_t, double*, double*,
                             std::int64_t, std::int64_t, double*, std::int64_t, std::int64_t, double*,
                             double*, std::int64_t, std::int64_t);
constexpr int cblas_row_major = 101, cblas_no_trans = 111, cblas_trans = 112;
constexpr int bli_no_transpose = 0, bli_transpose = 8;  // BLIS_TRANS_BIT

void* need(void* lib, const char* name) {
    void* p = dlsym(lib, name);
    if (p == nullptr) {
        std::fprintf(stderr, "blas_compare: %s not found\n", name);
        std::exit(2);
    }
    return p;
}

struct contender {
    std::string name;                  // column heading
    std::function<std::string()> use;  // makes it the active one; returns the kernel that will run
    std::function<void(int)> threads;  // sets its thread count
    std::function<void(const gemm_shape&, const float*, const float*, float*)> sgemm;
    std::function<void(const gemm_shape&, const double*, const double*, double*)> dgemm;
    std::string kernel;
};

struct openblas_lib {
    void* lib = nullptr;
    cblas_sgemm_t sgemm = nullptr;
    cblas_dgemm_t dgemm = nullptr;
    void (*set_threads)(int) = nullptr;
    char* (*corename)() = nullptr;
    void (*dynamic_init)() = nullptr;
    void (*dynamic_quit)() = nullptr;
    std::string loaded_core;  // what it chose when it loaded
    std::string env_at_load;  // OPENBLAS_CORETYPE then

    void load() {
        const char* env = std::getenv("OPENBLAS_CORETYPE");
        env_at_load = env ? env : "";
        lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) {
            std::fprintf(stderr, "blas_compare: cannot load libopenblas.so.0: %s\n", dlerror());
            std::exit(2);
        }
        sgemm = reinterpret_cast<cblas_sgemm_t>(need(lib, "cblas_sgemm"));
        dgemm = reinterpret_cast<cblas_dgemm_t>(need(lib, "cblas_dgemm"));
        set_threads = reinterpret_cast<void (*)(int)>(need(lib, "openblas_set_num_threads"));
        corename = reinterpret_cast<char* (*)()>(need(lib, "openblas_get_corename"));
        dynamic_init = reinterpret_cast<void (*)()>(need(lib, "gotoblas_dynamic_init"));
        dynamic_quit = reinterpret_cast<void (*)()>(need(lib, "gotoblas_dynamic_quit"));
        loaded_core = corename();
    }
    // core "" = the core OpenBLAS chose when it loaded (from the CPU model, or OPENBLAS_CORETYPE if set then)
    std::string use(const std::string& core) {
        dynamic_quit();
        const std::string want = core.empty() ? env_at_load : core;
        if (want.empty()) {
            ::unsetenv("OPENBLAS_CORETYPE");
        } else {
            ::setenv("OPENBLAS_CORETYPE", want.c_str(), 1);
        }
        dynamic_init();
        std::string now = corename();
        if (!core.empty() && now != core) {
            std::fprintf(stderr, "blas_compare: asked OpenBLAS for core %s, it runs %s\n", core.c_str(),
                         now.c_str());
            std::exit(2);
        }
        return now;
    }
};

contender openblas_contender(openblas_lib& ob, const std::string& core, const std::string& heading) {
    contender c;
    c.name = heading;
    c.use = [&ob, core] { return ob.use(core); };
    c.threads = [&ob](int n) { ob.set_threads(n); };
    c.sgemm = [&ob](const gemm_shape& s, const float* a, const float* b, float* out) {
        ob.sgemm(cblas_row_major, s.ta ? cblas_trans : cblas_no_trans, s.tb ? cblas_trans : cblas_no_trans,
                 s.m, s.n, s.k, 1.f, a, s.ta ? s.m : s.k, b, s.tb ? s.k : s.n, 0.f, out, s.n);
    };
    c.dgemm = [&ob](const gemm_shape& s, const double* a, const double* b, double* out) {
        ob.dgemm(cblas_row_major, s.ta ? cblas_trans : cblas_no_trans, s.tb ? cblas_trans : cblas_no_trans,
                 s.m, s.n, s.k, 1.0, a, s.ta ? s.m : s.k, b, s.tb ? s.k : s.n, 0.0, out, s.n);
    };
    return c;
}

contender blis_contender() {
    void* lib = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        std::fprintf(stderr, "blas_compare: cannot load libblis.so.4 (apt-get install libblis4): %s\n",
                     dlerror());
        std::exit(2);
    }
    auto sgemm = reinterpret_cast<bli_sgemm_t>(need(lib, "bli_sgemm"));
    auto dgemm = reinterpret_cast<bli_dgemm_t>(need(lib, "bli_dgemm"));
    auto set_threads = reinterpret_cast<void (*)(std::int64_t)>(need(lib, "bli_thread_set_num_threads"));
    auto arch_id = reinterpret_cast<int (*)()>(need(lib, "bli_arch_query_id"));
    auto arch_string = reinterpret_cast<char* (*)(int)>(need(lib, "bli_arch_string"));
    auto version = reinterpret_cast<char* (*)()>(need(lib, "bli_info_get_version_str"));
    contender c;
    c.name = std::string("BLIS ") + version();
    c.use = [arch_id, arch_string] { return std::string(arch_string(arch_id())); };
    c.threads = [set_threads](int n) { set_threads(n); };
    // Row-major storage: row stride = leading dimension, column stride 1. A is stored M×K (K×M if ta).
    c.sgemm = [sgemm](const gemm_shape& s, const float* a, const float* b, float* out) {
        float one = 1, zero = 0;
        sgemm(s.ta ? bli_transpose : bli_no_transpose, s.tb ? bli_transpose : bli_no_transpose, s.m, s.n, s.k,
              &one, const_cast<float*>(a), s.ta ? s.m : s.k, 1, const_cast<float*>(b), s.tb ? s.k : s.n, 1,
              &zero, out, s.n, 1);
    };
    c.dgemm = [dgemm](const gemm_shape& s, const double* a, const double* b, double* out) {
        double one = 1, zero = 0;
        dgemm(s.ta ? bli_transpose : bli_no_transpose, s.tb ? bli_transpose : bli_no_transpose, s.m, s.n, s.k,
              &one, const_cast<double*>(a), s.ta ? s.m : s.k, 1, const_cast<double*>(b), s.tb ? s.k : s.n, 1,
              &zero, out, s.n, 1);
    };
    return c;
}

// ---- operands, the reference check, the timing ------------------------------------------------------
template <class T>
struct operands {
    std::vector<std::vector<T>> a, b, c;
    explicit operands(const group& g) {
        std::mt19937 rng(7);
        std::uniform_real_distribution<double> u(-1, 1);
        for (const auto& s : g.shapes) {
            a.emplace_back(static_cast<std::size_t>(s.m) * s.k);
            b.emplace_back(static_cast<std::size_t>(s.k) * s.n);
            c.emplace_back(static_cast<std::size_t>(s.m) * s.n);
            for (auto& v : a.back()) v = static_cast<T>(u(rng));
            for (auto& v : b.back()) v = static_cast<T>(u(rng));
        }
    }
};

template <class T>
void run_group(const contender& c, const group& g, operands<T>& o) {
    for (std::size_t i = 0; i < g.shapes.size(); ++i) {
        if constexpr (std::is_same_v<T, float>) {
            c.sgemm(g.shapes[i], o.a[i].data(), o.b[i].data(), o.c[i].data());
        } else {
            c.dgemm(g.shapes[i], o.a[i].data(), o.b[i].data(), o.c[i].data());
        }
    }
}

// max |C − C_ref| / (Σ_k |a|·|b|) over every product of the group, against a plain double loop.
template <class T>
double check(const contender& c, const group& g, operands<T>& o) {
    run_group(c, g, o);
    double worst = 0;
    for (std::size_t i = 0; i < g.shapes.size(); ++i) {
        const auto& s = g.shapes[i];
        const auto& a = o.a[i];
        const auto& b = o.b[i];
        for (int r = 0; r < s.m; ++r) {
            for (int col = 0; col < s.n; ++col) {
                double ref = 0, mag = 0;
                for (int k = 0; k < s.k; ++k) {
                    const double x = s.ta ? a[static_cast<std::size_t>(k) * s.m + r]
                                          : a[static_cast<std::size_t>(r) * s.k + k];
                    const double y = s.tb ? b[static_cast<std::size_t>(col) * s.k + k]
                                          : b[static_cast<std::size_t>(k) * s.n + col];
                    ref += x * y;
                    mag += std::abs(x * y);
                }
                const double got = o.c[i][static_cast<std::size_t>(r) * s.n + col];
                worst = std::max(worst, std::abs(got - ref) / std::max(mag, 1e-30));
            }
        }
    }
    return worst;
}

template <class T>
double time_reps(const contender& c, const group& g, operands<T>& o, int reps) {
    const auto t0 = clock_type::now();
    for (int r = 0; r < reps; ++r) run_group(c, g, o);
    return std::chrono::duration<double>(clock_type::now() - t0).count() / reps;
}

std::string load_average() {  // the machine is shared: say how busy it was
    std::string s;
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        char buf[128] = {};
        if (std::fgets(buf, sizeof buf, f) != nullptr) s = buf;
        std::fclose(f);
    }
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s.empty() ? "unknown" : s;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (true) {
        const auto c = s.find(',', pos);
        out.push_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
    }
    return out;
}

struct options {
    std::vector<std::string> groups{"a", "b", "c", "d", "train", "conv1", "conv2"}, dtypes{"f32", "f64"},
        threads{"1", "2"};
    int samples = 15;
    double sample_ms = 10;
    std::string only;
    bool detail = false;
};

struct timing {
    double median, best;  // seconds per run of the group's GEMMs
};

// Per contender: seconds per run of the group, median and best of the interleaved samples.
template <class T>
std::vector<timing> measure(std::vector<contender>& cs, const group& g, int threads, const options& opt) {
    operands<T> o(g);
    std::vector<int> reps(cs.size());
    std::vector<std::vector<double>> samples(cs.size());
    for (std::size_t i = 0; i < cs.size(); ++i) {  // warm-up (100 ms) and calibration
        cs[i].use();
        cs[i].threads(threads);
        double t = time_reps(cs[i], g, o, 1);
        const auto until = clock_type::now() + std::chrono::milliseconds(100);
        while (clock_type::now() < until) t = time_reps(cs[i], g, o, 3);
        reps[i] = std::max(1, static_cast<int>(opt.sample_ms * 1e-3 / t));
    }
    // A new random order every round, so no contender always follows the same one; with several threads, a
    // pause before each sample, so the previous contender's idle threads have stopped spinning (OpenBLAS's
    // spin ~0.1 s after a call before they sleep, OpenMP's — BLIS's — a shorter while) and do not take a core
    // from the one being measured.
    std::vector<std::size_t> order(cs.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::mt19937 shuffle_rng(static_cast<unsigned>(threads) * 7919u + static_cast<unsigned>(g.shapes.size()));
    for (int k = 0; k < opt.samples; ++k) {
        std::shuffle(order.begin(), order.end(), shuffle_rng);
        for (const std::size_t i : order) {
            cs[i].use();
            cs[i].threads(threads);
            if (threads > 1) std::this_thread::sleep_for(std::chrono::milliseconds(150));
            samples[i].push_back(time_reps(cs[i], g, o, reps[i]));
        }
    }
    std::vector<timing> out;
    for (auto& s : samples) out.push_back({median(s), *std::min_element(s.begin(), s.end())});
    return out;
}

template <class T>
void report(std::vector<contender>& cs, const group& g, const char* dtype, int threads, const options& opt) {
    std::vector<group> rows{g};
    if (opt.detail && g.shapes.size() > 1) {
        for (const auto& s : g.shapes) {
            char what[96];
            std::snprintf(what, sizeof what, "  %s %d×%d×%d",
                          s.ta ? (s.tb ? "TT" : "TN") : (s.tb ? "NT" : "NN"), s.m, s.n, s.k);
            rows.push_back({g.key, what, {s}});
        }
    }
    for (const auto& row : rows) {
        const auto t = measure<T>(cs, row, threads, opt);
        // GFLOP/s, or µs per run for the tiny models, where the per-call cost is what counts
        const bool tiny = row.flops() < 1e6;
        std::printf("| %s | %s | %d | %s |", row.what.c_str(), dtype, threads, tiny ? "µs" : "GFLOP/s");
        std::size_t best = 0;
        for (std::size_t i = 0; i < cs.size(); ++i) {
            if (t[i].median < t[best].median) best = i;
            if (tiny) {
                std::printf(" %.2f (%.2f) |", t[i].median * 1e6, t[i].best * 1e6);
            } else {
                std::printf(" %.1f (%.1f) |", row.flops() / t[i].median * 1e-9,
                            row.flops() / t[i].best * 1e-9);
            }
        }
        std::printf(" %s |\n", cs[best].name.c_str());
        std::fflush(stdout);
    }
}

}  // namespace

int main(int argc, char** argv) {
    options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--detail") {
            opt.detail = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "blas_compare: %s needs a value\n", k.c_str());
            return 2;
        }
        const std::string v = argv[++i];
        if (k == "--groups")
            opt.groups = split(v);
        else if (k == "--dtypes")
            opt.dtypes = split(v);
        else if (k == "--threads")
            opt.threads = split(v);
        else if (k == "--samples")
            opt.samples = std::max(1, std::atoi(v.c_str()));
        else if (k == "--sample-ms")
            opt.sample_ms = std::atof(v.c_str());
        else if (k == "--only")
            opt.only = v;
        else {
            std::fprintf(stderr, "blas_compare: unknown option %s\n", k.c_str());
            return 2;
        }
    }

    static openblas_lib ob;
    ob.load();
    std::vector<contender> cs;
    cs.push_back(openblas_contender(ob, "", "OpenBLAS as it loads"));
    cs.push_back(openblas_contender(ob, "Prescott", "OpenBLAS Prescott"));
    cs.push_back(openblas_contender(ob, "Haswell", "OpenBLAS Haswell"));
    cs.push_back(openblas_contender(ob, "SkylakeX", "OpenBLAS SkylakeX"));
    cs.push_back(blis_contender());
    if (!opt.only.empty()) {
        std::erase_if(cs, [&](const contender& c) { return c.name.find(opt.only) == std::string::npos; });
        if (cs.empty()) {
            std::fprintf(stderr, "blas_compare: no contender matches %s\n", opt.only.c_str());
            return 2;
        }
    }
    for (auto& c : cs) c.kernel = c.use();

    std::printf(
        "OpenBLAS loaded with core %s (OPENBLAS_CORETYPE %s%s); %d samples of ~%.0f ms per contender, "
        "interleaved, median\n",
        ob.loaded_core.c_str(), ob.env_at_load.empty() ? "unset" : "=", ob.env_at_load.c_str(), opt.samples,
        opt.sample_ms);
    std::printf("kernels:");
    for (const auto& c : cs) std::printf(" %s → %s;", c.name.c_str(), c.kernel.c_str());
    std::printf("\n");

    // Correctness first: every contender, every shape, both types, against a plain loop.
    for (const auto& g : all_groups()) {
        if (std::find(opt.groups.begin(), opt.groups.end(), g.key) == opt.groups.end()) continue;
        operands<float> of(g);
        operands<double> od(g);
        for (auto& c : cs) {
            c.use();
            c.threads(1);
            const double ef = check(c, g, of), ed = check(c, g, od);
            if (!(ef < 1e-5) || !(ed < 1e-13)) {
                std::fprintf(stderr,
                             "blas_compare: %s computes %s wrongly (relative error f32 %.3g, f64 %.3g)\n",
                             c.name.c_str(), g.what.c_str(), ef, ed);
                return 1;
            }
        }
    }
    std::printf(
        "all products checked against a plain loop\n\nmedian (best) of the samples: GFLOP/s, or µs per run "
        "of "
        "the group's GEMMs for the tiny models\n\n");
    std::printf("| GEMMs | dtype | threads | unit |");
    for (const auto& c : cs) std::printf(" %s (%s) |", c.name.c_str(), c.kernel.c_str());
    std::printf(" fastest |\n|---|---|---|---|");
    for (std::size_t i = 0; i <= cs.size(); ++i) std::printf("---|");
    std::printf("\n");
    for (const auto& g : all_groups()) {
        if (std::find(opt.groups.begin(), opt.groups.end(), g.key) == opt.groups.end()) continue;
        for (const auto& d : opt.dtypes) {
            for (const auto& t : opt.threads) {
                if (d == "f32") report<float>(cs, g, "f32", std::atoi(t.c_str()), opt);
                if (d == "f64") report<double>(cs, g, "f64", std::atoi(t.c_str()), opt);
            }
        }
    }
    std::printf("\nload average after: %s\n", load_average().c_str());
    return 0;
}
