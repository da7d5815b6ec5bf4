// A sad / happy / angry softmax classifier (seed 002's three-class example), trained end to end.
//   ./lecture_emotions [steps]
#include <cstdio>
#include <cstdlib>

#include "emotions.hpp"

int main(int argc, char** argv) {
    const int steps = argc > 1 ? std::atoi(argv[1]) : 300;
    const auto r = lecture::run_emotions(steps);
    lecture::print(stdout, r);
    return r.loss.back() < r.loss.front() && r.first_step_gap < 1e-12 ? 0 : 1;
}
