// Seed 002, sections 1–3: linear regression by gradient descent, one feature and three, on the graph.
//   ./lecture_linear_regression [steps]
#include <cstdio>
#include <cstdlib>

#include "regression.hpp"

int main(int argc, char** argv) {
    const int steps = argc > 1 ? std::atoi(argv[1]) : 200;
    int failures = 0;
    for (std::size_t n : {1, 3}) {
        const auto r = lecture::run_linear_regression(n, steps, 0.5);
        lecture::print(stdout, r);
        std::printf("\n");
        failures += !(r.cost.back() < r.cost.front());
    }
    return failures;
}
