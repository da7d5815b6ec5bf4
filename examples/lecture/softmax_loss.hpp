// Seed 002, "Softmax Activation Layer" and "Loss Function for Softmax": the softmax of A[2] = [6, −2, 3] in
// the slide's two steps (t = e^A, H = t/Σt) and as one op, then the cross-entropy for the targets ⟨1,0,0⟩
// and ⟨0,0,1⟩, recomputed on the graph and set beside the slide's figures.
#pragma once

#include <cmath>
#include <cstdio>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "figures.hpp"

namespace lecture {

struct softmax_example {
    xgrad::matrix<double> A2{{6.0}, {-2.0}, {3.0}};  // the slide's pre-activations, one example (a column)
    xgrad::matrix<double> T1{{1.0}, {0.0}, {0.0}};   // target ⟨1,0,0⟩
    xgrad::matrix<double> T3{{0.0}, {0.0}, {1.0}};   // target ⟨0,0,1⟩
    // The slide's own rounded figures, used to redo its last steps (given, not computed here).
    xgrad::matrix<double> t_slide{{403.4}, {0.135}, {20.0}};
    xgrad::matrix<double> H_slide{{0.952}, {0.00037}, {0.048}};

    // Computed by the graph.
    xgrad::matrix<double> t;              // e^A2
    double sum_t = 0;                     // Σ t
    xgrad::matrix<double> H;              // t / Σt   (the slide's two steps)
    xgrad::matrix<double> H_op;           // softmax(A2) (the op: subtracts the max first)
    double sum_H = 0;                     // Σ H
    double sum_t_slide = 0;               // 403.4 + 0.135 + 20.0: the slide's Σt from its rounded terms
    double sum_H_slide = 0;               // 0.952 + 0.00037 + 0.048
    double ce1 = 0, ce3 = 0;              // softmax_cross_entropy(A2, T): −ln h of the target class
    double ce1_log10 = 0, ce3_log10 = 0;  // the same in base 10: −log₁₀ h
    double slide_h1_ln = 0, slide_h1_log10 = 0;  // −ln 0.952, −log₁₀ 0.952 (the slide's rounded h)
    double slide_h3_ln = 0, slide_h3_log10 = 0;  // −ln 0.048, −log₁₀ 0.048
    xgrad::matrix<double> dA2_1, dA2_3;          // the graph's dL/dA2 for each target: H − T
    std::vector<figure> figures;
};

inline softmax_example run_softmax_example() {
    softmax_example r;
    xgrad::graph<double> g;
    auto A2 = g.variable(r.A2, "A2");
    auto t = xgrad::exp(A2).named("t");          // t = e^A[2]
    auto St = xgrad::sum(t).named("Σt");         // Σ t
    auto H = (t / St).named("H2");               // H[2] = t / Σt   (Σt [1×1] broadcasts)
    auto H_op = xgrad::softmax(A2).named("H2");  // the op
    r.t = t.value();
    r.sum_t = St.item();
    r.H = H.value();
    r.H_op = H_op.value();
    r.sum_H = xgrad::sum(H_op).item();
    r.sum_t_slide = xgrad::sum(g.constant(r.t_slide)).item();
    r.sum_H_slide = xgrad::sum(g.constant(r.H_slide)).item();

    // L = −Σ y log h, fused with the softmax (natural log), and its gradient dL/dA2 = H − T.
    auto T1 = g.constant(r.T1, "T"), T3 = g.constant(r.T3, "T");
    auto L1 = xgrad::softmax_cross_entropy(A2, T1).named("L");
    g.backward(L1);
    r.ce1 = L1.item();
    r.dA2_1 = A2.grad();
    g.zero_grad();
    auto L3 = xgrad::softmax_cross_entropy(A2, T3).named("L");
    g.backward(L3);
    r.ce3 = L3.item();
    r.dA2_3 = A2.grad();
    // Base 10: log₁₀ h = ln h / ln 10.
    const double ln10 = std::log(10.0);
    r.ce1_log10 = (L1 / ln10).item();
    r.ce3_log10 = (L3 / ln10).item();
    // The slide's rounded probabilities through −log, both bases.
    xgrad::matrix<double> h1{{0.952}}, h3{{0.048}};
    auto lh1 = -xgrad::log(g.constant(h1)), lh3 = -xgrad::log(g.constant(h3));
    r.slide_h1_ln = lh1.item();
    r.slide_h3_ln = lh3.item();
    r.slide_h1_log10 = (lh1 / ln10).item();
    r.slide_h3_log10 = (lh3 / ln10).item();

    auto& F = r.figures;
    F.push_back(check("t₁ = e^6", "403.4", r.t(0, 0)));
    F.push_back(check("t₂ = e^−2", "0.135", r.t(1, 0)));
    F.push_back(check("t₃ = e^3", "20.0", r.t(2, 0),
                      fmt::format("e³ = {:.4f}: cut off after one decimal, not rounded", r.t(2, 0))));
    F.push_back(
        check("Σt", "423.5", r.sum_t,
              fmt::format("the slide added its own rounded terms (403.4 + 0.135 + 20.0 = {:.3f}); the "
                          "exact sum is {:.3f}",
                          r.sum_t_slide, r.sum_t)));
    F.push_back(check("H₁ = t₁/Σt", "0.952", r.H(0, 0)));
    F.push_back(
        check("H₂ = t₂/Σt", "0.00037", r.H(1, 0),
              fmt::format("e^−2/Σt = {:.4g}; even the slide's 0.135/423.5 is {:.4g}: 0.00037 is a digit "
                          "slip for 0.00032",
                          r.H(1, 0), 0.135 / 423.5)));
    F.push_back(
        check("H₃ = t₃/Σt", "0.048", r.H(2, 0),
              fmt::format("e³/Σt = {:.5f} (the slide's own 20.0/423.5 = {:.5f}); 0.048 looks like 1 − 0.952",
                          r.H(2, 0), 20.0 / 423.5)));
    F.push_back(check("the outputs sum to 1", "1", r.sum_H));
    F.push_back(
        check("L for ⟨1,0,0⟩: −log(0.952)", "-0.021", r.ce1,
              fmt::format("a loss is never negative: −log h > 0 for h < 1. The slide used log base 10 "
                          "(−log₁₀ 0.952 = {:.4f}) and lost the minus sign; with the natural log of the "
                          "graph it is −ln {:.4f} = {:.4f} (−ln 0.952 = {:.4f})",
                          r.slide_h1_log10, r.H(0, 0), r.ce1, r.slide_h1_ln)));
    F.push_back(check("   −log₁₀(0.952), the slide's base", "-0.021", r.slide_h1_log10,
                      "the size matches base 10; the sign is wrong"));
    F.push_back(check("L for ⟨0,0,1⟩: −log(0.048)", "1.31", r.ce3,
                      fmt::format("base 10 again (−log₁₀ 0.048 = {:.4f}); the natural log gives −ln 0.048 = "
                                  "{:.4f}, and from the exact H₃ {:.4f}",
                                  r.slide_h3_log10, r.slide_h3_ln, r.ce3)));
    F.push_back(check("   −log₁₀(0.048), the slide's base", "1.31", r.slide_h3_log10,
                      "cut off instead of rounded, as with σ(0.52) and e³"));
    return r;
}

inline void print(std::FILE* out, const softmax_example& r) {
    auto col = [](const xgrad::matrix<double>& m) {
        std::string s = "[";
        for (std::size_t k = 0; k < m.size(); ++k) s += fmt::format("{}{:.6g}", k ? ", " : "", m.data()[k]);
        return s + "]";
    };
    fmt::print(out, "Softmax of A[2] = [6, −2, 3] (seed 002), on the graph:\n");
    fmt::print(out, "  t = exp(A2) = {}\n  Σt = {:.4f}\n  H2 = t/Σt = {}\n  softmax(A2) (the op) = {}\n\n",
               col(r.t), r.sum_t, col(r.H), col(r.H_op));
    print_figures(out, r.figures);
    fmt::print(out, "\n  {} figures checked: {} agree, {} agree only if cut off, {} differ.\n",
               r.figures.size(), count(r.figures, verdict::agrees), count(r.figures, verdict::truncated),
               count(r.figures, verdict::differs));
    fmt::print(out, "  (The slide's printed outputs 0.952 + 0.00037 + 0.048 add up to {:.5f}.)\n",
               r.sum_H_slide);
    fmt::print(out,
               "\n  The graph's gradient of the loss, dL/dA2 — softmax and cross-entropy fused, y − t:\n");
    fmt::print(out, "    target ⟨1,0,0⟩: dA2 = {}   (H2 − T = {})\n", col(r.dA2_1), col(r.H_op - r.T1));
    fmt::print(out, "    target ⟨0,0,1⟩: dA2 = {}   (H2 − T = {})\n", col(r.dA2_3), col(r.H_op - r.T3));
}

}  // namespace lecture
