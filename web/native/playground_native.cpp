// The playground's engine (web/playground.cpp) run natively, against the installed Release library: prints
// the answers the page gets from the WebAssembly build, so the browser test can compare the two, and times
// training steps for docs/performance.md.
//
//   playground_native run steps=800 dataset=spiral …   {"reset":…, "train":…, "inspect":…, "nodes":[…]}:
//   every
//                                                        node of the inspected graph after `steps` steps
//   playground_native lecture forward_pass             the worked example's answer and all its nodes
//   playground_native bench steps=2000 repeat=5 …       {"steps":…, "us_per_step":[wall time, one per run],
//                                                        "cpu_us_per_step":[…], "blas":…} after 500 warm-up
//                                                        steps
//
// Settings are key=value words: dataset, noise, points, classes, hidden, activation, loss, optimizer, lr,
// batch, test, seed (see parse_settings).
#include <time.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <xgrad/blas.hpp>

#include "../playground.hpp"

namespace {

/// CPU time of the process so far (every thread), in seconds.
double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// Every node of the inspected graph (ids 0 … until node() answers an error).
std::string all_nodes(xgrad::web::playground& p) {
    std::string s = "[";
    for (int id = 0;; ++id) {
        const std::string n = p.node(id);
        if (n.rfind("{\"error\"", 0) == 0) break;
        s += (id ? "," : "") + n;
    }
    return s + "]";
}

int run(int argc, char** argv) {
    if (argc < 2) {
        std::fputs("usage: playground_native run|bench [steps=N] [key=value …] | lecture NAME\n", stderr);
        return 2;
    }
    const std::string mode = argv[1];
    xgrad::web::playground p;
    if (mode == "lecture") {
        if (argc != 3) throw std::runtime_error("lecture: give one example name");
        const std::string lecture = p.lecture(argv[2]);  // before all_nodes: it loads the graph
        fmt::print("{{\"lecture\":{},\"nodes\":{}}}\n", lecture, all_nodes(p));
        return 0;
    }
    int steps = 0, repeat = 5;
    std::vector<std::string> words;
    for (int i = 2; i < argc; ++i) {
        const std::string w = argv[i];
        if (w.rfind("steps=", 0) == 0) {
            steps = std::stoi(w.substr(6));
        } else if (w.rfind("repeat=", 0) == 0) {
            repeat = std::stoi(w.substr(7));
        } else {
            words.push_back(w);
        }
    }
    const std::string reset = p.reset(xgrad::web::parse_settings(words));
    if (reset.rfind("{\"error\"", 0) == 0) {
        std::fprintf(stderr, "playground_native: %s\n", reset.c_str());
        return 1;
    }
    if (mode == "run") {
        const std::string train = p.train(steps);
        const std::string inspect = p.inspect();
        fmt::print("{{\"reset\":{},\"train\":{},\"inspect\":{},\"nodes\":{}}}\n", reset, train, inspect,
                   all_nodes(p));
        return 0;
    }
    if (mode == "bench") {
        // Warm-up (the graph's buffers are allocated by the first steps), then `repeat` timed runs of
        // `steps`: wall time, and the process's CPU time, which a busy machine disturbs much less.
        p.train(500);
        std::string wall, cpu;
        for (int r = 0; r < repeat; ++r) {
            const double c0 = cpu_seconds();
            const auto t0 = std::chrono::steady_clock::now();
            p.train(steps);
            const double us =
                std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
            const double cpu_us = (cpu_seconds() - c0) * 1e6;
            wall += fmt::format("{}{:.3f}", r ? "," : "", us / steps);
            cpu += fmt::format("{}{:.3f}", r ? "," : "", cpu_us / steps);
        }
        fmt::print(
            "{{\"steps\":{},\"us_per_step\":[{}],\"cpu_us_per_step\":[{}],\"blas\":\"{}\",\"threads\":{}}}\n",
            steps, wall, cpu, xgrad::blas_core(), xgrad::num_threads());
        return 0;
    }
    std::fprintf(stderr, "playground_native: unknown mode '%s'\n", mode.c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "playground_native: %s\n", e.what());
        return 1;
    }
}
