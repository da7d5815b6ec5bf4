// xgrad benchmark: µs per full training step (zero-grad, forward, loss, backward, SGD update) for four
// models, xgrad beside the hand-written floor and libtorch, measured in the same run with interleaved
// samples.
//
//   bench [--models a,b,c,d] [--dtypes f32,f64] [--threads 1,2] [--samples 21] [--sample-ms 20]
//   bench --profile xgrad|replay|hand|libtorch --models b --dtypes f32 --steps 200   (no timing: for
//   perf/callgrind)
//
// "xgrad" records the graph every step (eager); "replay" records it once and replays it (graph::capture).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <xgrad/blas.hpp>

#include "bench.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= s.size()) {
        const auto c = s.find(',', pos);
        out.push_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
    }
    return out;
}

struct contender {
    const char* name;
    std::unique_ptr<bench::stepper> s;
    std::size_t steps_per_sample = 1;
    std::vector<double> samples;  // µs per step
    double allocs_per_step = 0;
    double first_loss = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}
double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

std::string fmt_num(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

double time_steps(bench::stepper& s, std::size_t k) {
    const auto t0 = clock_type::now();
    for (std::size_t i = 0; i < k; ++i) s.step();
    return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count() / static_cast<double>(k);
}

template <class T>
void run(const bench::model_spec& spec, int threads, int samples, double sample_ms, const char* dtype) {
    xgrad::set_num_threads(threads);
    bench::torch_set_threads(threads);
    const auto problem = bench::make_problem(spec, 42);
    std::vector<contender> cs;
    cs.push_back({"xgrad", bench::make_xgrad<T>(spec, problem)});
    cs.push_back({"hand", bench::make_hand<T>(spec, problem)});
    cs.push_back({"replay", bench::make_xgrad_replay<T>(spec, problem)});
    if (auto t = bench::make_torch<T>(spec, problem)) cs.push_back({"libtorch", std::move(t)});

    for (auto& c : cs) {  // first loss (all start from the same weights), then warm-up and calibration
        c.s->step();
        c.first_loss = c.s->last_loss();
        double t = time_steps(*c.s, 5);
        const auto warm_until = clock_type::now() + std::chrono::milliseconds(150);
        while (clock_type::now() < warm_until) t = time_steps(*c.s, 5);
        c.steps_per_sample =
            std::max<std::size_t>(1, static_cast<std::size_t>(sample_ms * 1000.0 / std::max(t, 0.01)));
        const std::uint64_t a0 = bench::allocations();
        for (int i = 0; i < 100; ++i) c.s->step();
        c.allocs_per_step = static_cast<double>(bench::allocations() - a0) / 100.0;
    }
    for (int k = 0; k < samples; ++k) {  // interleaved, in a rotating order, so drift hits everyone alike
        for (std::size_t r = 0; r < cs.size(); ++r) {
            auto& c = cs[(r + static_cast<std::size_t>(k)) % cs.size()];
            c.samples.push_back(time_steps(*c.s, c.steps_per_sample));
        }
    }
    const double x = median(cs[0].samples), h = median(cs[1].samples), r = median(cs[2].samples);
    const double tt = cs.size() > 3 ? median(cs[3].samples) : 0;
    const std::string torch_us = cs.size() > 3 ? fmt_num(tt, 2) : "–";
    const std::string torch_ratio = cs.size() > 3 ? fmt_num(x / tt, 2) : "–";
    const std::string torch_allocs = cs.size() > 3 ? fmt_num(cs[3].allocs_per_step, 0) : "–";
    std::printf(
        "| (%s) | %s | %d | %.2f | %.2f | %.2f | %s | %.2f | %.2f | %s | %.2f | %.0f / %.0f / %.0f / %s |\n",
        spec.key.c_str(), dtype, threads, x, r, h, torch_us.c_str(), x / h, r / h, torch_ratio.c_str(),
        quantile(cs[0].samples, 0.9) / x, cs[0].allocs_per_step, cs[2].allocs_per_step, cs[1].allocs_per_step,
        torch_allocs.c_str());
    std::fflush(stdout);
    const double l0 = cs[0].first_loss;
    for (auto& c : cs) {
        if (std::abs(c.first_loss - l0) > 1e-3 * std::max(1.0, std::abs(l0))) {
            std::printf("   warning: first-step loss of %s is %.6g, xgrad's is %.6g\n", c.name, c.first_loss,
                        l0);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    // The BLAS first: xgrad picks the kernel (and fixes OpenBLAS's choice on CPUs it does not know) before
    // anything multiplies; the hand-written floor and libtorch call the same OpenBLAS.
    const auto blas = xgrad::blas_info();
    // libtorch's OpenMP threads spin after each op by default and steal the second core from OpenBLAS's
    // threads (and vice versa); scripts/bench runs everything with OMP_WAIT_POLICY=PASSIVE (read when libgomp
    // loads, before main).
    if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
        std::fprintf(stderr,
                     "bench: OMP_WAIT_POLICY is unset; run through scripts/bench (it sets PASSIVE)\n");
    }
    std::vector<std::string> want_models{"a", "b", "c", "d"}, dtypes{"f32", "f64"}, threads{"1", "2"};
    int samples = 21;
    double sample_ms = 20;
    std::string profile;
    int steps = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--models")
            want_models = split(v);
        else if (k == "--dtypes")
            dtypes = split(v);
        else if (k == "--threads")
            threads = split(v);
        else if (k == "--samples")
            samples = std::atoi(v.c_str());
        else if (k == "--sample-ms")
            sample_ms = std::atof(v.c_str());
        else if (k == "--profile")
            profile = v;
        else if (k == "--steps")
            steps = std::atoi(v.c_str());
        else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 2;
        }
    }
    if (!profile.empty() && profile == "gemm") {  // the GEMM rate the models' own shapes reach
        xgrad::set_num_threads(std::atoi(threads.front().c_str()));
        struct shape {
            const char* what;
            std::size_t m, n, k;
        };
        const shape shapes[] = {{"(b) forward layer 1: 512×784·784×256", 512, 256, 784},
                                {"(b) dW1 = dA1·Xᵀ: 512×256·256×784", 512, 784, 256},
                                {"(a) forward layer 1: 128×784·784×64", 128, 64, 784}};
        for (const auto& sh : shapes) {
            xgrad::matrix<float> a({sh.m, sh.k}), b({sh.k, sh.n}), c({sh.m, sh.n});
            a.fill(0.5f);
            b.fill(0.25f);
            auto run = [&] { xgrad::gemm(false, false, 1.f, a, b, 0.f, c); };
            for (int i = 0; i < 20; ++i) run();
            std::vector<double> t;
            for (int s = 0; s < 21; ++s) {
                const auto t0 = clock_type::now();
                for (int i = 0; i < 10; ++i) run();
                t.push_back(std::chrono::duration<double>(clock_type::now() - t0).count() / 10);
            }
            const double sec = median(t);
            std::printf("%s: %.1f µs, %.1f GFLOP/s (f32, %s threads, %s %s)\n", sh.what, sec * 1e6,
                        2.0 * static_cast<double>(sh.m * sh.n * sh.k) / sec / 1e9, threads.front().c_str(),
                        blas.library.c_str(), xgrad::blas_core().c_str());
        }
        return 0;
    }
    if (!profile.empty()) {  // one contender, one model, one dtype, a fixed number of steps
        xgrad::set_num_threads(std::atoi(threads.front().c_str()));
        bench::torch_set_threads(std::atoi(threads.front().c_str()));
        for (const auto& spec : bench::models()) {
            if (spec.key != want_models.front()) continue;
            const auto p = bench::make_problem(spec, 42);
            const bool f32 = dtypes.front() == "f32";
            std::unique_ptr<bench::stepper> st =
                profile == "xgrad"
                    ? (f32 ? bench::make_xgrad<float>(spec, p) : bench::make_xgrad<double>(spec, p))
                : profile == "replay" ? (f32 ? bench::make_xgrad_replay<float>(spec, p)
                                             : bench::make_xgrad_replay<double>(spec, p))
                : profile == "hand"
                    ? (f32 ? bench::make_hand<float>(spec, p) : bench::make_hand<double>(spec, p))
                    : (f32 ? bench::make_torch<float>(spec, p) : bench::make_torch<double>(spec, p));
            if (!st) return 2;
            for (int i = 0; i < steps; ++i) st->step();
            std::printf("%s (%s) %s: %d steps, last loss %.6g\n", profile.c_str(), spec.key.c_str(),
                        dtypes.front().c_str(), steps, st->last_loss());
        }
        return 0;
    }
    std::printf(
        "xgrad's BLAS: %s\nhand-written floor: the linked OpenBLAS's cblas, kernel %s; libtorch: %s; %d "
        "samples of ~%.0f ms each, median\n\n",
        blas.to_string().c_str(), openblas_get_corename(), bench::torch_available() ? "yes" : "not built",
        samples, sample_ms);
    if (xgrad::blas_core() != openblas_get_corename()) {
        std::printf("warning: xgrad's BLAS kernel (%s) is not the floor's (%s)\n\n",
                    xgrad::blas_core().c_str(), openblas_get_corename());
    }
    std::printf(
        "| model | dtype | threads | xgrad µs | replay µs | hand µs | libtorch µs | xgrad/hand | replay/hand "
        "| "
        "xgrad/libtorch | xgrad p90/median | allocations per step: xgrad / replay / hand / libtorch |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const auto& spec : bench::models()) {
        if (std::find(want_models.begin(), want_models.end(), spec.key) == want_models.end()) continue;
        for (const auto& d : dtypes) {
            for (const auto& t : threads) {
                if (d == "f32") run<float>(spec, std::atoi(t.c_str()), samples, sample_ms, "f32");
                if (d == "f64") run<double>(spec, std::atoi(t.c_str()), samples, sample_ms, "f64");
            }
        }
    }
    return 0;
}
