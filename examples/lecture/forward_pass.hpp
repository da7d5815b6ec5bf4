// Seed 002, "Neural Networks": one example ⟨0.2, 0.5, −0.9⟩ pushed through three sigmoid neurons (bias 0.1
// each, the slide's weights) and the output neuron, recomputed on the graph and set beside the slide.
#pragma once

#include <cstdio>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "figures.hpp"

namespace lecture {

struct forward_pass {
    // The slide's inputs (given, not computed).
    xgrad::matrix<double> X{{0.2}, {0.5}, {-0.9}};                                // one example, a column
    xgrad::matrix<double> W1{{1.2, 0.9, 0.3}, {0.2, 0.3, 0.1}, {1.3, 1.9, 0.1}};  // one row per neuron
    xgrad::matrix<double> b1{{0.1}, {0.1}, {0.1}};
    xgrad::matrix<double> W2{{0.2, 0.6, 0.2}};
    xgrad::matrix<double> b2{{0.1}};
    // The slide's printed hidden outputs, fed to the output neuron to redo the slide's last step.
    xgrad::matrix<double> H1_slide{{0.62}, {0.63}, {0.77}};

    // Computed by the graph.
    xgrad::matrix<double> A1, H1;  // [3×1]
    double a2 = 0, h2 = 0;         // the output neuron
    double a2_slide_chain = 0;     // W2·H1_slide + b2
    double h2_slide_chain = 0;     // σ of that
    double sigma_of_055 = 0;       // σ(0.55): the slide's step for neuron 2
    double sigma_twice = 0;        // σ(σ(a of neuron 2))
    std::vector<figure> figures;
};

inline forward_pass run_forward_pass() {
    using xgrad::add_bias, xgrad::matmul, xgrad::sigmoid;
    forward_pass r;
    xgrad::graph<double> g;
    auto X = g.constant(r.X, "X");
    auto W1 = g.constant(r.W1, "W1"), b1 = g.constant(r.b1, "b1");
    auto W2 = g.constant(r.W2, "W2"), b2 = g.constant(r.b2, "b2");
    auto A1 = add_bias(matmul(W1, X), b1).named("A1");   // A[1] = W[1]·x + b[1]
    auto H1 = sigmoid(A1).named("H1");                   // H[1] = σ(A[1])
    auto A2 = add_bias(matmul(W2, H1), b2).named("A2");  // A[2] = W[2]·H[1] + b[2]
    auto H2 = sigmoid(A2).named("H2");                   // H[2] = σ(A[2])
    r.A1 = A1.value();
    r.H1 = H1.value();
    r.a2 = A2.item();
    r.h2 = H2.item();

    // The slide's own last step, from its printed hidden outputs.
    auto Hs = g.constant(r.H1_slide, "H1 (slide)");
    auto A2s = add_bias(matmul(W2, Hs), b2);
    r.a2_slide_chain = A2s.item();
    r.h2_slide_chain = sigmoid(A2s).item();
    xgrad::matrix<double> s055{{0.55}};
    r.sigma_of_055 = sigmoid(g.constant(s055)).item();
    xgrad::matrix<double> a12{{r.A1(1, 0)}};
    r.sigma_twice = sigmoid(sigmoid(g.constant(a12))).item();

    // The weighted sums as the slide writes them, with this example's numbers.
    auto sum_text = [&](const xgrad::matrix<double>& w, std::size_t row, const xgrad::matrix<double>& x) {
        std::string s;
        for (std::size_t k = 0; k < w.shape()[1]; ++k)
            s += fmt::format("{}({:g}·{:g})", k ? "+" : "", x(k, 0), w(row, k));
        return s + "+0.1";
    };
    auto& F = r.figures;
    F.push_back(check("neuron 1: " + sum_text(r.W1, 0, r.X), "0.52", r.A1(0, 0)));
    F.push_back(
        check("neuron 1: sigmoid(0.52)", "0.62", r.H1(0, 0),
              fmt::format("σ(0.52) = {:.5f}; the slide cut it off after two decimals instead of rounding",
                          r.H1(0, 0))));
    {
        std::string terms;
        for (std::size_t k = 0; k < 3; ++k) terms += fmt::format("{:+g} ", r.W1(1, k) * r.X(k, 0));
        F.push_back(
            check("neuron 2: " + sum_text(r.W1, 1, r.X), "0.55", r.A1(1, 0),
                  fmt::format("the terms are {}{:+g} = {:.4g}; 0.55 is σ({:.4g}) = {:.5f}, the neuron's "
                              "output, written where its weighted sum belongs",
                              terms, r.b1(1, 0), r.A1(1, 0), r.A1(1, 0), r.H1(1, 0))));
    }
    F.push_back(check("neuron 2: the slide's step sigmoid(0.55)", "0.63", r.sigma_of_055));
    F.push_back(check("neuron 2: its output σ(a)", "0.63", r.H1(1, 0),
                      fmt::format("0.63 is σ(0.55) = σ(σ({:.4g})) = {:.5f}: the sigmoid applied twice; the "
                                  "neuron's output is σ({:.4g}) = {:.5f}",
                                  r.A1(1, 0), r.sigma_twice, r.A1(1, 0), r.H1(1, 0))));
    F.push_back(check("neuron 3: " + sum_text(r.W1, 2, r.X), "1.22", r.A1(2, 0)));
    F.push_back(check("neuron 3: sigmoid(1.22)", "0.77", r.H1(2, 0)));
    F.push_back(check("output, from the slide's 0.62, 0.63, 0.77", "0.756", r.a2_slide_chain));
    F.push_back(check("output, from the slide's: sigmoid(0.756)", "0.68", r.h2_slide_chain));
    F.push_back(check("output, from the computed hidden outputs", "0.756", r.a2,
                      fmt::format("with neuron 2's true output {:.5f} (not 0.63) and neuron 1's {:.5f} (not "
                                  "0.62) the weighted sum is {:.5f}",
                                  r.H1(1, 0), r.H1(0, 0), r.a2)));
    F.push_back(
        check("output neuron: sigmoid(a)", "0.68", r.h2,
              fmt::format("σ({:.5f}) = {:.5f}: the network's true output; the slide's 0.68 carries neuron "
                          "2's double sigmoid",
                          r.a2, r.h2)));
    return r;
}

inline void print(std::FILE* out, const forward_pass& r) {
    fmt::print(
        out,
        "The forward pass of seed 002: x = ⟨0.2, 0.5, −0.9⟩, bias 0.1 everywhere, the slide's weights\n");
    fmt::print(
        out,
        "  A1 = W1·x + b1, H1 = σ(A1), a2 = W2·H1 + b2, h2 = σ(a2)   (W1 [3×3], one row per neuron)\n\n");
    print_figures(out, r.figures);
    fmt::print(out, "\n  {} figures checked: {} agree, {} agree only if cut off, {} differ.\n",
               r.figures.size(), count(r.figures, verdict::agrees), count(r.figures, verdict::truncated),
               count(r.figures, verdict::differs));
    fmt::print(out,
               "  The slide's arithmetic from its own numbers is right (its 0.756 and 0.68 follow from 0.62, "
               "0.63, 0.77);\n  the slip is neuron 2, whose weighted sum {:.4g} was replaced by its sigmoid, "
               "which was then put\n  through the sigmoid again. The network's output is {:.4f}, not 0.68.\n",
               r.A1(1, 0), r.h2);
}

}  // namespace lecture
