// The backward pass of seed 002's two-layer network, traced node by node, and its picture.
//   ./lecture_two_layer_trace [output directory]     writes two_layer.dot (and two_layer.svg with Graphviz)
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "app/graphviz.hpp"
#include "two_layer_trace.hpp"

int main(int argc, char** argv) {
    const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
    std::printf("The slide:   dA2 = H2 − Y      dW2 = (1/m)·dA2·H1ᵀ   db2 = (1/m)·Σ dA2\n");
    std::printf("             dA1 = W2ᵀ·dA2 ⊙ H1(1 − H1)   dW1 = (1/m)·dA1·Xᵀ   db1 = (1/m)·Σ dA1\n");
    std::printf(
        "(the graph's dA2 already carries the 1/m, because the loss averages over the m columns)\n\n");
    const auto r = lecture::run_traced_two_layer(stdout);
    std::printf("\nlargest difference between the graph's gradients and the slide's formulas: %.2e\n",
                r.slide_gap);
    std::filesystem::create_directories(dir);
    const auto dot_path = dir / "two_layer.dot", svg_path = dir / "two_layer.svg";
    std::ofstream(dot_path) << r.dot;
    if (xgrad::render_dot(dot_path, svg_path)) {
        std::printf("wrote %s and %s\n", dot_path.c_str(), svg_path.c_str());
    } else {
        std::printf("wrote %s (install Graphviz to get %s: apt-get install graphviz)\n", dot_path.c_str(),
                    svg_path.c_str());
    }
    return r.slide_gap < 1e-12 ? 0 : 1;
}
