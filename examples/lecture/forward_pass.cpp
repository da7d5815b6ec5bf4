// Seed 002's forward pass through the 3-input network, recomputed on the graph beside the slide's figures.
//   ./lecture_forward_pass
#include <cstdio>

#include "forward_pass.hpp"

int main() {
    const auto r = lecture::run_forward_pass();
    lecture::print(stdout, r);
    // The network's computations are plain arithmetic: check them against a direct evaluation.
    const double h1 = 1 / (1 + std::exp(-(0.2 * 1.2 + 0.5 * 0.9 - 0.9 * 0.3 + 0.1)));
    return std::abs(r.H1(0, 0) - h1) < 1e-12 ? 0 : 1;
}
