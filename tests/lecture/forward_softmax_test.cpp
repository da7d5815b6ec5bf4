// The forward-pass and softmax worked examples of seed 002: every number the examples print is checked
// against a direct evaluation here (std::exp / std::log, not xgrad), and every verdict against the slide.
// Tolerances: 1e-15 absolute for the forward pass (sums of three products and a sigmoid), 1e-14 relative for
// softmax and the logarithms; the printed text is compared at the digits it prints.
#include <cmath>

#include <catch2/catch.hpp>

#include "lecture/forward_pass.hpp"
#include "lecture/softmax_loss.hpp"
#include "lecture_support.hpp"

namespace {
double sigma(double a) {
    return 1 / (1 + std::exp(-a));
}
using lecture::verdict;
}  // namespace

TEST_CASE("lecture example: the 3-input forward pass matches a direct evaluation (1e-15)",
          "[lecture][examples]") {
    const auto r = lecture::run_forward_pass();
    const double a[3] = {0.2 * 1.2 + 0.5 * 0.9 - 0.9 * 0.3 + 0.1, 0.2 * 0.2 + 0.5 * 0.3 - 0.9 * 0.1 + 0.1,
                         0.2 * 1.3 + 0.5 * 1.9 - 0.9 * 0.1 + 0.1};
    for (int i = 0; i < 3; ++i) {
        CHECK(r.A1(i, 0) == Approx(a[i]).margin(1e-15));
        CHECK(r.H1(i, 0) == Approx(sigma(a[i])).margin(1e-15));
    }
    const double a2 = 0.2 * sigma(a[0]) + 0.6 * sigma(a[1]) + 0.2 * sigma(a[2]) + 0.1;
    CHECK(r.a2 == Approx(a2).margin(1e-15));
    CHECK(r.h2 == Approx(sigma(a2)).margin(1e-15));
    // The slide's own last step, from its printed hidden outputs, and its double sigmoid.
    const double a2s = 0.2 * 0.62 + 0.6 * 0.63 + 0.2 * 0.77 + 0.1;
    CHECK(r.a2_slide_chain == Approx(a2s).margin(1e-15));
    CHECK(r.h2_slide_chain == Approx(sigma(a2s)).margin(1e-15));
    CHECK(r.sigma_of_055 == Approx(sigma(0.55)).margin(1e-15));
    CHECK(r.sigma_twice == Approx(sigma(sigma(a[1]))).margin(1e-15));
}

TEST_CASE("lecture example: the forward pass's verdicts — neuron 2 is σ applied twice",
          "[lecture][examples]") {
    const auto r = lecture::run_forward_pass();
    const std::vector<verdict> expected{verdict::agrees,     // 0.52
                                        verdict::truncated,  // σ(0.52) = 0.627 printed 0.62
                                        verdict::differs,    // 0.55 should be 0.2
                                        verdict::agrees,     // σ(0.55) = 0.63, the slide's own step
                                        verdict::differs,    // neuron 2's output is σ(0.2) = 0.55, not 0.63
                                        verdict::agrees,     // 1.22
                                        verdict::agrees,     // σ(1.22) = 0.77
                                        verdict::agrees,     // 0.756 from the slide's hidden outputs
                                        verdict::agrees,     // σ(0.756) = 0.68
                                        verdict::differs,    // 0.756 from the true hidden outputs: 0.710
                                        verdict::differs};   // the true output 0.670
    REQUIRE(r.figures.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        INFO(r.figures[i].what << ": slide " << r.figures[i].slide << ", computed " << r.figures[i].computed);
        CHECK(r.figures[i].v == expected[i]);
        CHECK(r.figures[i].note.empty() == (expected[i] == verdict::agrees));
    }
    // Neuron 2's weighted sum is 0.2, and 0.55 is its sigmoid.
    CHECK(r.A1(1, 0) == Approx(0.2).margin(1e-15));
    CHECK(lecture::round_to(r.H1(1, 0), 2) == Approx(0.55));
}

TEST_CASE("lecture example: the forward pass prints the computed figures and its verdicts",
          "[lecture][examples]") {
    const auto r = lecture::run_forward_pass();
    const std::string out = lecture_test::printed(r);
    const double a[3] = {0.52, 0.2 * 0.2 + 0.5 * 0.3 - 0.9 * 0.1 + 0.1, 1.22};
    const double a2 =
        0.2 * sigma(0.2 * 1.2 + 0.5 * 0.9 - 0.9 * 0.3 + 0.1) + 0.6 * sigma(a[1]) + 0.2 * sigma(a[2]) + 0.1;
    CHECK_THAT(out, Catch::Contains(fmt::format("{:.4f}", sigma(0.2 * 1.2 + 0.5 * 0.9 - 0.9 * 0.3 + 0.1))));
    CHECK_THAT(out, Catch::Contains(fmt::format("{:.5f}", sigma(a[1]))));
    CHECK_THAT(out, Catch::Contains(fmt::format("{:.5f}", a2)));
    CHECK_THAT(out, Catch::Contains(fmt::format("{:.4f}", sigma(a2))));
    CHECK_THAT(out, Catch::Contains("11 figures checked: 6 agree, 1 agree only if cut off, 4 differ."));
    CHECK_THAT(out, Catch::Contains("the sigmoid applied twice"));
}

TEST_CASE("lecture example: softmax of [6, −2, 3] and its cross-entropies match std::exp/std::log (1e-14)",
          "[lecture][examples]") {
    const auto r = lecture::run_softmax_example();
    const double t[3] = {std::exp(6.0), std::exp(-2.0), std::exp(3.0)};
    const double S = t[0] + t[1] + t[2];
    for (int i = 0; i < 3; ++i) {
        CHECK(r.t(i, 0) == Approx(t[i]).epsilon(1e-15));
        CHECK(r.H(i, 0) == Approx(t[i] / S).epsilon(1e-14));
        CHECK(r.H_op(i, 0) == Approx(t[i] / S).epsilon(1e-14));
    }
    CHECK(r.sum_t == Approx(S).epsilon(1e-15));
    CHECK(r.sum_H == Approx(1.0).epsilon(1e-15));
    // −ln softmax = ln Σ e^z − z_target
    CHECK(r.ce1 == Approx(std::log(S) - 6).epsilon(1e-13));
    CHECK(r.ce3 == Approx(std::log(S) - 3).epsilon(1e-14));
    CHECK(r.ce1_log10 == Approx((std::log(S) - 6) / std::log(10.0)).epsilon(1e-13));
    CHECK(r.ce3_log10 == Approx((std::log(S) - 3) / std::log(10.0)).epsilon(1e-14));
    CHECK(r.slide_h1_ln == Approx(-std::log(0.952)).epsilon(1e-14));
    CHECK(r.slide_h1_log10 == Approx(-std::log10(0.952)).epsilon(1e-14));
    CHECK(r.slide_h3_ln == Approx(-std::log(0.048)).epsilon(1e-14));
    CHECK(r.slide_h3_log10 == Approx(-std::log10(0.048)).epsilon(1e-14));
    CHECK(r.sum_t_slide == Approx(403.4 + 0.135 + 20.0).epsilon(1e-15));
    CHECK(r.sum_H_slide == Approx(0.952 + 0.00037 + 0.048).epsilon(1e-15));
    // The fused gradient is H − T (m = 1).
    for (int i = 0; i < 3; ++i) {
        CHECK(r.dA2_1(i, 0) == Approx(t[i] / S - (i == 0)).margin(1e-15));
        CHECK(r.dA2_3(i, 0) == Approx(t[i] / S - (i == 2)).margin(1e-15));
    }
}

TEST_CASE("lecture example: the softmax slide's verdicts — e³ cut off, Σt from rounded terms, log base 10",
          "[lecture][examples]") {
    const auto r = lecture::run_softmax_example();
    const std::vector<verdict> expected{verdict::agrees,      // 403.4
                                        verdict::agrees,      // 0.135
                                        verdict::truncated,   // e³ = 20.09 printed 20.0
                                        verdict::differs,     // Σt = 423.6, not 423.5
                                        verdict::agrees,      // 0.952
                                        verdict::differs,     // 0.00032, not 0.00037
                                        verdict::differs,     // 0.047, not 0.048
                                        verdict::agrees,      // the outputs sum to 1
                                        verdict::differs,     // −ln 0.952 = 0.049, not −0.021
                                        verdict::differs,     // −log₁₀ 0.952 = +0.021: the sign
                                        verdict::differs,     // −ln 0.048 = 3.04, not 1.31
                                        verdict::truncated};  // −log₁₀ 0.048 = 1.3188 printed 1.31
    REQUIRE(r.figures.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        INFO(r.figures[i].what << ": slide " << r.figures[i].slide << ", computed " << r.figures[i].computed);
        CHECK(r.figures[i].v == expected[i]);
    }
    // The base-10 reading of the slide's losses agrees in size: 0.021 and 1.32 (rounded).
    CHECK(lecture::round_to(r.slide_h1_log10, 3) == Approx(0.021));
    CHECK(lecture::round_to(r.slide_h3_log10, 2) == Approx(1.32));
    const std::string out = lecture_test::printed(r);
    CHECK_THAT(out,
               Catch::Contains(fmt::format("Σt = {:.4f}", std::exp(6.0) + std::exp(-2.0) + std::exp(3.0))));
    CHECK_THAT(out, Catch::Contains("12 figures checked: 4 agree, 2 agree only if cut off, 6 differ."));
    CHECK_THAT(out, Catch::Contains("log base 10"));
}

TEST_CASE("lecture example: verdicts round, cut off, or differ at the slide's printed precision",
          "[lecture]") {
    CHECK(lecture::decimals("0.00037") == 5);
    CHECK(lecture::decimals("423.5") == 1);
    CHECK(lecture::decimals("1") == 0);
    CHECK(lecture::judge("0.63", 0.6271) == verdict::agrees);
    CHECK(lecture::judge("0.62", 0.6271) == verdict::truncated);
    CHECK(lecture::judge("0.64", 0.6271) == verdict::differs);
    CHECK(lecture::judge("-0.021", 0.0214) == verdict::differs);
    CHECK(lecture::judge("-0.021", -0.0214) == verdict::agrees);
    CHECK(lecture::judge("20.0", 20.0855) == verdict::truncated);
}
