// libFuzzer target: see harness.hpp for what one input means (fuzz/README.md for how to run it).
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    xgrad::fuzz::csv(data, size);
    return 0;
}
