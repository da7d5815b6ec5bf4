// Determinism across processes (issue 7): the same seed on one BLAS thread gives bit-identical losses and
// parameters in two separate runs of the program, not only twice in one process (tests/train/train_test.cpp
// checks that) — nothing may depend on addresses, the clock, uninitialised memory or the environment.
//
// The test runs this very executable twice more (/proc/self/exe), each time only the hidden test case
// below, which trains a small network and writes every loss as a hex float plus the final checkpoint.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "reliability.hpp"

extern char** environ;

namespace {

using xgrad::reliability::read_file;
using xgrad::reliability::temp_dir;

/// Runs this executable's hidden test case [determinism-child] with the seed and output path in its
/// environment; true when it exits with status 0.
bool run_child(const std::string& out, std::uint64_t seed) {
    std::vector<std::string> env_storage;
    for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
    env_storage.push_back("XGRAD_DETERMINISM_OUT=" + out);
    env_storage.push_back("XGRAD_DETERMINISM_SEED=" + std::to_string(seed));
    std::vector<char*> env;
    for (auto& s : env_storage) env.push_back(s.data());
    env.push_back(nullptr);
    std::string exe = "/proc/self/exe", filter = "[determinism-child]";
    char* argv[] = {exe.data(), filter.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, env.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return false;
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

TEST_CASE("determinism: training in the child process (run by the test below)", "[.determinism-child]") {
    const char* out = std::getenv("XGRAD_DETERMINISM_OUT");
    const char* seed_text = std::getenv("XGRAD_DETERMINISM_SEED");
    REQUIRE(out != nullptr);
    REQUIRE(seed_text != nullptr);
    const std::uint64_t seed = std::stoull(seed_text);
    xgrad::set_num_threads(1);

    auto all = xgrad::data::make_spiral<float>(600, 3, 0.2, seed);
    auto [train, val] = xgrad::data::split(all, 0.2, seed);
    xgrad::data::standardizer<float> z;
    z.fit(train.x);
    z.apply(train.x);
    z.apply(val.x);
    xgrad::rng r(seed);
    auto net = xgrad::nn::mlp<float>({2, 32, 32, 3}, xgrad::nn::activation_kind::tanh, r);
    xgrad::optim::adam<float> opt(net->parameters(), 0.01f);
    xgrad::train::fit_options<float> o;
    o.epochs = 4;
    o.batch = 16;
    o.seed = seed;
    o.validation = &val;
    const auto history = xgrad::train::fit(*net, opt, train, o);
    std::string text;
    for (const auto& e : history)
        text += fmt::format("{} {:a} {:a} {:a} {:a}\n", e.epoch, e.loss, e.train_accuracy, e.val_loss,
                            e.val_accuracy);
    std::ofstream(std::string(out) + ".losses") << text;
    std::vector<std::pair<std::string, const xgrad::parameter<float>*>> named;
    for (auto& [name, p] : net->named_parameters()) named.emplace_back(name, p);
    xgrad::save_parameters<float>(std::string(out) + ".npz", named);
}

TEST_CASE("determinism: two processes with the same seed give bit-identical losses and parameters",
          "[reliability][determinism]") {
    temp_dir dir;
    REQUIRE(run_child(dir / "a", 5));
    REQUIRE(run_child(dir / "b", 5));
    REQUIRE(run_child(dir / "c", 6));
    const std::string la = read_file(dir / "a.losses"), lb = read_file(dir / "b.losses");
    INFO("run a:\n" << la << "run b:\n" << lb);
    REQUIRE(la.size() > 0);
    CHECK(la == lb);
    const std::string pa = read_file(dir / "a.npz"), pb = read_file(dir / "b.npz");
    REQUIRE(pa.size() > 1000);
    CHECK(pa == pb);  // the checkpoints, byte for byte: every parameter bit-identical
    CHECK(read_file(dir / "c.losses") != la);
    CHECK(read_file(dir / "c.npz") != pa);
}
