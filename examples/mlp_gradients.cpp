// An MLP described by a text file: forward, loss, backward, and every gradient printed at full precision.
//
// Written only against the public header <xgrad/xgrad.hpp>; tests/torch/check_mlp_against_torch.py
// feeds it random networks and compares what it prints with PyTorch (float64).
//
//   usage: mlp_gradients INPUT_FILE        (prints to stdout; exit 0 ok, 1 bad input, 2 xgrad error)
//
// Network (the lecture's layout: examples are columns):
//   H[0] = X                                   X is n0×m
//   A[l] = W[l]·H[l−1] + b[l]                  W[l] is n_l×n_(l−1), b[l] is n_l×1     (l = 1 … L)
//   H[l] = act_l(A[l])                         for the hidden layers l = 1 … L−1
//   loss on A[L]:  softmax_cross_entropy(A[L], labels)   Y is 1×m, integer class labels in [0, n_L)
//                  bce_with_logits(A[L], Y)               Y is n_L×m, values in [0, 1]
//                  mse(out(A[L]), Y)                      Y is n_L×m; C = (1/(2m)) Σ (H − Y)²
//
// INPUT FORMAT — whitespace-separated tokens; '#' starts a comment that runs to the end of the line.
// Statements, in any order except that `layers` must come before `activations`:
//   layers n0 n1 … nL           layer sizes: input features, hidden layers, outputs (L ≥ 1)
//   activations a1 … a(L−1)     one per hidden layer (none when L = 1): sigmoid tanh relu selu,
//                               leaky_relu[:f] (default f = 0.01), elu[:alpha] (default alpha = 1)
//   output NAME                 optional, only for mse: activation on A[L] (default identity)
//   loss NAME                   softmax_cross_entropy | bce_with_logits | mse
//   matrix NAME rows cols v…    rows·cols numbers, row-major. Needed: X, Y, W1 … WL, b1 … bL
//
// OUTPUT FORMAT — the same language, every number printed with %.17g (round-trips a double):
//   loss VALUE
//   matrix dW1 rows cols v…     then db1, dW2, db2, … dWL, dbL (one matrix row per line)
//
// Example input (2 → 3 → 2, tanh, one example):
//   layers 2 3 2
//   activations tanh
//   loss softmax_cross_entropy
//   matrix X 2 1   0.5 -1
//   matrix Y 1 1   1
//   matrix W1 3 2  0.1 0.2  0.3 0.4  0.5 0.6
//   matrix b1 3 1  0 0 0
//   matrix W2 2 3  1 0 -1  0 1 0
//   matrix b2 2 1  0 0
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace {

using xgrad::matrix;
using mat = matrix<double>;
using vard = xgrad::var<double>;

struct bad_input : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Splits the file into tokens, dropping '#' comments.
std::vector<std::string> tokenize(std::istream& in) {
    std::vector<std::string> tokens;
    std::string line;
    while (std::getline(in, line)) {
        if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        std::istringstream words(line);
        for (std::string w; words >> w;) tokens.push_back(w);
    }
    return tokens;
}

class reader {
public:
    explicit reader(std::vector<std::string> tokens) : m_tokens(std::move(tokens)) {}
    bool done() const { return m_pos >= m_tokens.size(); }
    const std::string& peek() const { return m_tokens[m_pos]; }
    std::string word(const char* what) {
        if (done()) throw bad_input(std::string("unexpected end of input, expected ") + what);
        return m_tokens[m_pos++];
    }
    double number(const char* what) {
        const std::string w = word(what);
        char* end = nullptr;
        const double v = std::strtod(w.c_str(), &end);
        if (end == w.c_str() || *end != '\0')
            throw bad_input("expected " + std::string(what) + ", got '" + w + "'");
        return v;
    }
    std::size_t count(const char* what) {
        const double v = number(what);
        if (v < 1 || v != static_cast<double>(static_cast<std::size_t>(v)))
            throw bad_input(std::string(what) + " must be a positive integer");
        return static_cast<std::size_t>(v);
    }

private:
    std::vector<std::string> m_tokens;
    std::size_t m_pos = 0;
};

/// An activation name with its optional parameter: "leaky_relu:0.2", "elu:0.5", "tanh".
struct activation {
    std::string name;
    double param = 0;
};

activation parse_activation(const std::string& token, bool allow_identity) {
    activation a;
    const auto colon = token.find(':');
    a.name = token.substr(0, colon);
    const bool has_param = colon != std::string::npos;
    if (a.name == "leaky_relu" || a.name == "elu") {
        a.param = a.name == "elu" ? 1.0 : 0.01;
        if (has_param) {
            const std::string p = token.substr(colon + 1);
            char* end = nullptr;
            a.param = std::strtod(p.c_str(), &end);
            if (end == p.c_str() || *end != '\0')
                throw bad_input("bad parameter in activation '" + token + "'");
        }
        return a;
    }
    const bool known = a.name == "sigmoid" || a.name == "tanh" || a.name == "relu" || a.name == "selu" ||
                       (allow_identity && a.name == "identity");
    if (!known) throw bad_input("unknown activation '" + token + "'");
    if (has_param) throw bad_input("activation '" + a.name + "' takes no parameter");
    return a;
}

vard apply(const activation& a, const vard& x) {
    if (a.name == "sigmoid") return xgrad::sigmoid(x);
    if (a.name == "tanh") return xgrad::tanh(x);
    if (a.name == "relu") return xgrad::relu(x);
    if (a.name == "leaky_relu") return xgrad::leaky_relu(x, a.param);
    if (a.name == "elu") return xgrad::elu(x, a.param);
    if (a.name == "selu") return xgrad::selu(x);
    return x;  // identity
}

struct problem {
    std::vector<std::size_t> sizes;
    std::vector<activation> hidden;
    activation output{"identity", 0};
    std::string loss;
    std::map<std::string, mat> matrices;
};

problem parse(reader& r) {
    problem p;
    bool have_activations = false;
    while (!r.done()) {
        const std::string key = r.word("a statement");
        if (key == "layers") {
            while (!r.done() && std::isdigit(static_cast<unsigned char>(r.peek()[0])))
                p.sizes.push_back(r.count("a layer size"));
            if (p.sizes.size() < 2) throw bad_input("layers needs at least two sizes (inputs and outputs)");
        } else if (key == "activations") {
            if (p.sizes.empty()) throw bad_input("'layers' must come before 'activations'");
            for (std::size_t l = 0; l + 2 < p.sizes.size(); ++l)
                p.hidden.push_back(parse_activation(r.word("an activation"), false));
            have_activations = true;
        } else if (key == "output") {
            p.output = parse_activation(r.word("an output activation"), true);
        } else if (key == "loss") {
            p.loss = r.word("a loss name");
            if (p.loss != "softmax_cross_entropy" && p.loss != "bce_with_logits" && p.loss != "mse")
                throw bad_input("unknown loss '" + p.loss + "'");
        } else if (key == "matrix") {
            const std::string name = r.word("a matrix name");
            const std::size_t rows = r.count("rows"), cols = r.count("cols");
            mat m({rows, cols});
            for (auto& v : m) v = r.number("a matrix entry");
            if (!p.matrices.emplace(name, std::move(m)).second)
                throw bad_input("matrix " + name + " given twice");
        } else {
            throw bad_input("unknown statement '" + key + "'");
        }
    }
    if (p.sizes.empty()) throw bad_input("missing 'layers'");
    if (p.loss.empty()) throw bad_input("missing 'loss'");
    if (!have_activations && p.sizes.size() > 2) throw bad_input("missing 'activations'");
    if (p.output.name != "identity" && p.loss != "mse") throw bad_input("'output' is only allowed with mse");

    auto need = [&](const std::string& name, std::size_t rows, std::size_t cols) {
        auto it = p.matrices.find(name);
        if (it == p.matrices.end()) throw bad_input("missing matrix " + name);
        const auto s = xgrad::shape_of(it->second);
        if (s[0] != rows || (cols != 0 && s[1] != cols))
            throw bad_input("matrix " + name + " is " + xgrad::to_string(s) + ", expected [" +
                            std::to_string(rows) + "×" + (cols ? std::to_string(cols) : "m") + "]");
        return s[1];
    };
    const std::size_t L = p.sizes.size() - 1;
    const std::size_t m = need("X", p.sizes[0], 0);
    need("Y", p.loss == "softmax_cross_entropy" ? 1 : p.sizes[L], m);
    for (std::size_t l = 1; l <= L; ++l) {
        need("W" + std::to_string(l), p.sizes[l], p.sizes[l - 1]);
        need("b" + std::to_string(l), p.sizes[l], 1);
    }
    return p;
}

void print_matrix(const std::string& name, const mat& m) {
    std::printf("matrix %s %zu %zu\n", name.c_str(), m.shape()[0], m.shape()[1]);
    for (std::size_t i = 0; i < m.shape()[0]; ++i) {
        for (std::size_t j = 0; j < m.shape()[1]; ++j) std::printf(j ? " %.17g" : "%.17g", m(i, j));
        std::printf("\n");
    }
}

int run(const problem& p) {
    const std::size_t L = p.sizes.size() - 1;
    std::vector<xgrad::parameter<double>> W, b;  // reserved up front: parameters must not move
    W.reserve(L);
    b.reserve(L);
    for (std::size_t l = 1; l <= L; ++l) {
        W.emplace_back(p.matrices.at("W" + std::to_string(l)), "W" + std::to_string(l));
        b.emplace_back(p.matrices.at("b" + std::to_string(l)), "b" + std::to_string(l));
    }

    xgrad::graph<double> g;
    vard h = g.constant(p.matrices.at("X"), "X");
    const vard y = g.constant(p.matrices.at("Y"), "Y");
    for (std::size_t l = 0; l < L; ++l) {
        const vard a = xgrad::add_bias(xgrad::matmul(g.param(W[l]), h), g.param(b[l]));
        h = l + 1 < L ? apply(p.hidden[l], a) : a;  // the output layer's A[L] goes to the loss
    }
    vard loss;
    if (p.loss == "softmax_cross_entropy")
        loss = xgrad::softmax_cross_entropy(h, y);
    else if (p.loss == "bce_with_logits")
        loss = xgrad::bce_with_logits(h, y);
    else
        loss = xgrad::mse(apply(p.output, h), y);
    g.backward(loss);

    std::printf("loss %.17g\n", loss.item());
    for (std::size_t l = 0; l < L; ++l) {
        print_matrix("d" + W[l].name(), W[l].grad());
        print_matrix("d" + b[l].name(), b[l].grad());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr,
                     "usage: %s INPUT_FILE\n(see the top of examples/mlp_gradients.cpp for the format)\n",
                     argv[0]);
        return 1;
    }
    std::ifstream in(argv[1]);
    if (!in) {
        std::fprintf(stderr, "mlp_gradients: cannot open '%s'\n", argv[1]);
        return 1;
    }
    problem p;
    try {
        reader r(tokenize(in));
        p = parse(r);
    } catch (const bad_input& e) {
        std::fprintf(stderr, "mlp_gradients: %s: %s\n", argv[1], e.what());
        return 1;
    }
    try {
        return run(p);
    } catch (const xgrad::error& e) {
        std::fprintf(stderr, "mlp_gradients: xgrad error: %s\n", e.what());
        return 2;
    }
}
