// Seed 000 (Hinton, lecture 4c) and seed 001 (notes on it): why squared error stalls a logistic unit that is
// badly wrong while softmax + cross-entropy does not — every gradient taken from the graph.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "figures.hpp"

namespace lecture {

/// A statement of the lecture, what the graph computes for it, and whether that bears it out.
struct claim {
    std::string what, lecture, computed;
    bool holds = false;
};

/// One logistic unit with target 1 and output y, differentiated under two costs.
struct logistic_case {
    double y = 0;            // the unit's output σ(z)
    double z = 0;            // its logit
    double dE_dy = 0;        // squared error E = ½(y − t)²: dE/dy = y − t
    double dE_dz = 0;        //   … dE/dz = (y − t)·y(1 − y): almost nothing
    double dC_dy = 0;        // cross-entropy C = −ln y (binary, t = 1): dC/dy = −1/y, very steep
    double dC_dz = 0;        //   … dC/dz = y − t ≈ −1 (composed: σ then binary_cross_entropy)
    double dC_dz_fused = 0;  //   … the same from bce_with_logits
};

struct hinton_example {
    logistic_case billionth, notes_case;  // y = 1e-9 (the transcript), y = 1e-8 (the notes' 0.00000001)
    // A softmax group of three whose correct unit (unit 1) outputs 1e-9.
    xgrad::matrix<double> z3, y3;       // logits [3×1] and softmax outputs
    double dC_dy_correct = 0;           // cross-entropy through the composed softmax: −1/y₁
    xgrad::matrix<double> dC_dz;        // composed: softmax then cross_entropy → y − t
    xgrad::matrix<double> dC_dz_fused;  // softmax_cross_entropy
    xgrad::matrix<double> dE_dz;        // squared error on the softmax outputs
    // One in a million against one in a billion.
    double cost_million = 0, cost_billion = 0;
    // The softmax Jacobian at z = [6, −2, 3], row i = ∂yᵢ/∂z, from backward with unit seeds.
    xgrad::matrix<double> z_jac, y_jac, jacobian, diagonal_rule;  // diagonal_rule = yᵢ(1 − yᵢ)
    xgrad::matrix<double> dz_full,
        dz_diagonal_only;  // target ⟨0,0,1⟩: the full product y − t vs the diagonal
    // The notes' softmax as printed, e^{z_i} / Σ_j e^{z_i}.
    xgrad::matrix<double> notes_softmax;
    double largest_slope = 0;  // max |dC/dz| of a logistic unit over logits −30 … 30
    std::vector<claim> claims;
};

inline logistic_case run_logistic_case(double y) {
    logistic_case c;
    c.y = y;
    c.z = std::log(y / (1 - y));  // the logit whose sigmoid is y
    xgrad::matrix<double> zm{{c.z}}, one{{1.0}};
    xgrad::graph<double> g;
    auto z = g.variable(zm, "z");
    auto t = g.constant(one, "t");
    auto h = xgrad::sigmoid(z).named("y");
    auto E = xgrad::mse(h, t).named("E");  // ½(y − t)² for one example
    g.backward(E);
    c.dE_dy = h.grad()(0, 0);
    c.dE_dz = z.grad()(0, 0);
    g.zero_grad();
    auto h2 = xgrad::sigmoid(z).named("y");
    auto C = xgrad::binary_cross_entropy(h2, t).named("C");  // −ln y for t = 1
    g.backward(C);
    c.dC_dy = h2.grad()(0, 0);
    c.dC_dz = z.grad()(0, 0);
    g.zero_grad();
    auto Cf = xgrad::bce_with_logits(z, t);
    g.backward(Cf);
    c.dC_dz_fused = z.grad()(0, 0);
    return c;
}

inline hinton_example run_hinton_example() {
    hinton_example r;
    r.billionth = run_logistic_case(1e-9);
    r.notes_case = run_logistic_case(1e-8);

    {  // softmax group: logits [ln(2y/(1 − y)), 0, 0] give the first unit y = 1e-9
        const double y = 1e-9;
        r.z3 = xgrad::matrix<double>{{std::log(2 * y / (1 - y))}, {0.0}, {0.0}};
        const xgrad::matrix<double> T{{1.0}, {0.0}, {0.0}};
        xgrad::graph<double> g;
        auto z = g.variable(r.z3, "z");
        auto t = g.constant(T, "t");
        auto Y = xgrad::softmax(z).named("y");
        auto C = xgrad::cross_entropy(Y, t).named("C");
        g.backward(C);
        r.y3 = Y.value();
        r.dC_dy_correct = Y.grad()(0, 0);
        r.dC_dz = z.grad();
        g.zero_grad();
        g.backward(xgrad::softmax_cross_entropy(z, t));
        r.dC_dz_fused = z.grad();
        g.zero_grad();
        g.backward(xgrad::mse(xgrad::softmax(z), t));
        r.dE_dz = z.grad();
    }
    {  // the bet: −ln 1e-6 against −ln 1e-9
        xgrad::graph<double> g;
        const xgrad::matrix<double> one{{1.0}}, a{{1e-6}}, b{{1e-9}};
        r.cost_million = xgrad::cross_entropy(g.constant(a), g.constant(one)).item();
        r.cost_billion = xgrad::cross_entropy(g.constant(b), g.constant(one)).item();
    }
    {  // the softmax Jacobian, one row per backward with seed eᵢ
        r.z_jac = xgrad::matrix<double>{{6.0}, {-2.0}, {3.0}};
        xgrad::graph<double> g;
        auto z = g.variable(r.z_jac, "z");
        auto Y = xgrad::softmax(z).named("y");
        r.y_jac = Y.value();
        r.jacobian = xgrad::matrix<double>({3, 3});
        r.diagonal_rule = xgrad::matrix<double>({3, 1});
        for (std::size_t i = 0; i < 3; ++i) {
            xgrad::matrix<double> seed({3, 1}, 0.0);
            seed(i, 0) = 1;
            g.zero_grad();
            g.backward(Y, seed);
            for (std::size_t j = 0; j < 3; ++j) r.jacobian(i, j) = z.grad()(j, 0);
            r.diagonal_rule(i, 0) = r.y_jac(i, 0) * (1 - r.y_jac(i, 0));
        }
        // Target ⟨0,0,1⟩: dC/dy from the graph, then the full Jacobian (backward) or its diagonal alone.
        const xgrad::matrix<double> T{{0.0}, {0.0}, {1.0}};
        g.zero_grad();
        auto C = xgrad::cross_entropy(Y, g.constant(T));
        g.backward(C);
        r.dz_full = z.grad();
        r.dz_diagonal_only = Y.grad() * r.diagonal_rule + 0.0;  // + 0.0 turns −0 into 0
    }
    {  // the notes' formula: e^{z_i} over Σ_j e^{z_i} = e^{z_i} over n·e^{z_i}
        xgrad::graph<double> g;
        auto z = g.constant(r.z_jac, "z");
        auto e = xgrad::exp(z);
        r.notes_softmax = (e / (3.0 * e)).value();
    }
    {  // |dC/dz| = |σ(z) − 1| over a sweep of logits (m columns: the loss averages, so scale by m)
        const std::size_t m = 601;
        xgrad::matrix<double> zs({1, m}), ones({1, m}, 1.0);
        for (std::size_t j = 0; j < m; ++j) zs(0, j) = -30.0 + 0.1 * static_cast<double>(j);
        xgrad::graph<double> g;
        auto z = g.variable(zs);
        g.backward(xgrad::bce_with_logits(z, g.constant(ones)));
        for (std::size_t j = 0; j < m; ++j)
            r.largest_slope = std::max(r.largest_slope, std::abs(z.grad()(0, j)) * static_cast<double>(m));
    }

    const auto& b = r.billionth;
    auto& C = r.claims;
    C.push_back({"squared error, logistic unit, t = 1, y = 1e-9", "almost no gradient dE/dz",
                 fmt::format("dE/dz = {:.3g}", b.dE_dz), std::abs(b.dE_dz) < 1e-8});
    C.push_back({"  … though the error is nearly as big as it gets", "dE/dy ≈ −1",
                 fmt::format("dE/dy = {:.9f}", b.dE_dy), std::abs(b.dE_dy + 1) < 1e-8});
    C.push_back({"cross-entropy, the same unit", "dC/dz = y − t ≈ −1",
                 fmt::format("dC/dz = {:.9f} (fused: {:.9f})", b.dC_dz, b.dC_dz_fused),
                 std::abs(b.dC_dz - (b.y - 1)) < 1e-6 && std::abs(b.dC_dz_fused - (b.y - 1)) < 1e-15});
    C.push_back({"  steep dC/dy balances flat dy/dz", "(−1/y)·y(1 − y) = y − 1",
                 fmt::format("dC/dy = {:.4g}, dy/dz = {:.4g}", b.dC_dy, b.y * (1 - b.y)),
                 std::abs(b.dC_dy * b.y * (1 - b.y) - (b.y - 1)) < 1e-6});
    C.push_back({"the notes' y = 0.00000001 (= 1e-8, not 1e-9)", "almost no gradient",
                 fmt::format("dE/dz = {:.3g}, dC/dz = {:.9f}", r.notes_case.dE_dz, r.notes_case.dC_dz),
                 std::abs(r.notes_case.dE_dz) < 1e-7});
    C.push_back(
        {"softmax group of 3, correct unit y₁ = 1e-9", "∂C/∂zᵢ = yᵢ − tᵢ",
         fmt::format("dC/dz = [{:.9f}, {:.6f}, {:.6f}]", r.dC_dz(0, 0), r.dC_dz(1, 0), r.dC_dz(2, 0)),
         std::abs(r.dC_dz(0, 0) - (r.y3(0, 0) - 1)) < 1e-6 && std::abs(r.dC_dz(1, 0) - r.y3(1, 0)) < 1e-12});
    C.push_back({"  squared error on the same softmax", "(no claim; for contrast)",
                 fmt::format("dE/dz₁ = {:.3g}", r.dE_dz(0, 0)), std::abs(r.dE_dz(0, 0)) < 1e-8});
    C.push_back({"one in a million vs one in a billion", "much better, though < 1e-6 apart",
                 fmt::format("C = {:.4f} vs {:.4f}", r.cost_million, r.cost_billion),
                 r.cost_billion - r.cost_million > 6});
    C.push_back({"slope of C in z never exceeds 1", "|y − t| ≤ 1",
                 fmt::format("largest |dC/dz| for z in [−30, 30]: {:.12f}", r.largest_slope),
                 r.largest_slope <= 1});
    {  // the Jacobian from backward against yᵢ(δᵢⱼ − yⱼ): the lecture's formula is its diagonal
        double diag = 0, off = 0, off_size = 0;
        for (std::size_t i = 0; i < 3; ++i) {
            for (std::size_t j = 0; j < 3; ++j) {
                const double yi = r.y_jac(i, 0), yj = r.y_jac(j, 0);
                if (i == j) {
                    diag = std::max(diag, std::abs(r.jacobian(i, j) - r.diagonal_rule(i, 0)));
                } else {
                    off = std::max(off, std::abs(r.jacobian(i, j) + yi * yj));
                    off_size = std::max(off_size, std::abs(r.jacobian(i, j)));
                }
            }
        }
        C.push_back({"∂yᵢ/∂zᵢ = yᵢ(1 − yᵢ)", "the derivative of a softmax unit",
                     fmt::format("the diagonal (to {:.0e}); off it −yᵢyⱼ, up to {:.4f}",
                                 std::max(diag, 1e-17), off_size),
                     diag < 1e-15 && off < 1e-15 && off_size > 0.01});
    }
    return r;
}

inline void print(std::FILE* out, const hinton_example& r) {
    fmt::print(out, "Hinton's argument (seed 000): target 1, output one billionth, on the graph\n\n");
    fmt::print(out, "  {}{}{}{}\n", padded("", 50), padded("the lecture says", 34),
               padded("the graph computes", 54), "");
    for (const auto& c : r.claims) {
        fmt::print(out, "  {}{}{}{}\n", padded(c.what, 50), padded(c.lecture, 34), padded(c.computed, 54),
                   c.holds ? "holds" : "DOES NOT HOLD");
    }
    const auto& b = r.billionth;
    fmt::print(
        out,
        "\n  The logistic unit's logit is z = {:.4f}; σ(z) = {:.3g}. Squared error multiplies dE/dy ≈ −1 by "
        "dy/dz = y(1 − y) ≈ {:.3g},\n  so the weights barely move. Cross-entropy's dC/dy = −1/y = {:.4g} "
        "cancels that flatness: dC/dz = y − t = {:.9f}.\n",
        b.z, b.y, b.y * (1 - b.y), b.dC_dy, b.dC_dz);
    fmt::print(out,
               "\n  The softmax Jacobian at z = [6, −2, 3] (row i: ∂yᵢ/∂z, from backward with seed eᵢ):\n");
    for (std::size_t i = 0; i < 3; ++i) {
        fmt::print(out, "    [{:>11.6f} {:>11.6f} {:>11.6f}]    yᵢ(1 − yᵢ) = {:.6f}\n", r.jacobian(i, 0),
                   r.jacobian(i, 1), r.jacobian(i, 2), r.diagonal_rule(i, 0));
    }
    fmt::print(
        out,
        "  The lecture's yᵢ(1 − yᵢ) is the diagonal. With target ⟨0,0,1⟩ the full product gives dC/dz = "
        "[{:.6f}, {:.6f}, {:.6f}] = y − t;\n  the diagonal alone would give [{:.6f}, {:.6f}, {:.6f}] — no "
        "push down on the wrong classes.\n",
        r.dz_full(0, 0), r.dz_full(1, 0), r.dz_full(2, 0), r.dz_diagonal_only(0, 0), r.dz_diagonal_only(1, 0),
        r.dz_diagonal_only(2, 0));
    fmt::print(
        out,
        "\n  The notes (seed 001) print the softmax denominator as Σⱼ e^(zᵢ). Taken literally that is "
        "n·e^(zᵢ), "
        "and every\n  output is [{:.4f}, {:.4f}, {:.4f}] whatever the logits; the denominator must be Σⱼ "
        "e^(zⱼ).\n",
        r.notes_softmax(0, 0), r.notes_softmax(1, 0), r.notes_softmax(2, 0));
}

}  // namespace lecture
