// The BLAS behind xgrad::gemm: products for every transpose combination against a plain loop, the kernel it
// reports is the one that runs, OpenBLAS's generic fallback is replaced in place (no re-execution), and a
// separate program linking xgrad gets the fast kernel with nothing set.
#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "support.hpp"

namespace {

// C_ref = α·op(A)·op(B) + β·C0 in double, and Σ_k |op(A)_ik·op(B)_kj| for the rounding bound.
template <class T>
void reference(bool ta, bool tb, double alpha, const xgrad::matrix<T>& a, const xgrad::matrix<T>& b,
               double beta, const xgrad::matrix<T>& c0, xgrad::matrix<double>& ref,
               xgrad::matrix<double>& mag) {
    const std::size_t m = c0.shape()[0], n = c0.shape()[1], k = ta ? a.shape()[0] : a.shape()[1];
    ref = xgrad::matrix<double>({m, n});
    mag = xgrad::matrix<double>({m, n});
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            double s = 0, t = 0;
            for (std::size_t q = 0; q < k; ++q) {
                const double x = ta ? a(q, i) : a(i, q), y = tb ? b(j, q) : b(q, j);
                s += x * y;
                t += std::abs(x * y);
            }
            ref(i, j) = alpha * s + (beta == 0 ? 0.0 : beta * static_cast<double>(c0(i, j)));
            mag(i, j) = std::abs(alpha) * t + std::abs(beta * static_cast<double>(c0(i, j)));
        }
    }
}

template <class T>
void check_all_transposes(double eps) {
    const std::size_t m = 37, n = 23, k = 51;  // not multiples of any kernel's block size
    std::uint64_t seed = 10;
    for (bool ta : {false, true}) {
        for (bool tb : {false, true}) {
            for (double beta : {0.0, 0.5}) {
                const auto a = ta ? xgrad::test::random_matrix<T>(k, m, ++seed)
                                  : xgrad::test::random_matrix<T>(m, k, ++seed);
                const auto b = tb ? xgrad::test::random_matrix<T>(n, k, ++seed)
                                  : xgrad::test::random_matrix<T>(k, n, ++seed);
                auto c0 = xgrad::test::random_matrix<T>(m, n, ++seed);
                if (beta == 0) c0.fill(std::numeric_limits<T>::quiet_NaN());  // β = 0 ignores C's contents
                auto c = c0;
                xgrad::gemm<T>(ta, tb, T(1.5), a, b, static_cast<T>(beta), c);
                xgrad::matrix<double> ref, mag;
                reference(ta, tb, 1.5, a, b, beta, c0, ref, mag);
                INFO("trans_a " << ta << ", trans_b " << tb << ", beta " << beta << ", kernel "
                                << xgrad::blas_core());
                double worst = 0;
                for (std::size_t i = 0; i < m; ++i) {
                    for (std::size_t j = 0; j < n; ++j) {
                        const double got = static_cast<double>(c(i, j));
                        REQUIRE(std::isfinite(got));
                        worst = std::max(worst, std::abs(got - ref(i, j)) / (mag(i, j) * eps));
                    }
                }
                CHECK(worst <= 4.0 * static_cast<double>(k));  // a loose multiple of the k·ε rounding bound
            }
        }
    }
}

bool has_avx2() {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

// Kernels with AVX2 (or wider) GEMM code: OpenBLAS's cores and BLIS's sub-configurations.
bool is_fast_kernel(const std::string& k) {
    static const std::array<std::string, 14> fast{
        "Haswell", "Zen",  "SkylakeX", "Cooperlake", "SapphireRapids", "haswell",  "zen", "zen2",
        "zen3",    "zen4", "skx",      "knl",        "a64fx",          "firestorm"};
    return std::find(fast.begin(), fast.end(), k) != fast.end();
}

// Runs a shell command, returns its standard output (and its exit status through `status`).
std::string run(const std::string& command, int& status) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    REQUIRE(p != nullptr);
    std::array<char, 512> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) out += buf.data();
    status = ::pclose(p);
    return out;
}

std::string line_value(const std::string& out, const std::string& key) {
    const auto at = out.find("\n" + key);
    if (at == std::string::npos) return {};
    const auto start = at + 1 + key.size();
    return out.substr(start, out.find('\n', start) - start);
}

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("blas: gemm matches a plain loop for every transpose combination, float", "[blas]") {
    check_all_transposes<float>(std::numeric_limits<float>::epsilon());
}

TEST_CASE("blas: gemm matches a plain loop for every transpose combination, double", "[blas]") {
    check_all_transposes<double>(std::numeric_limits<double>::epsilon());
}

TEST_CASE("blas: gemm with an empty inner dimension gives β·C", "[blas]") {
    const xgrad::matrix<double> a({3, 0}), b({0, 2});
    xgrad::matrix<double> c({3, 2}, 2.0);
    xgrad::gemm(false, false, 1.0, a, b, 0.5, c);
    CHECK(xgrad::test::closeness(c, xgrad::matrix<double>({3, 2}, 1.0), 0, 0) == 0);
    c.fill(std::numeric_limits<double>::quiet_NaN());
    xgrad::gemm(false, false, 1.0, a, b, 0.0, c);
    CHECK(xgrad::test::closeness(c, xgrad::matrix<double>({3, 2}, 0.0), 0, 0) == 0);
}

TEST_CASE("blas: blas_info names the library and the kernel that runs", "[blas]") {
    const auto info = xgrad::blas_info();
    INFO(info.to_string());
    CHECK(!info.library.empty());
    CHECK(!info.path.empty());
    CHECK(!info.reason.empty());
    CHECK(info.kernel == xgrad::blas_core());
    CHECK(info.to_string().find(info.kernel) != std::string::npos);
    if (info.library.rfind("OpenBLAS", 0) == 0) {
        // Ask the same OpenBLAS (already loaded: RTLD_NOLOAD) directly which core runs.
        void* h = dlopen(info.path.c_str(), RTLD_NOW | RTLD_NOLOAD);
        REQUIRE(h != nullptr);
        auto corename = reinterpret_cast<char* (*)()>(dlsym(h, "openblas_get_corename"));
        REQUIRE(corename != nullptr);
        CHECK(info.kernel == corename());
        static const std::array<std::string, 27> cores{
            "Katmai",       "Coppermine",     "Northwood",   "Prescott",    "Banias", "Atom",
            "Core2",        "Penryn",         "Dunnington",  "Nehalem",     "Athlon", "Opteron",
            "Opteron_SSE3", "Barcelona",      "Nano",        "Sandybridge", "Bobcat", "Bulldozer",
            "Piledriver",   "Haswell",        "Steamroller", "Excavator",   "Zen",    "SkylakeX",
            "Cooperlake",   "SapphireRapids", "Unknown"};
        CHECK(std::find(cores.begin(), cores.end() - 1, info.kernel) != cores.end() - 1);  // not "Unknown"
        CHECK(info.threads >= 1);
        xgrad::set_num_threads(1);
        CHECK(xgrad::num_threads() == 1);
        CHECK(xgrad::blas_info().threads == 1);
        dlclose(h);
    } else {
        CHECK(info.kernel != "unknown");
    }
}

TEST_CASE("blas: only a generic OpenBLAS core is replaced, by the best one the CPU runs", "[blas]") {
    using xgrad::detail::better_openblas_core;
    // OpenBLAS 0.3.21's fallback on CPUs it does not know, and the other pre-AVX2 cores
    for (const char* generic : {"Prescott", "Nehalem", "Sandybridge", "Core2", "Barcelona", "Unknown"}) {
        INFO(generic);
        CHECK(better_openblas_core(generic, true, true) == "SkylakeX");
        CHECK(better_openblas_core(generic, true, false) == "Haswell");
        CHECK(better_openblas_core(generic, false, false).empty());  // a CPU that really is that old
    }
    // OpenBLAS's own good choices stay
    for (const char* good : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator"}) {
        INFO(good);
        CHECK(better_openblas_core(good, true, true).empty());
        CHECK(better_openblas_core(good, true, false).empty());
    }
}

TEST_CASE("blas: an OpenBLAS on its generic core is switched in place, and gemm stays right", "[blas]") {
    const auto info = xgrad::blas_info();
    if (info.library.rfind("OpenBLAS", 0) != 0) {
        WARN("skipped: the BLAS is " << info.library << ", not OpenBLAS");
        return;
    }
    const std::string before = info.kernel;
    // Put OpenBLAS where 0.3.21 puts itself on a CPU it does not know. That set-up does not always hold:
    // OpenBLAS came back on its own choice (Cooperlake) in 1 of ~260 runs of this test (2026-11-30, during a
    // CI run), as the separate program below does in about 1 run in 200. It is not what is under test, so it
    // is tried up to 5 times.
    std::string generic = xgrad::detail::openblas_redispatch("Prescott");
    for (int tries = 1; tries < 5 && !generic.empty() && generic != "Prescott"; ++tries) {
        generic = xgrad::detail::openblas_redispatch("Prescott");
    }
    if (generic.empty()) {
        WARN("skipped: this OpenBLAS has no run-time kernel dispatch (not a DYNAMIC_ARCH build)");
        return;
    }
    REQUIRE(generic == "Prescott");
    REQUIRE(xgrad::blas_core() == "Prescott");
    const auto a = xgrad::test::random_matrix<float>(64, 96, 1),
               b = xgrad::test::random_matrix<float>(96, 80, 2);
    xgrad::matrix<float> c_generic({64, 80}), c_fast({64, 80}), c_again({64, 80});
    xgrad::set_num_threads(1);
    xgrad::gemm(false, false, 1.f, a, b, 0.f, c_generic);

    const std::string want = xgrad::detail::better_openblas_core("Prescott");
    if (want.empty()) {
        xgrad::detail::openblas_redispatch(before);
        WARN("skipped: this CPU has no AVX2, Prescott is what it runs");
        return;
    }
    if (std::getenv("OPENBLAS_CORETYPE") != nullptr) {
        xgrad::detail::openblas_redispatch(before);
        WARN("skipped: OPENBLAS_CORETYPE is set, so xgrad keeps the core it names");
        return;
    }
    // What xgrad does when it loads an OpenBLAS and finds it on a generic core.
    const std::string reason = xgrad::detail::openblas_use_better_core();
    INFO(reason);
    CHECK(xgrad::blas_core() == want);
    CHECK(is_fast_kernel(xgrad::blas_core()));
    CHECK(reason.find("chosen by xgrad") != std::string::npos);
    CHECK(xgrad::blas_info().reason == reason);
    xgrad::gemm(false, false, 1.f, a, b, 0.f, c_fast);
    xgrad::gemm(false, false, 1.f, a, b, 0.f, c_again);
    CHECK(xgrad::test::closeness(c_fast, c_generic, 1e-5, 1e-5) <= 1);  // same products, other kernel
    CHECK(xgrad::test::closeness(c_again, c_fast, 0, 0) == 0);          // same kernel and threads: same bits
    xgrad::detail::openblas_redispatch(before);
    CHECK(xgrad::blas_core() == before);
}

#ifdef XGRAD_BLAS_INFO_EXAMPLE
TEST_CASE(
    "blas: a separate program linking xgrad runs the fast kernel with nothing set, without re-executing",
    "[blas]") {
    if (!has_avx2()) {
        WARN("skipped: this CPU has no AVX2 + FMA, so no fast kernel to expect");
        return;
    }
    int status = 0;
    const std::string out = run(
        std::string("env -u OPENBLAS_CORETYPE -u XGRAD_BLAS ") + XGRAD_BLAS_INFO_EXAMPLE + " 1 2>&1", status);
    INFO(out);
    REQUIRE(status == 0);
    CHECK(count(out, "started") == 1);  // a re-executed program would print its first line again
    CHECK(is_fast_kernel(line_value(out, "kernel: ")));
}

TEST_CASE("blas: a program that asks for one BLAS thread before its first gemm starts no other thread",
          "[blas]") {
    // OpenBLAS's pthreads build starts a worker per further core when it loads, and each spins ~0.1 s;
    // xgrad loads it with the thread count set_num_threads asked for. Two threads still work afterwards.
    const std::string env =
        "env -u OPENBLAS_NUM_THREADS -u GOTO_NUM_THREADS -u OMP_NUM_THREADS -u XGRAD_BLAS ";
    int status = 0;
    const std::string one = run(env + XGRAD_BLAS_INFO_EXAMPLE + " 20 1 2>&1", status);
    INFO(one);
    REQUIRE(status == 0);
    CHECK(line_value(one, "threads of this process: ") == "1");
    CHECK(one.find(", 1 thread (") != std::string::npos);
    const std::string two = run(env + XGRAD_BLAS_INFO_EXAMPLE + " 20 2 2>&1", status);
    INFO(two);
    REQUIRE(status == 0);
    CHECK(two.find(", 2 threads (") != std::string::npos);
    // OpenBLAS's pthreads build starts its worker when asked for 2 threads (an OpenMP build at its first
    // parallel region, after the line is printed).
    using parallel_fn = int (*)();
    const auto info = xgrad::blas_info();  // this process's OpenBLAS is the same file as the program's
    void* lib = info.path.empty() ? nullptr : dlopen(info.path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    const auto parallel =
        lib != nullptr ? reinterpret_cast<parallel_fn>(dlsym(lib, "openblas_get_parallel")) : nullptr;
    const bool pthreads = parallel != nullptr && parallel() == 1;
    if (lib != nullptr) dlclose(lib);
    if (pthreads) CHECK(line_value(two, "threads of this process: ") == "2");
    // The same training either way (OpenBLAS splits no dot product over threads): the same last loss.
    const auto last_loss = [](const std::string& out) { return out.substr(out.rfind("→")); };
    CHECK(last_loss(one) == last_loss(two));
    // The environment's own count is obeyed: xgrad changes nothing then.
    const std::string env_two =
        run(std::string("env -u XGRAD_BLAS OPENBLAS_NUM_THREADS=2 ") + XGRAD_BLAS_INFO_EXAMPLE + " 20 1 2>&1",
            status);
    INFO(env_two);
    REQUIRE(status == 0);
    CHECK(env_two.find(", 1 thread (") != std::string::npos);
    if (pthreads) CHECK(line_value(env_two, "threads of this process: ") == "2");
}

#ifdef XGRAD_BLAS_INFO_GENERIC_CORE
TEST_CASE("blas: a program whose OpenBLAS chose its generic core gets the fast kernel, without re-executing",
          "[blas]") {
    if (!has_avx2()) {
        WARN("skipped: this CPU has no AVX2 + FMA, so no fast kernel to expect");
        return;
    }
    // The program links a library whose constructor puts OpenBLAS on Prescott before main, as OpenBLAS
    // 0.3.21 does by itself on a CPU it does not know; OPENBLAS_CORETYPE stays unset. That set-up does not
    // always hold: in about 1 run in 200 (measured: 1 of 200 in a loop, on a machine whose OpenBLAS picks
    // Cooperlake itself) xgrad finds OpenBLAS on its own choice again, with nothing to switch. The
    // situation under test is then absent, so the program is run again, up to 5 times, until the set-up
    // held; every run must succeed, and the run where it held is checked.
    int status = 0;
    std::string out;
    int runs = 0;
    do {
        ++runs;
        out = run(
            std::string("env -u OPENBLAS_CORETYPE -u XGRAD_BLAS ") + XGRAD_BLAS_INFO_GENERIC_CORE + " 1 2>&1",
            status);
        INFO(out);
        REQUIRE(status == 0);
    } while (out.find("OpenBLAS chose Prescott") == std::string::npos && runs < 5);
    INFO(out);
    INFO("runs until the generic core was set up: " << runs);
    CHECK(count(out, "started") == 1);
    CHECK(out.find("OpenBLAS chose Prescott") != std::string::npos);  // the situation was set up
    CHECK(line_value(out, "kernel: ") == xgrad::detail::better_openblas_core("Prescott"));
    CHECK(is_fast_kernel(line_value(out, "kernel: ")));
}
#endif

TEST_CASE("blas: OPENBLAS_CORETYPE and XGRAD_BLAS choose the kernel of a separate program", "[blas]") {
    int status = 0;
    const std::string haswell =
        run(std::string("env -u XGRAD_BLAS OPENBLAS_CORETYPE=Haswell ") + XGRAD_BLAS_INFO_EXAMPLE + " 1 2>&1",
            status);
    INFO(haswell);
    REQUIRE(status == 0);
    CHECK(line_value(haswell, "kernel: ") == "Haswell");
    CHECK(haswell.find("OPENBLAS_CORETYPE=Haswell") != std::string::npos);

    // BLIS is optional (Debian libblis4); it is not loaded here to find out (a test process that loads and
    // unloads it would report BLIS's own allocations as leaks under AddressSanitizer).
    const std::string blis =
        run(std::string("env XGRAD_BLAS=blis ") + XGRAD_BLAS_INFO_EXAMPLE + " 1 2>&1", status);
    INFO(blis);
    if (status != 0 && blis.find("no library could be loaded") != std::string::npos) {
        WARN("BLIS is not installed (Debian libblis4): XGRAD_BLAS=blis not checked");
    } else {
        REQUIRE(status == 0);
        CHECK(blis.find("BLAS: BLIS") != std::string::npos);
        CHECK(!line_value(blis, "kernel: ").empty());
        CHECK(line_value(blis, "kernel: ") != "unknown");
    }

    const std::string bad =
        run(std::string("env XGRAD_BLAS=libno-such-blas.so ") + XGRAD_BLAS_INFO_EXAMPLE + " 1 2>&1", status);
    INFO(bad);
    CHECK(status != 0);
    CHECK(bad.find("libno-such-blas.so") != std::string::npos);
}
#endif
