// The training examples of seed 002: linear regression, vectorised logistic regression (the slide's 1/(2m)
// gradient against the graph's) and the sad / happy / angry classifier. Tolerances: gradients 1e-12
// relative against plain loops; descent against the normal equations 1e-8; the slide's rule at α against the
// graph's at α/2 after 400 steps 1e-10 relative; accuracies as stated in each check.
#include <cmath>

#include <catch2/catch.hpp>

#include "lecture/emotions.hpp"
#include "lecture/regression.hpp"
#include "lecture_support.hpp"
#include "support.hpp"

TEST_CASE(
    "lecture example: linear regression — the graph's gradient is (1/m)·E·Xᵀ and descent reaches least "
    "squares",
    "[lecture][examples]") {
    for (std::size_t n : {1, 3}) {
        INFO(n << " feature(s)");
        const auto r = lecture::run_linear_regression(n, 2000, 0.5);
        XGRAD_REQUIRE_CLOSE(r.dW_graph, r.dW_formula, 1e-12, 1e-14);
        XGRAD_REQUIRE_CLOSE(r.db_graph, r.db_formula, 1e-12, 1e-14);
        for (std::size_t s = 1; s < r.cost.size(); ++s) REQUIRE(r.cost[s] <= r.cost[s - 1] * (1 + 1e-12));
        CHECK(r.cost.back() < r.cost.front() / 100);
        XGRAD_REQUIRE_CLOSE(r.W, r.W_exact, 1e-8, 1e-8);
        XGRAD_REQUIRE_CLOSE(r.b, r.b_exact, 1e-8, 1e-8);
        const std::string out = lecture_test::printed(r);
        CHECK_THAT(out, Catch::Contains(fmt::format("cost {:.8f}", r.cost.front())));
        CHECK_THAT(out, Catch::Contains(fmt::format("b = {:.6f}", r.b_exact(0, 0))));
    }
}

TEST_CASE(
    "lecture example: logistic regression — the graph's gradient is exactly twice the slide's (1/(2m))·X·Eᵀ",
    "[lecture][examples]") {
    const auto r = lecture::run_logistic_regression(400, 0.5);
    // Independent reference: cross-entropy gradient (1/m)·X·Eᵀ at W = [0.3, −0.2], b = 0.1.
    const double m = static_cast<double>(r.m);
    double gw[2] = {0, 0}, gb = 0;
    for (std::size_t j = 0; j < r.m; ++j) {
        const double a = 0.3 * r.X(0, j) - 0.2 * r.X(1, j) + 0.1;
        const double e = 1 / (1 + std::exp(-a)) - r.Y(0, j);
        gw[0] += r.X(0, j) * e / m;
        gw[1] += r.X(1, j) * e / m;
        gb += e / m;
    }
    CHECK(r.dW_graph(0, 0) == Approx(gw[0]).epsilon(1e-12));
    CHECK(r.dW_graph(0, 1) == Approx(gw[1]).epsilon(1e-12));
    CHECK(r.db_graph(0, 0) == Approx(gb).epsilon(1e-12));
    CHECK(r.dlambda_slide(0, 0) == Approx(gw[0] / 2).epsilon(1e-12));
    CHECK(r.db_slide(0, 0) == Approx(gb / 2).epsilon(1e-12));
    CHECK(r.ratio_w == Approx(2.0).epsilon(1e-12));
    CHECK(r.ratio_b == Approx(2.0).epsilon(1e-12));
    CHECK(r.ratio_spread < 1e-12);
    // The slide's rule at α is the graph's at α/2.
    XGRAD_REQUIRE_CLOSE(r.W_slide, r.W_graph_half, 1e-10, 1e-12);
    XGRAD_REQUIRE_CLOSE(r.b_slide, r.b_graph_half, 1e-10, 1e-12);
    CHECK(r.cost_graph.back() < r.cost_graph.front() / 3);
    CHECK(r.cost_slide.back() < r.cost_slide.front() / 3);
    CHECK(r.cost_graph.back() < r.cost_slide.back());  // the full step goes further in as many steps
    CHECK(r.accuracy >= 0.9);
    const std::string out = lecture_test::printed(r);
    CHECK_THAT(out, Catch::Contains("graph ÷ slide = 2.000000000000"));
    CHECK_THAT(out, Catch::Contains(fmt::format("{:.8f}", r.cost_graph.back())));
}

TEST_CASE("lecture example: the sad / happy / angry classifier learns, with the slide's gradients",
          "[lecture][examples]") {
    const auto r = lecture::run_emotions();
    CHECK(r.first_step_gap < 1e-12);
    CHECK(r.loss.back() < r.loss.front() / 10);
    CHECK(r.train_accuracy >= 0.95);
    CHECK(r.test_accuracy >= 0.9);
    int total = 0;
    for (const auto& row : r.confusion)
        for (int v : row) total += v;
    CHECK(total == static_cast<int>(r.X_test.shape()[1]));
    for (std::size_t j = 0; j < 2; ++j) {
        const double s = r.face_probabilities(0, j) + r.face_probabilities(1, j) + r.face_probabilities(2, j);
        CHECK(s == Approx(1.0).epsilon(1e-12));
    }
    CHECK(r.face_probabilities(1, 0) > 0.9);  // the smile is happy
    CHECK(r.face_probabilities(1, 1) < 0.1);  // the frown is not
    const std::string out = lecture_test::printed(r);
    CHECK_THAT(out, Catch::Contains(fmt::format("{:.1f}% on new ones", 100 * r.test_accuracy)));
    CHECK_THAT(out, Catch::Contains(fmt::format("cross-entropy {:.5f}", r.loss.front())));
}
