// Replays every input the fuzzers ever crashed on (fuzz/regressions/<target>/) and the seed corpora
// (fuzz/corpus/<target>/) through the fuzz harness, in every build — under the sanitizer build this is the
// fuzzers' check without libFuzzer. An input fails the test if a loader throws anything but xgrad::error or
// returns a data set that breaks its promises (see fuzz/harness.hpp).
#define XGRAD_FUZZ_HARNESS_THROWS
#include "../../fuzz/harness.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

namespace fs = std::filesystem;

const fs::path fuzz_dir = fs::path(__FILE__).parent_path().parent_path().parent_path() / "fuzz";

/// Files of fuzz/<kind>/<target>/, sorted (empty when the directory does not exist).
std::vector<fs::path> inputs(const char* kind, const char* target) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fuzz_dir / kind / target, ec))
        if (e.is_regular_file() && e.path().filename() != ".gitkeep") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

template <class F>
int replay(const char* target, F&& harness) {
    int n = 0;
    for (const char* kind : {"regressions", "corpus"}) {
        for (const fs::path& p : inputs(kind, target)) {
            std::ifstream in(p, std::ios::binary);
            const std::string bytes{std::istreambuf_iterator<char>(in), {}};
            INFO(p.string());
            REQUIRE_NOTHROW(harness(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
            ++n;
        }
    }
    return n;
}

}  // namespace

TEST_CASE("reliability: fuzz_idx regressions and seeds load or fail cleanly", "[reliability][fuzz]") {
    CHECK(replay("idx", xgrad::fuzz::idx) >= 5);
}

TEST_CASE("reliability: fuzz_csv regressions and seeds load or fail cleanly", "[reliability][fuzz]") {
    CHECK(replay("csv", xgrad::fuzz::csv) >= 5);
    CHECK_FALSE(inputs("regressions", "csv").empty());  // the 1e63-as-float input found by fuzz_csv
}

TEST_CASE("reliability: fuzz_npz regressions and seeds load or fail cleanly", "[reliability][fuzz]") {
    CHECK(replay("npz", xgrad::fuzz::npz) >= 5);
}
