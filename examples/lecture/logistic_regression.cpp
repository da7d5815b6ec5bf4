// Seed 002, sections 5–6: vectorised logistic regression, the slide's gradient beside the graph's.
//   ./lecture_logistic_regression [steps]
#include <cstdio>
#include <cstdlib>

#include "regression.hpp"

int main(int argc, char** argv) {
    const int steps = argc > 1 ? std::atoi(argv[1]) : 400;
    const auto r = lecture::run_logistic_regression(steps, 0.5);
    lecture::print(stdout, r);
    return r.cost_graph.back() < r.cost_graph.front() && r.cost_slide.back() < r.cost_slide.front() ? 0 : 1;
}
