// Hinton's argument (seed 000) and the notes (seed 001): the gradients the example takes from the graph,
// against the closed forms. Tolerances: 1e-15 where the graph computes the closed form directly (fused
// losses, the Jacobian), 1e-9 relative where it goes through −1/y ≈ −1e9 and back (composed losses).
#include <cmath>

#include <catch2/catch.hpp>

#include "lecture/hinton.hpp"
#include "lecture_support.hpp"

TEST_CASE("lecture example: a logistic unit with t = 1, y = 1e-9 — squared error ≈ −1e-9, cross-entropy ≈ −1",
          "[lecture][examples]") {
    const auto r = lecture::run_hinton_example();
    for (const auto* c : {&r.billionth, &r.notes_case}) {
        const double y = c->y;
        INFO("y = " << y);
        CHECK(1 / (1 + std::exp(-c->z)) == Approx(y).epsilon(1e-12));
        CHECK(c->dE_dy == Approx(y - 1).epsilon(1e-12));                 // E = ½(y − 1)²
        CHECK(c->dE_dz == Approx((y - 1) * y * (1 - y)).epsilon(1e-9));  // … times σ′
        CHECK(c->dC_dy == Approx(-1 / y).epsilon(1e-9));                 // C = −ln y
        CHECK(c->dC_dz == Approx(y - 1).epsilon(1e-9));                  // y − t
        CHECK(c->dC_dz_fused == Approx(y - 1).epsilon(1e-15));
    }
    CHECK(std::abs(r.billionth.dE_dz) < 1.1e-9);
    CHECK(std::abs(r.billionth.dC_dz + 1) < 1.1e-9);
}

TEST_CASE("lecture example: a softmax group whose right unit says 1e-9 gets dC/dz = y − t",
          "[lecture][examples]") {
    const auto r = lecture::run_hinton_example();
    CHECK(r.y3(0, 0) == Approx(1e-9).epsilon(1e-9));
    const double t[3] = {1, 0, 0};
    for (int i = 0; i < 3; ++i) {
        CHECK(r.dC_dz(i, 0) == Approx(r.y3(i, 0) - t[i]).margin(1e-9));
        CHECK(r.dC_dz_fused(i, 0) == Approx(r.y3(i, 0) - t[i]).margin(1e-15));
    }
    CHECK(r.dC_dy_correct == Approx(-1 / r.y3(0, 0)).epsilon(1e-12));
    // Squared error on the softmax outputs: dz = J·(y − t) with J = diag(y) − y·yᵀ.
    double s = 0;
    for (int j = 0; j < 3; ++j) s += (r.y3(j, 0) - t[j]) * r.y3(j, 0);
    for (int i = 0; i < 3; ++i)
        CHECK(r.dE_dz(i, 0) == Approx(r.y3(i, 0) * ((r.y3(i, 0) - t[i]) - s)).margin(1e-15));
    CHECK(std::abs(r.dE_dz(0, 0)) < 1e-8);
}

TEST_CASE("lecture example: the softmax Jacobian is yᵢ(δᵢⱼ − yⱼ), and yᵢ(1 − yᵢ) is its diagonal",
          "[lecture][examples]") {
    const auto r = lecture::run_hinton_example();
    const double e[3] = {std::exp(6.0), std::exp(-2.0), std::exp(3.0)};
    const double S = e[0] + e[1] + e[2];
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) {
            const double yi = e[i] / S, yj = e[j] / S;
            CHECK(r.jacobian(i, j) == Approx(yi * ((i == j) - yj)).margin(1e-15));
        }
        CHECK(r.diagonal_rule(i, 0) == Approx(e[i] / S * (1 - e[i] / S)).margin(1e-15));
        // Target ⟨0,0,1⟩: full product y − t; the diagonal alone leaves the wrong classes at 0.
        CHECK(r.dz_full(i, 0) == Approx(e[i] / S - (i == 2)).margin(1e-15));
        CHECK(r.dz_diagonal_only(i, 0) == Approx(i == 2 ? -(1 - e[2] / S) : 0.0).margin(1e-15));
    }
    for (int i = 0; i < 3; ++i) CHECK(r.notes_softmax(i, 0) == Approx(1.0 / 3).margin(1e-15));
    CHECK(r.cost_million == Approx(-std::log(1e-6)).epsilon(1e-14));
    CHECK(r.cost_billion == Approx(-std::log(1e-9)).epsilon(1e-14));
    CHECK(r.largest_slope <= 1.0);
    CHECK(r.largest_slope > 1 - 1e-12);
}

TEST_CASE("lecture example: every claim of Hinton's argument holds, and the example says so",
          "[lecture][examples]") {
    const auto r = lecture::run_hinton_example();
    for (const auto& c : r.claims) {
        INFO(c.what << " — " << c.computed);
        CHECK(c.holds);
    }
    const std::string out = lecture_test::printed(r);
    CHECK_THAT(out, !Catch::Contains("DOES NOT HOLD"));
    CHECK_THAT(out, Catch::Contains(fmt::format("dE/dz = {:.3g}", r.billionth.dE_dz)));
    CHECK_THAT(out, Catch::Contains(fmt::format("dC/dz = {:.9f}", 1e-9 - 1)));
    CHECK_THAT(out, Catch::Contains(fmt::format("C = {:.4f} vs {:.4f}", -std::log(1e-6), -std::log(1e-9))));
}
