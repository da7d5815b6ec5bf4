// One convolution or pooling op described by a text file: forward, backward from a given seed, and the output
// and every gradient printed at full precision.
//
// Written only against the public header <xgrad/xgrad.hpp>; tests/torch/check_conv_against_torch.py feeds it
// random geometries and compares what it prints with PyTorch (float64).
//
//   usage: conv_gradients INPUT_FILE        (prints to stdout; exit 0 ok, 1 bad input, 2 xgrad error)
//
// Layout (the lecture's, CHWN): a batch of m images of shape C×H×W is X [C·H·W × m], pixel (c, y, x) of
// example n at row (c·H + y)·W + x, column n. The op's output Y is seeded with R (Y's shape): backward
// computes the gradients of L = Σ R ⊙ Y.
//
// INPUT FORMAT — whitespace-separated tokens:
//   op NAME                     conv2d | max_pool2d | avg_pool2d | global_avg_pool
//   image C H W
//   window kh kw sh sw ph pw dh dw      (not for global_avg_pool)
//   matrix NAME rows cols v…    row-major. Needed: X, R; for conv2d also W [K × C·kh·kw] and b [K × 1]
//
// OUTPUT FORMAT — `matrix NAME rows cols v…` for Y, dX and (conv2d) dW, db, every number with %.17g.
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace {

using mat = xgrad::matrix<double>;

struct bad_input : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::size_t count(std::istream& in, const char* what) {
    long long v = -1;
    if (!(in >> v) || v < 0) throw bad_input(std::string("expected ") + what);
    return static_cast<std::size_t>(v);
}

void print(const char* name, const mat& m) {
    std::printf("matrix %s %zu %zu\n", name, m.shape()[0], m.shape()[1]);
    for (std::size_t i = 0; i < m.shape()[0]; ++i) {
        for (std::size_t j = 0; j < m.shape()[1]; ++j) std::printf("%s%.17g", j ? " " : "", m(i, j));
        std::printf("\n");
    }
}

int run(const char* path) {
    std::ifstream file(path);
    if (!file) throw bad_input(std::string("cannot open ") + path);
    std::string op;
    xgrad::image_shape in;
    xgrad::window2d win;
    std::map<std::string, mat> m;
    for (std::string key; file >> key;) {
        if (key == "op") {
            file >> op;
        } else if (key == "image") {
            in = {count(file, "C"), count(file, "H"), count(file, "W")};
        } else if (key == "window") {
            win = {count(file, "kh"), count(file, "kw"), count(file, "sh"), count(file, "sw"),
                   count(file, "ph"), count(file, "pw"), count(file, "dh"), count(file, "dw")};
        } else if (key == "matrix") {
            std::string name;
            file >> name;
            const std::size_t r = count(file, "rows"), c = count(file, "cols");
            mat v({r, c});
            for (auto& e : v) {
                if (!(file >> e)) throw bad_input("matrix " + name + ": too few numbers");
            }
            m[name] = v;
        } else {
            throw bad_input("unknown statement '" + key + "'");
        }
    }
    const auto need = [&](const char* name) -> const mat& {
        auto it = m.find(name);
        if (it == m.end()) throw bad_input(std::string("missing matrix ") + name);
        return it->second;
    };
    xgrad::graph<double> g;
    auto x = g.variable(need("X"), "X");
    if (op == "conv2d") {
        auto w = g.variable(need("W"), "W"), b = g.variable(need("b"), "b");
        auto y = xgrad::conv2d(w, x, b, in, win);
        g.backward(y, need("R"));
        print("Y", y.value());
        print("dX", x.grad());
        print("dW", w.grad());
        print("db", b.grad());
        return 0;
    }
    xgrad::var<double> y;
    if (op == "max_pool2d") {
        y = xgrad::max_pool2d(x, in, win);
    } else if (op == "avg_pool2d") {
        y = xgrad::avg_pool2d(x, in, win);
    } else if (op == "global_avg_pool") {
        y = xgrad::global_avg_pool(x, in);
    } else {
        throw bad_input("unknown op '" + op + "'");
    }
    g.backward(y, need("R"));
    print("Y", y.value());
    print("dX", x.grad());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: conv_gradients INPUT_FILE\n");
        return 1;
    }
    try {
        return run(argv[1]);
    } catch (const bad_input& e) {
        std::fprintf(stderr, "conv_gradients: bad input: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "conv_gradients: %s\n", e.what());
        return 2;
    }
}
