// Graph pictures: the DOT text names every tensor and parameter with its shape and every op with its rule,
// escapes what Graphviz's HTML labels need, and parses with Graphviz's dot when it is installed.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "app/graphviz.hpp"
#include "lecture/two_layer_trace.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using xgrad::test::random_matrix;

namespace {
fs::path temp_dir(const char* name) {
    const fs::path d =
        fs::temp_directory_path() / fs::path(fmt::format("xgrad-dot-test-{}-{}", name, ::getpid()));
    fs::create_directories(d);
    return d;
}
std::string read(const fs::path& p) {
    std::ifstream f(p);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}
}  // namespace

TEST_CASE("dot: the picture of an MLP names every parameter, tensor and rule", "[lecture][dot]") {
    xgrad::rng r(1);
    auto net = xgrad::nn::mlp<double>({3, 5, 4, 2}, xgrad::nn::activation_kind::tanh, r);
    const auto named = net->named_parameters();
    const xgrad::matrix<double> X = random_matrix(3, 6, 2), Y{{0, 1, 1, 0, 1, 0}};
    xgrad::graph<double> g;
    auto C = xgrad::softmax_cross_entropy((*net)(g.borrow(X, "X")), g.borrow(Y, "Y")).named("C");
    g.backward(C);
    xgrad::dot_options o;
    o.title = "an MLP\nsecond line";
    o.values = true;
    o.gradients = true;
    const std::string d = xgrad::to_dot(g, o);
    INFO(d);
    CHECK(d.rfind("digraph xgrad {", 0) == 0);
    for (const auto& [dotted, p] :
         named) {  // each parameter under its own name ("weight", "bias"), with its shape
        INFO(dotted);
        CHECK_THAT(d, Catch::Contains(fmt::format("<b>{}</b> <font point-size=\"10\">{}</font>", p->name(),
                                                  xgrad::to_string(p->shape()))));
    }
    CHECK_THAT(d, Catch::Contains("<b>X</b> <font point-size=\"10\">[3×6]</font>"));
    CHECK_THAT(d, Catch::Contains("an MLP<br/>second line"));
    CHECK_THAT(d, Catch::Contains("softmax_cross_entropy"));
    CHECK(d.find("{x0}") == std::string::npos);  // every placeholder filled
    CHECK(d.find("{y}") == std::string::npos);
    CHECK_THAT(d, Catch::Contains("peripheries=2"));  // the loss
    // One op node per op, one tensor node per tensor.
    std::size_t ops = 0, tensors = 0;
    for (std::uint32_t i = 0; i < g.size(); ++i) {
        tensors += d.find(fmt::format("  t{} [", i)) != std::string::npos;
        ops += d.find(fmt::format("  o{} [", i)) != std::string::npos;
        if (!g.info(i).inputs.empty()) CHECK(d.find(fmt::format("  o{} -> t{};", i, i)) != std::string::npos);
    }
    CHECK(tensors == g.size());
    std::size_t op_nodes = 0;
    for (std::uint32_t i = 0; i < g.size(); ++i) op_nodes += !g.info(i).inputs.empty();
    CHECK(ops == op_nodes);
}

TEST_CASE("dot: names are escaped for Graphviz's HTML labels", "[lecture][dot]") {
    xgrad::graph<double> g;
    auto a = g.variable(random_matrix(2, 2, 3), "a<b>&\"c\"");
    auto L = xgrad::sum(a).named("L");
    (void)L;
    const std::string d = xgrad::to_dot(g);
    CHECK_THAT(d, Catch::Contains("a&lt;b&gt;&amp;&quot;c&quot;"));
    CHECK(d.find("a<b>") == std::string::npos);
}

TEST_CASE(
    "dot: the two-layer picture parses with dot -Tsvg and shows every parameter (when Graphviz is installed)",
    "[lecture][dot]") {
    const auto r = lecture::run_traced_two_layer(nullptr);
    for (const char* p : {"W1", "b1", "W2", "b2"})
        CHECK_THAT(r.dot, Catch::Contains(fmt::format("<b>{}</b>", p)));
    for (const char* rule :
         {"dW2 = dA2·H1ᵀ", "dH1 = W2ᵀ·dA2", "dA1 = dH1 ⊙ H1(1 − H1)", "db1 = Σ_columns dA1"})
        CHECK_THAT(r.dot, Catch::Contains(rule));
    if (xgrad::find_graphviz().empty()) {
        WARN("skipped: Graphviz's dot is not installed (apt-get install graphviz)");
        return;
    }
    const fs::path dir = temp_dir("render");
    std::ofstream(dir / "net.dot") << r.dot;
    REQUIRE(xgrad::render_dot(dir / "net.dot", dir / "net.svg"));
    const std::string svg = read(dir / "net.svg");
    CHECK_THAT(svg, Catch::Contains("<svg"));
    for (const char* p : {">W1<", ">b1<", ">W2<", ">b2<"}) CHECK_THAT(svg, Catch::Contains(p));
    // A malformed file: render_dot throws with dot's message.
    std::ofstream(dir / "bad.dot") << "digraph { a -> }\n";
    CHECK_THROWS_AS(xgrad::render_dot(dir / "bad.dot", dir / "bad.svg"), xgrad::error);
    CHECK_THROWS_WITH(xgrad::render_dot(dir / "bad.dot", dir / "bad.svg"), Catch::Contains("bad.dot"));
    fs::remove_all(dir);
}

TEST_CASE("dot: write_dot writes the file, and an unwritable path throws", "[lecture][dot]") {
    xgrad::graph<float> g;
    auto x = g.variable(xgrad::matrix<float>({2, 2}, 1.0f), "x");
    auto L = xgrad::sum(xgrad::relu(x)).named("L");
    (void)L;
    const fs::path dir = temp_dir("write");
    xgrad::write_dot(g, dir / "g.dot");
    CHECK(read(dir / "g.dot") == xgrad::to_dot(g));
    CHECK_THROWS_AS(xgrad::write_dot(g, dir / "missing" / "g.dot"), xgrad::error);
    fs::remove_all(dir);
}
