// The xgrad side of tests/torch/check_norm_against_torch.py: reads cases (embedding, batch_norm,
// layer_norm) with their inputs and an output gradient dY, runs forward and backward in double, and writes
// the output, the gradients and (for batch_norm in training) the updated running statistics.
//
//   norm_ops_driver IN OUT
//
// IN: one case after another, each a header line and then one line of numbers per matrix, row-major:
//   embedding d V m            E [d×V], ids [1×m], dY [d×m]           → Y, dE
//   batch_norm n m C training  X [n×m], γ, β, r_μ, r_σ² [C'×1], dY    → Y, dX, dγ, dβ, r_μ, r_σ²
//                              (C = 0: per row, C' = n; C > 0: per channel, C' = C)
//   layer_norm d m             X [d×m], γ, β [d×1], dY                → Y, dX, dγ, dβ
// OUT: per case, one line per result matrix (row-major, %.17g).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace {

using xgrad::matrix;

matrix<double> read_matrix(std::istream& in, std::size_t r, std::size_t c) {
    matrix<double> m({r, c});
    for (auto& v : m) {
        if (!(in >> v)) throw std::runtime_error("norm_ops_driver: input ends early");
    }
    return m;
}

void write_matrix(std::ostream& out, const matrix<double>& m) {
    char buf[32];
    for (std::size_t k = 0; k < m.size(); ++k) {
        std::snprintf(buf, sizeof buf, "%.17g", m.data()[k]);
        out << (k ? " " : "") << buf;
    }
    out << "\n";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: norm_ops_driver IN OUT\n";
        return 2;
    }
    try {
        std::ifstream in(argv[1]);
        std::ofstream out(argv[2]);
        std::string kind;
        while (in >> kind) {
            xgrad::graph<double> g;
            if (kind == "embedding") {
                std::size_t d = 0, vocab = 0, m = 0;
                in >> d >> vocab >> m;
                const auto e = g.variable(read_matrix(in, d, vocab));
                const auto ids = g.constant(read_matrix(in, 1, m));
                const matrix<double> dy = read_matrix(in, d, m);
                const auto y = xgrad::embedding(e, ids);
                g.backward(y, dy);
                write_matrix(out, y.value());
                write_matrix(out, g.grad_of(e.id()));
            } else if (kind == "batch_norm") {
                std::size_t n = 0, m = 0, channels = 0;
                int training = 1;
                in >> n >> m >> channels >> training;
                const std::size_t c = channels == 0 ? n : channels;
                const auto x = g.variable(read_matrix(in, n, m));
                const auto gamma = g.variable(read_matrix(in, c, 1));
                const auto beta = g.variable(read_matrix(in, c, 1));
                matrix<double> rm = read_matrix(in, c, 1), rv = read_matrix(in, c, 1);
                const matrix<double> dy = read_matrix(in, n, m);
                xgrad::batch_norm_options o;
                o.channels = channels;
                o.training = training != 0;
                const auto y = xgrad::batch_norm(x, gamma, beta, &rm, &rv, o);
                g.backward(y, dy);
                write_matrix(out, y.value());
                write_matrix(out, g.grad_of(x.id()));
                write_matrix(out, g.grad_of(gamma.id()));
                write_matrix(out, g.grad_of(beta.id()));
                write_matrix(out, rm);
                write_matrix(out, rv);
            } else if (kind == "layer_norm") {
                std::size_t d = 0, m = 0;
                in >> d >> m;
                const auto x = g.variable(read_matrix(in, d, m));
                const auto gamma = g.variable(read_matrix(in, d, 1));
                const auto beta = g.variable(read_matrix(in, d, 1));
                const matrix<double> dy = read_matrix(in, d, m);
                const auto y = xgrad::layer_norm(x, gamma, beta);
                g.backward(y, dy);
                write_matrix(out, y.value());
                write_matrix(out, g.grad_of(x.id()));
                write_matrix(out, g.grad_of(gamma.id()));
                write_matrix(out, g.grad_of(beta.id()));
            } else {
                throw std::runtime_error("norm_ops_driver: unknown case '" + kind + "'");
            }
        }
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    return 0;
}
