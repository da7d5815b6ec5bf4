// Seed 000's argument for softmax + cross-entropy, with every gradient from the graph.
//   ./lecture_hinton
#include <cstdio>

#include "hinton.hpp"

int main() {
    const auto r = lecture::run_hinton_example();
    lecture::print(stdout, r);
    for (const auto& c : r.claims)
        if (!c.holds) return 1;
    return 0;
}
