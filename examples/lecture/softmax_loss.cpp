// Seed 002's softmax of A[2] = [6, −2, 3] and its cross-entropy, recomputed on the graph beside the slides.
//   ./lecture_softmax_loss
#include <cstdio>

#include "softmax_loss.hpp"

int main() {
    const auto r = lecture::run_softmax_example();
    lecture::print(stdout, r);
    // The two-step softmax and the op agree, and the outputs are a distribution.
    double worst = 0;
    for (std::size_t k = 0; k < 3; ++k) worst = std::max(worst, std::abs(r.H(k, 0) - r.H_op(k, 0)));
    return worst < 1e-15 && std::abs(r.sum_H - 1) < 1e-15 ? 0 : 1;
}
