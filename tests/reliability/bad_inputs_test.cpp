// The catalogue of bad inputs (issue 7): every input here must get an xgrad exception with a message that
// names what is wrong — never a crash, a hang, a wrong answer or a huge allocation. Each call of expect_error
// is one row of the table in docs/reliability.md (tests/reliability/table.sh regenerates the table from a run
// of these tests and the `xgrad` command's cases in tests/cli/cli_test.sh, and checks the document holds it).
#include <sys/stat.h>
#include <zlib.h>

#include <cstring>
#include <limits>
#include <source_location>
#include <string>
#include <vector>

#include "reliability.hpp"

namespace {

using namespace xgrad::reliability;
using M = xgrad::matrix<double>;
using V = xgrad::var<double>;
using xgrad::argument_error;
using xgrad::checkpoint_error;
using xgrad::data_error;
using xgrad::graph_error;
using xgrad::shape_error;
namespace data = xgrad::data;
using Loc = std::source_location;

/// "(called at reliability/bad_inputs_test.cpp:<line>)"
std::string called_at(const Loc& here) {
    return "(called at " + at("bad_inputs_test.cpp", here.line()) + ")";
}

M filled(std::size_t r, std::size_t c, double v = 0.5) {
    return M({r, c}, v);
}

// ---- IDX and gzip files ----

std::string be32(std::uint32_t v) {
    return {char(v >> 24), char((v >> 16) & 0xFF), char((v >> 8) & 0xFF), char(v & 0xFF)};
}
std::string idx_images(std::uint32_t n, std::uint32_t r, std::uint32_t c, std::size_t pixels,
                       std::uint32_t magic = 0x803) {
    return be32(magic) + be32(n) + be32(r) + be32(c) + std::string(pixels, '\x07');
}
std::string idx_labels(std::uint32_t n, std::size_t count, char label = 1, std::uint32_t magic = 0x801) {
    return be32(magic) + be32(n) + std::string(count, label);
}
std::string gzip(const std::string& data) {
    z_stream z{};
    REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(deflateBound(&z, static_cast<uLong>(data.size())) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

// ---- ZIP/NPY archives, crafted (stored entries) ----

std::string le16(std::uint32_t v) {
    return {char(v & 0xFF), char((v >> 8) & 0xFF)};
}
std::string le32(std::uint32_t v) {
    return le16(v & 0xFFFF) + le16(v >> 16);
}
std::string npy(const std::string& dict, const std::string& payload, char major = 1) {
    std::string h = dict;
    while ((10 + h.size() + 1) % 64 != 0) h.push_back(' ');
    h.push_back('\n');
    return std::string("\x93NUMPY", 6) + major + '\0' + le16(std::uint32_t(h.size())) + h + payload;
}
std::string dict(const std::string& descr, const std::string& shape) {
    return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}
std::string zip(const std::vector<std::pair<std::string, std::string>>& entries) {
    std::string body, central;
    for (const auto& [name, content] : entries) {
        const auto crc = static_cast<std::uint32_t>(
            crc32(0, reinterpret_cast<const Bytef*>(content.data()), static_cast<uInt>(content.size())));
        const std::string common = le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + le32(crc) +
                                   le32(std::uint32_t(content.size())) + le32(std::uint32_t(content.size())) +
                                   le16(std::uint32_t(name.size()));
        central += le32(0x02014b50) + le16(20) + common + le16(0) + le16(0) + le16(0) + le16(0) + le32(0) +
                   le32(std::uint32_t(body.size())) + name;
        body += le32(0x04034b50) + common + le16(0) + name + content;
    }
    return body + central + le32(0x06054b50) + le16(0) + le16(0) + le16(std::uint32_t(entries.size())) +
           le16(std::uint32_t(entries.size())) + le32(std::uint32_t(central.size())) +
           le32(std::uint32_t(body.size())) + le16(0);
}
std::string f8(std::size_t n) {
    std::string s(n * 8, '\0');
    for (std::size_t k = 0; k < n; ++k) {
        const double v = 0.25 * double(k);
        std::memcpy(s.data() + 8 * k, &v, 8);
    }
    return s;
}

}  // namespace

// =========================================================================================== ops: shapes

TEST_CASE("reliability: every op with mismatched shapes names the op, both shapes and the caller",
          "[reliability][reliability-table]") {
    xgrad::graph<double> g;
    V a = g.variable(filled(2, 3), "A"), b = g.variable(filled(3, 2), "B");
    V w = g.variable(filled(3, 4), "W1"), x = g.constant(filled(5, 2), "X");
    std::uint_least32_t line = 0;
    const auto op_at = [&] { return "(called at " + at("bad_inputs_test.cpp", line) + ")"; };

    Loc here = Loc::current();
    expect_error<shape_error>(
        "op.matmul", "matmul(W1 [3×4], X [5×2])", [&] { xgrad::matmul(w, x, here); },
        {"matmul", "inner dimensions", "'W1'", "[3×4]", "'X'", "[5×2]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.linear", "linear(W1 [3×4], X [5×2], b [3×1])",
                              [&] { xgrad::linear(w, x, g.variable(filled(3, 1), "b"), here); },
                              {"linear", "inner dimensions", "[3×4]", "[5×2]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>(
        "op.linear_bias", "linear(W1 [3×4], H [4×2], b [4×1])",
        [&] { xgrad::linear(w, g.constant(filled(4, 2), "H"), g.variable(filled(4, 1), "b"), here); },
        {"linear", "bias", "[4×1]", "[3×1]", called_at(here)});

    expect_error<shape_error>("op.add", "A [2×3] + B [3×2]", [&] { (void)(line = __LINE__, a + b); },
                              {"add", "[2×3]", "[3×2]", "broadcast"});
    expect_error<shape_error>("op.sub", "A [2×3] − B [3×2]", [&] { (void)(line = __LINE__, a - b); },
                              {"sub", "[2×3]", "[3×2]"});
    expect_error<shape_error>("op.mul", "A [2×3] ⊙ B [3×2]", [&] { (void)(line = __LINE__, a * b); },
                              {"mul", "[2×3]", "[3×2]"});
    expect_error<shape_error>("op.div", "A [2×3] ⊘ B [3×2]", [&] { (void)(line = __LINE__, a / b); },
                              {"div", "[2×3]", "[3×2]"});
    // The operator's own line is reported (the converting constructor records the caller).
    const std::string msg =
        expect_error<shape_error>("op.add_in_formula", "sigmoid(A ⊙ A) + B [3×2], inside a longer formula",
                                  [&] { (void)(line = __LINE__, xgrad::sigmoid(a * a) + b); }, {"add"});
    CHECK_THAT(msg, Catch::Contains(op_at()));

    here = Loc::current();
    expect_error<shape_error>("op.add_bias_row",
                              "add_bias(W1 [3×4], b [1×3]) — a transposed bias `+` would broadcast",
                              [&] { xgrad::add_bias(w, g.variable(filled(1, 3), "b"), here); },
                              {"add_bias", "[1×3]", "[3×1]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.add_bias_matrix", "add_bias(W1 [3×4], b [3×2])",
                              [&] { xgrad::add_bias(w, g.variable(filled(3, 2), "b"), here); },
                              {"add_bias", "[3×2]", "[3×1]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.add_bias_units", "add_bias(W1 [3×4], b [4×1]) — one bias too many",
                              [&] { xgrad::add_bias(w, g.variable(filled(4, 1), "b"), here); },
                              {"add_bias", "[4×1]", "[3×1]", called_at(here)});

    here = Loc::current();
    expect_error<shape_error>("op.sum_axis", "sum(A, axis 2)", [&] { xgrad::sum(a, 2, here); },
                              {"sum", "axis", "2", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.mean_axis", "mean(A, axis −1)", [&] { xgrad::mean(a, -1, here); },
                              {"mean", "axis", "-1", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.mean_empty", "mean(E [3×0])",
                              [&] {
                                  xgrad::mean(g.variable(M({3, 0})), here);
                              },
                              {"mean", "empty", "[3×0]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.softmax_empty", "softmax(Z [0×4]) — no classes",
                              [&] {
                                  xgrad::softmax(g.variable(M({0, 4}), "Z"), here);
                              },
                              {"softmax", "0 classes", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.log_softmax_empty", "log_softmax(Z [0×4])",
                              [&] {
                                  xgrad::log_softmax(g.variable(M({0, 4}), "Z"), here);
                              },
                              {"log_softmax", "0 classes", called_at(here)});
    here = Loc::current();
    expect_error<argument_error>("op.leaky_relu_slope", "leaky_relu(A, f = 1.5)",
                                 [&] { xgrad::leaky_relu(a, 1.5, here); },
                                 {"leaky_relu", "1.5", called_at(here)});
    here = Loc::current();
    expect_error<argument_error>("op.elu_alpha", "elu(A, α = 0)", [&] { xgrad::elu(a, 0.0, here); },
                                 {"elu", "0", called_at(here)});
}

TEST_CASE("reliability: misuse of the graph is a graph_error that says what to do",
          "[reliability][reliability-table]") {
    xgrad::graph<double> g, other;
    V a = g.variable(filled(2, 3), "A");
    V h = xgrad::sigmoid(a).named("H");
    V foreign = other.variable(filled(2, 3), "F");
    expect_error<graph_error>("graph.foreign", "A + F where F belongs to another graph",
                              [&] { (void)(a + foreign); }, {"another graph"});
    expect_error<graph_error>("graph.backward_not_scalar", "backward(H [2×3]) without a seed",
                              [&] { g.backward(h); }, {"'H'", "[2×3]", "seed"});
    expect_error<graph_error>("graph.seed_shape", "backward(H [2×3], seed [3×2])",
                              [&] { g.backward(h, filled(3, 2)); }, {"seed", "[3×2]", "[2×3]"});
    V c = g.constant(filled(1, 1), "c");
    expect_error<graph_error>("graph.backward_constant", "backward(c) where c needs no gradient",
                              [&] { g.backward(xgrad::exp(c)); }, {"requires a gradient"});
    expect_error<graph_error>("graph.item", "item() of H [2×3]", [&] { (void)h.item(); }, {"'H'", "[2×3]"});
    expect_error<graph_error>("graph.default_handle", "a default-constructed var used in an op",
                              [&] { (void)V().value(); }, {"default-constructed"});
    g.clear();
    expect_error<graph_error>("graph.stale", "A used after graph::clear()", [&] { (void)xgrad::sigmoid(a); },
                              {"stale"});
}

// ========================================================================================== losses

TEST_CASE("reliability: losses whose targets do not fit, labels out of range, empty batches",
          "[reliability][reliability-table]") {
    xgrad::graph<double> g;
    V z = g.variable(filled(3, 4), "Z");
    Loc here = Loc::current();
    expect_error<shape_error>("loss.sce_targets", "softmax_cross_entropy(Z [3×4], T [2×4])",
                              [&] { xgrad::softmax_cross_entropy(z, g.constant(filled(2, 4), "T"), here); },
                              {"softmax_cross_entropy", "[2×4]", "[3×4]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>(
        "loss.sce_label_count", "softmax_cross_entropy(Z [3×4], labels [1×5])",
        [&] { xgrad::softmax_cross_entropy(z, g.constant(filled(1, 5, 0), "labels"), here); },
        {"softmax_cross_entropy", "[1×5]", "[3×4]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("loss.ce_targets", "cross_entropy(P [3×4], T [4×3])",
                              [&] { xgrad::cross_entropy(z, g.constant(filled(4, 3)), here); },
                              {"cross_entropy", "[4×3]", "[3×4]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>(
        "loss.bce_logits_targets", "bce_with_logits(Z [1×4], Y [1×5])",
        [&] { xgrad::bce_with_logits(g.variable(filled(1, 4), "Z1"), g.constant(filled(1, 5), "Y"), here); },
        {"bce_with_logits", "[1×4]", "[1×5]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("loss.bce_targets", "binary_cross_entropy(P [2×3], Y [3×2])",
                              [&] {
                                  xgrad::binary_cross_entropy(g.variable(filled(2, 3), "P"),
                                                              g.constant(filled(3, 2), "Y"), here);
                              },
                              {"binary_cross_entropy", "[2×3]", "[3×2]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("loss.bce_probability", "binary_cross_entropy(P with 1.5, Y)",
                              [&] {
                                  xgrad::binary_cross_entropy(g.variable(filled(1, 2, 1.5), "P"),
                                                              g.constant(filled(1, 2)), here);
                              },
                              {"binary_cross_entropy", "1.5", "[0, 1]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>(
        "loss.mse_targets", "mse(H [1×4], Y [4×1])",
        [&] { xgrad::mse(g.variable(filled(1, 4), "H"), g.constant(filled(4, 1), "Y"), here); },
        {"mse", "[1×4]", "[4×1]", called_at(here)});

    // Integer labels: a [1×m] row of class indices.
    const auto labels = [&](double v) {
        M l = filled(1, 4, 0);
        l(0, 2) = v;
        return g.constant(l, "labels");
    };
    here = Loc::current();
    expect_error<shape_error>("label.too_large", "softmax_cross_entropy(Z [3×4], label 3 of 3 classes)",
                              [&] { xgrad::softmax_cross_entropy(z, labels(3), here); },
                              {"softmax_cross_entropy", "label 3", "example 2", "[0, 3)", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("label.negative", "softmax_cross_entropy(Z, label −1)",
                              [&] { xgrad::softmax_cross_entropy(z, labels(-1), here); },
                              {"label -1", "[0, 3)", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("label.fraction", "softmax_cross_entropy(Z, label 0.5)",
                              [&] { xgrad::softmax_cross_entropy(z, labels(0.5), here); },
                              {"label 0.5", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("label.nan", "softmax_cross_entropy(Z, label NaN)",
                              [&] { xgrad::softmax_cross_entropy(z, labels(std::nan("")), here); },
                              {"label nan", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("label.cross_entropy", "cross_entropy(P [3×4], label 7)",
                              [&] { xgrad::cross_entropy(z, labels(7), here); },
                              {"cross_entropy", "label 7", "[0, 3)", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("label.requires_grad", "softmax_cross_entropy(Z, labels that are a variable)",
                              [&] { xgrad::softmax_cross_entropy(z, g.variable(filled(1, 4, 0)), here); },
                              {"labels cannot require a gradient", called_at(here)});
    expect_error<graph_error>("label.one_hot", "one_hot(labels with 5, 3 classes)",
                              [&] {
                                  xgrad::one_hot(M{{0, 5, 1}}, 3);
                              },
                              {"one_hot", "label 5", "[0, 3)"});

    // Empty batches: predictions without columns.
    V e = g.variable(M({3, 0}), "E");
    V t = g.constant(M({3, 0}), "T0");
    here = Loc::current();
    expect_error<shape_error>("empty.sce", "softmax_cross_entropy(E [3×0], T [3×0])",
                              [&] { xgrad::softmax_cross_entropy(e, t, here); },
                              {"softmax_cross_entropy", "empty batch", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("empty.sce_labels", "softmax_cross_entropy(E [3×0], labels [1×0])",
                              [&] {
                                  xgrad::softmax_cross_entropy(e, g.constant(M({1, 0})), here);
                              },
                              {"softmax_cross_entropy", "empty batch", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("empty.cross_entropy", "cross_entropy(E [3×0], T [3×0])",
                              [&] { xgrad::cross_entropy(e, t, here); },
                              {"cross_entropy", "empty batch", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("empty.bce_with_logits", "bce_with_logits(E [3×0], T [3×0])",
                              [&] { xgrad::bce_with_logits(e, t, here); },
                              {"bce_with_logits", "empty batch", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("empty.binary_cross_entropy", "binary_cross_entropy(E [3×0], T [3×0])",
                              [&] { xgrad::binary_cross_entropy(e, t, here); },
                              {"binary_cross_entropy", "empty batch", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("empty.mse", "mse(E [3×0], T [3×0])", [&] { xgrad::mse(e, t, here); },
                              {"mse", "empty batch", called_at(here)});
}

// ====================================================================== training: models, data sets, batches

TEST_CASE("reliability: training with an empty or unlabelled set, a zero batch or a wrong model",
          "[reliability][reliability-table]") {
    xgrad::rng r(1);
    auto net = xgrad::nn::mlp<float>({2, 4, 2}, xgrad::nn::activation_kind::relu, r);
    xgrad::optim::sgd<float> opt(net->parameters(), 0.1f);
    xgrad::train::fit_options<float> o;
    o.epochs = 1;
    auto ds = data::make_gauss<float>(20, 0.1, 1);
    data::dataset<float> empty;
    empty.x = xgrad::matrix<float>({2, 0});
    empty.y = xgrad::matrix<float>({1, 0});
    empty.classes = 2;
    expect_error<data_error>("train.empty_set", "fit on a data set of 0 examples",
                             [&] { xgrad::train::fit(*net, opt, empty, o); }, {"fit", "empty"});
    expect_error<data_error>("train.evaluate_empty", "evaluate on a data set of 0 examples",
                             [&] { xgrad::train::evaluate(*net, empty); }, {"evaluate", "empty"});
    data::dataset<float> unlabelled = ds;
    unlabelled.y = xgrad::matrix<float>({0, ds.size()});
    unlabelled.classes = 0;
    expect_error<data_error>("train.unlabelled", "fit on a data set without labels",
                             [&] { xgrad::train::fit(*net, opt, unlabelled, o); }, {"fit", "labelled"});
    o.batch = 0;
    expect_error<argument_error>("train.zero_batch", "fit with batch 0",
                                 [&] { xgrad::train::fit(*net, opt, ds, o); }, {"batch size"});
    expect_error<data_error>("data.batcher_zero", "data::batcher(ds, batch_size 0)",
                             [&] { data::batcher<float> b(ds, 0, 1); }, {"batch_size"});
    auto three = data::make_spiral<float>(30, 3, 0.1, 1);
    expect_error<xgrad::error>("train.classes", "evaluate a 2-output model on 3 classes",
                               [&] { xgrad::train::evaluate(*net, three); }, {"2 outputs", "3 classes"});
    auto wide = data::make_gauss<float>(20, 0.1, 1);
    wide.x = xgrad::matrix<float>({3, 20}, 0.5f);
    expect_error<shape_error>("train.features", "fit a model of 2 inputs on 3 features",
                              [&] { o.batch = 8, xgrad::train::fit(*net, opt, wide, o); },
                              {"[3×8]", "inner dimensions"});
    expect_error<argument_error>("nn.mlp_sizes", "mlp({4}) — no output layer",
                                 [&] { xgrad::nn::mlp<float>({4}, xgrad::nn::activation_kind::relu, r); },
                                 {"mlp"});
    expect_error<argument_error>("nn.activation", "parse_activation(\"gelu\")",
                                 [&] { xgrad::nn::parse_activation("gelu"); }, {"gelu"});
    expect_error<argument_error>("optim.lr", "sgd with learning rate 0",
                                 [&] { xgrad::optim::sgd<float>(net->parameters(), 0.0f); },
                                 {"learning rate"});
    expect_error<argument_error>("optim.beta", "adam with β₁ = 1",
                                 [&] { xgrad::optim::adam<float>(net->parameters(), 1e-3f, 1.0f); }, {"β₁"});

    expect_error<data_error>("data.split", "split(ds, validation_fraction 1.5)",
                             [&] { data::split(ds, 1.5, 1); }, {"validation_fraction", "1.5"});
    const std::vector<std::size_t> cols{0, 200};
    expect_error<data_error>("data.subset", "subset(ds of 20, column 200)", [&] { data::subset(ds, cols); },
                             {"column 200", "20 examples"});
    expect_error<data_error>("data.standardizer_unfitted", "standardizer::apply before fit",
                             [&] { data::standardizer<float>().apply(ds.x); }, {"not fitted"});
    data::standardizer<float> z;
    z.fit(ds.x);
    expect_error<data_error>("data.standardizer_features", "standardizer fitted on 2 features, applied to 3",
                             [&] { z.apply(wide.x); }, {"fitted on 2 features"});
    expect_error<data_error>("data.spiral_arms", "make_spiral(arms 1)",
                             [&] { data::make_spiral<float>(10, 1, 0, 1); }, {"arms"});
    expect_error<data_error>("data.noise", "make_circle(noise −0.1)",
                             [&] { data::make_circle<float>(10, -0.1, 1); }, {"noise"});
}

// ============================================================================================= IDX files

TEST_CASE("reliability: IDX files with a wrong magic, bad dimensions, truncation or corruption",
          "[reliability][reliability-table]") {
    temp_dir dir;
    const auto put = [&](const char* name, const std::string& bytes) {
        write_file(dir / name, bytes);
        return dir / name;
    };
    const std::string img = put("img", idx_images(5, 3, 2, 30));
    const std::string lab = put("lab", idx_labels(5, 5));
    REQUIRE(data::load_idx<float>(img, lab).size() == 5);
    const auto load = [&](const std::string& i, const std::string& l) {
        return [=] { data::load_idx<float>(i, l); };
    };

    expect_error<data_error>("idx.labels_as_images", "a labels file given as the images file", load(lab, lab),
                             {"not an IDX images file", "0x00000801", "labels file"});
    expect_error<data_error>("idx.images_as_labels", "an images file given as the labels file",
                             load(img, img), {"not an IDX labels file", "images file"});
    expect_error<data_error>("idx.magic", "gzip file whose magic is 0x12345678",
                             load(put("bad.gz", gzip(be32(0x12345678) + std::string(20, '\0'))), lab),
                             {"bad.gz", "magic number 0x12345678"});
    expect_error<data_error>("idx.empty", "an empty images file", load(put("empty", ""), lab),
                             {"truncated header", "0 bytes"});
    expect_error<data_error>("idx.short_header", "images header cut after 10 bytes",
                             load(put("short", idx_images(5, 3, 2, 0).substr(0, 10)), lab),
                             {"truncated header", "10 bytes"});
    expect_error<data_error>("idx.short_header_gz", "gzip images whose header is cut after 10 bytes",
                             load(put("short.gz", gzip(idx_images(5, 3, 2, 0).substr(0, 10))), lab),
                             {"truncated header", "decompressed"});
    expect_error<data_error>(
        "idx.overflow", "header 4294967295 × 4294967295 × 4294967295 (product overflows 64 bits)",
        load(put("overflow.gz", gzip(idx_images(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))), lab),
        {"overflows 64 bits"});
    expect_error<data_error>("idx.huge", "header 65536 images of 256×256 (4 GiB) in a 16-byte file",
                             load(put("huge", idx_images(65536, 256, 256, 0)), lab),
                             {"4294967296 bytes", "more than the 2147483648 bytes accepted"});
    expect_error<data_error>("idx.no_pixels", "header 5 images of 0×2",
                             load(put("flat", idx_images(5, 0, 2, 0)), lab), {"without pixels"});
    expect_error<data_error>("idx.truncated", "images data 4 bytes short",
                             load(put("cut", idx_images(5, 3, 2, 26)), lab),
                             {"truncated", "30 bytes", "ends after 26 bytes"});
    expect_error<data_error>("idx.truncated_gz", "gzip images whose data is 4 bytes short",
                             load(put("cut.gz", gzip(idx_images(5, 3, 2, 26))), lab),
                             {"truncated", "decompressed data ends after 26 bytes"});
    expect_error<data_error>("idx.trailing", "images with 1 byte more than the header says",
                             load(put("long", idx_images(5, 3, 2, 31)), lab),
                             {"1 more bytes", "does not match"});
    const std::string big = gzip(idx_images(200, 8, 8, 12800));
    expect_error<data_error>("idx.gzip_cut", "a gzip stream cut in half",
                             load(put("half.gz", big.substr(0, big.size() / 2)), lab),
                             {"truncated", "gzip stream itself is cut short"});
    const std::string small = gzip(idx_images(5, 3, 2, 30));
    expect_error<data_error>("idx.gzip_trailer", "a gzip stream without its 8-byte trailer",
                             load(put("notrailer.gz", small.substr(0, small.size() - 8)), lab),
                             {"truncated gzip stream", "trailer"});
    std::string crc = small;
    crc[crc.size() - 6] = static_cast<char>(crc[crc.size() - 6] ^ 0x55);
    expect_error<data_error>("idx.gzip_crc", "a gzip stream whose CRC is damaged",
                             load(put("crc.gz", crc), lab), {"corrupt gzip stream"});
    expect_error<data_error>(
        "idx.lying_gzip", "gzip files claiming 2,000,000 images and labels with 10 present (no 2 MB buffer)",
        load(put("liar-img.gz", gzip(idx_images(2000000, 1, 1, 10))),
             put("liar.gz", gzip(idx_labels(2000000, 10)))),
        {"truncated", "2000000 labels", "decompresses to at most"});
    expect_error<data_error>("idx.count_mismatch", "5 images but 4 labels",
                             load(img, put("lab4", idx_labels(4, 4))), {"5 images", "4 labels"});
    expect_error<data_error>("idx.label_range", "label 10 with 10 classes",
                             load(img, put("lab10", idx_labels(5, 5, 10))), {"label 10", "[0, 10)"});
    expect_error<data_error>("idx.classes", "load_idx(…, classes 0)",
                             [&] { data::load_idx<float>(img, lab, 0); }, {"classes must be in [1, 256]"});
    expect_error<data_error>("idx.missing", "a missing images file", load(dir / "nope", lab),
                             {"nope", "no such file"});
    expect_error<data_error>("idx.directory", "a directory as the labels file", load(img, dir.path.string()),
                             {"is a directory"});
    expect_error<data_error>("mnist.missing_dir", "load_mnist of a missing directory",
                             [&] { data::load_mnist<float>(dir / "nowhere", "train"); },
                             {"no train images file", "does not exist", "train-images-idx3-ubyte.gz"});
    expect_error<data_error>("mnist.missing_file", "load_mnist of a directory without the test split",
                             [&] { data::load_mnist<float>(dir.path, "test"); }, {"no test images file"});
    expect_error<data_error>("mnist.split", "load_mnist(dir, \"validation\")",
                             [&] { data::load_mnist<float>(dir.path, "validation"); }, {"split"});
}

// ============================================================================================= CSV files

TEST_CASE("reliability: CSV files ragged, non-numeric, non-finite, empty, missing, not regular or too long",
          "[reliability][reliability-table]") {
    temp_dir dir;
    const std::string path = dir / "t.csv";
    data::csv_options no_header;
    no_header.header = false;
    const auto csv = [&](std::string text, data::csv_options o = {}) {
        return [=] {
            write_file(path, text);
            data::load_csv<float>(path, o);
        };
    };
    expect_error<data_error>("csv.ragged_short", "a row of 2 cells under a header of 3",
                             csv("a,b,c\n1,2,0\n1,2\n"), {"t.csv:3", "ragged row", "2 cells", "has 3"});
    expect_error<data_error>("csv.ragged_long", "a row of 4 cells after a first row of 3 (no header)",
                             csv("1,2,0\n1,2,3,0\n", no_header), {"t.csv:2", "ragged row", "4 cells"});
    expect_error<data_error>("csv.text", "a cell 'abc'", csv("a,b,c\n1,2,0\n3,abc,1\n"),
                             {"t.csv:3", "column 2 ('b')", "'abc' is not a number"});
    expect_error<data_error>("csv.empty_cell", "an empty cell", csv("1,,0\n", no_header),
                             {"t.csv:1", "empty cell is not a number"});
    expect_error<data_error>("csv.nan", "a cell 'nan'", csv("x,y\nnan,0\n"), {"'nan' is not a number"});
    expect_error<data_error>("csv.inf", "a cell 'inf'", csv("x,y\ninf,0\n"), {"'inf' is not a number"});
    expect_error<data_error>("csv.minus_inf", "a cell '-Infinity'", csv("x,y\n-Infinity,0\n"),
                             {"'-Infinity' is not a number"});
    expect_error<data_error>("csv.float_overflow", "a cell '1e39' loaded as float (would be Inf)",
                             csv("x,y\n1e39,0\n"), {"t.csv:2", "'1e39' is too large for float"});
    expect_error<data_error>("csv.double_overflow", "a cell '-1e999' loaded as double",
                             [&] {
                                 write_file(path, "x,y\n-1e999,0\n");
                                 data::load_csv<double>(path);
                             },
                             {"'-1e999' is too large for double"});
    expect_error<data_error>("csv.label_fraction", "label 0.5", csv("a,b,c\n1,2,0.5\n"),
                             {"t.csv:2", "label '0.5'", "not a class index"});
    expect_error<data_error>("csv.label_negative", "label −1", csv("a,b,c\n1,2,-1\n"), {"label '-1'"});
    data::csv_options dogs;
    dogs.class_names = {"dog"};
    expect_error<data_error>("csv.label_unknown", "label 'cat' where the classes are {dog}",
                             csv("a,b,c\n1,2,cat\n", dogs),
                             {"t.csv:2", "label 'cat'", "not one of the 1 classes"});
    expect_error<data_error>("csv.label_huge", "label 70000", csv("a,b,c\n1,2,70000\n"),
                             {"label '70000'", "65535"});
    expect_error<data_error>("csv.empty", "an empty file", csv(""), {"t.csv: empty file"});
    expect_error<data_error>("csv.blank", "a file of blank lines", csv(" \n\r\n\t\n"), {"t.csv: empty file"});
    expect_error<data_error>("csv.header_only", "a header and no rows", csv("a,b,c\n"), {"no data rows"});
    data::csv_options far;
    far.label_column = 5;
    expect_error<data_error>("csv.label_column", "label_column 5 of a 3-column table",
                             csv("a,b,c\n1,2,3\n", far), {"label_column 5", "3 columns"});
    expect_error<data_error>("csv.no_features", "a table whose only column is the label", csv("label\n1\n"),
                             {"no feature columns"});
    expect_error<data_error>("csv.missing", "a missing file",
                             [&] { data::load_csv<float>(dir / "missing.csv"); },
                             {"missing.csv", "no such file"});
    expect_error<data_error>("csv.directory", "a directory", [&] { data::load_csv<float>(dir.path); },
                             {"is a directory"});
    // Files that are not files, and inputs whose cost would not be bounded by their size.
    const std::string fifo = dir / "rows.csv";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);  // no writer: a loader that read it would see an empty file
    expect_error<data_error>("csv.fifo", "a FIFO (named pipe)", [&] { data::load_csv<float>(fifo); },
                             {"rows.csv", "it is a FIFO", "must be regular files"});
    expect_error<data_error>("csv.device", "/dev/zero (endless zero bytes)",
                             [&] { data::load_csv<float>("/dev/zero"); },
                             {"/dev/zero", "character device", "must be regular files"});
    std::string long_line;
    while (long_line.size() <= data::max_csv_line_bytes) long_line += "1,";
    expect_error<data_error>("csv.long_line", "one line longer than 1 MiB (\"1,1,1,…\")",
                             csv(long_line + "1\n", no_header),
                             {"t.csv:1", "longer than the 1048576 bytes", "max_csv_line_bytes"});
    expect_error<data_error>("csv.long_cell", "a cell of 5000 bytes",
                             csv("x,label\n" + std::string(5000, '7') + ",0\n"),
                             {"t.csv:2", "5000 bytes", "max_csv_cell_bytes", std::string(40, '7') + "…"});
    expect_error<data_error>("csv.numeric_header", "a first line of numbers where a header is expected",
                             csv("1.5,2,0\n3,4,1\n"), {"t.csv:1", "header", "only numbers", "no header"});
}

// ============================================================================================= checkpoints

TEST_CASE("reliability: checkpoints that are missing, truncated, corrupt or do not fit the model",
          "[reliability][reliability-table]") {
    temp_dir dir;
    using xgrad::parameter;
    parameter<double> w(M({2, 3}, 1.0), "w"), b(M({2, 1}, 2.0), "b");
    const std::string good = dir / "model.npz";
    xgrad::save_parameters<double>(good, {{"w", &w}, {"b", &b}});
    const std::string bytes = read_file(good);
    const auto put = [&](const char* name, const std::string& content) {
        write_file(dir / name, content);
        return dir / name;
    };
    const auto load_into_model = [&](const std::string& path) {
        return [=, &w, &b] { xgrad::load_parameters<double>(path, {{"w", &w}, {"b", &b}}); };
    };
    const auto load = [&](const std::string& path) { return [=] { xgrad::load_npz<double>(path); }; };

    expect_error<checkpoint_error>("ckpt.missing", "a missing file", load(dir / "nope.npz"),
                                   {"nope.npz", "No such file or directory"});
    expect_error<checkpoint_error>("ckpt.directory", "a directory", load(dir.path.string()),
                                   {"not a regular file"});
    expect_error<checkpoint_error>("ckpt.empty", "an empty file", load(put("empty.npz", "")),
                                   {"not a zip archive", "0 bytes"});
    expect_error<checkpoint_error>("ckpt.text", "a text file",
                                   load(put("text.npz", "this is not an archive\n")), {"not a zip archive"});
    expect_error<checkpoint_error>("ckpt.truncated_half", "the first half of a checkpoint",
                                   load(put("half.npz", bytes.substr(0, bytes.size() / 2))),
                                   {"not a zip archive"});
    expect_error<checkpoint_error>("ckpt.truncated_end", "a checkpoint without its last byte",
                                   load(put("cut.npz", bytes.substr(0, bytes.size() - 1))), {"cut.npz"});
    std::string flipped = bytes;
    flipped[bytes.find("NUMPY") + 140] ^= 0x20;  // a data byte of the first entry
    expect_error<checkpoint_error>("ckpt.crc", "a checkpoint with one data byte changed",
                                   load(put("flip.npz", flipped)), {"entry 'w'", "CRC-32 mismatch"});

    parameter<double> w_big(M({3, 3}, 0.0), "w");
    expect_error<checkpoint_error>("ckpt.wrong_shape", "w [2×3] into a model whose w is [3×3]",
                                   [&] {
                                       xgrad::load_parameters<double>(good, {{"w", &w_big}, {"b", &b}});
                                   },
                                   {"'w' has shape [2×3] but the model expects [3×3]"});
    expect_error<checkpoint_error>(
        "ckpt.wrong_name", "an archive of 'W' and 'b' into a model of 'w' and 'b'",
        load_into_model(put("renamed.npz", zip({{"W.npy", npy(dict("<f8", "(2, 3)"), f8(6))},
                                                {"b.npy", npy(dict("<f8", "(2, 1)"), f8(2))}}))),
        {"'w' is missing (the model expects [2×3])", "unexpected entry 'W' [2×3]"});
    expect_error<checkpoint_error>(
        "ckpt.missing_entry", "an archive without 'b'",
        load_into_model(put("nob.npz", zip({{"w.npy", npy(dict("<f8", "(2, 3)"), f8(6))}}))),
        {"'b' is missing"});
    expect_error<checkpoint_error>(
        "ckpt.extra_entry", "an archive with an extra entry 'c'",
        load_into_model(put("extra.npz", zip({{"w.npy", npy(dict("<f8", "(2, 3)"), f8(6))},
                                              {"b.npy", npy(dict("<f8", "(2, 1)"), f8(2))},
                                              {"c.npy", npy(dict("<f8", "(1,)"), f8(1))}}))),
        {"unexpected entry 'c' [1×1]"});
    CHECK(w.value()(0, 0) == 1.0);  // all-or-nothing: nothing was modified by the failed loads
    expect_error<checkpoint_error>("ckpt.dtype_int", "an entry of dtype '<i8'",
                                   load(put("i8.npz", zip({{"w.npy", npy(dict("<i8", "(2,)"), f8(2))}}))),
                                   {"entry 'w'", "dtype '<i8' is not supported"});
    expect_error<checkpoint_error>("ckpt.dtype_big_endian", "an entry of dtype '>f8'",
                                   load(put("be.npz", zip({{"w.npy", npy(dict(">f8", "(2,)"), f8(2))}}))),
                                   {"dtype '>f8' is not supported"});
    expect_error<checkpoint_error>("ckpt.dtype_half", "an entry of dtype '<f2'",
                                   load(put("f2.npz", zip({{"w.npy", npy(dict("<f2", "(4,)"), f8(1))}}))),
                                   {"dtype '<f2' is not supported"});
    expect_error<checkpoint_error>(
        "ckpt.three_d", "a 3-D entry (1, 2, 3)",
        load(put("3d.npz", zip({{"t.npy", npy(dict("<f8", "(1, 2, 3)"), f8(6))}}))),
        {"(1, 2, 3)", "0-, 1- and 2-D"});
    expect_error<checkpoint_error>("ckpt.shape_vs_data", "shape (7,) with 6 values of data",
                                   load(put("short.npz", zip({{"s.npy", npy(dict("<f8", "(7,)"), f8(6))}}))),
                                   {"shape (7,)", "48 data bytes"});
    expect_error<checkpoint_error>("ckpt.not_npy", "an entry 'meta.json'",
                                   load(put("json.npz", zip({{"meta.json", "{}"}}))),
                                   {"'meta.json' is not a .npy array"});
    expect_error<checkpoint_error>("ckpt.duplicate", "two entries named 'a.npy'",
                                   load(put("dup.npz", zip({{"a.npy", npy(dict("<f8", "(1,)"), f8(1))},
                                                            {"a.npy", npy(dict("<f8", "(1,)"), f8(1))}}))),
                                   {"'a.npy' appears twice"});
    expect_error<checkpoint_error>("ckpt.npy_magic", "an entry that is not NPY data",
                                   load(put("magic.npz", zip({{"m.npy", std::string(80, 'x')}}))),
                                   {"bad magic"});
    expect_error<checkpoint_error>("ckpt.npy_version", "an NPY version 9.0 entry",
                                   load(put("v9.npz", zip({{"v.npy", npy(dict("<f8", "(1,)"), f8(1), 9)}}))),
                                   {"unsupported .npy format version 9.0"});
    expect_error<checkpoint_error>(
        "ckpt.npy_header", "an NPY header with an unknown key",
        load(put("key.npz", zip({{"k.npy", npy("{'descr': '<f8', 'x': 1, }", f8(1))}}))),
        {"corrupt .npy header", "'x'"});

    expect_error<checkpoint_error>("save.empty_name", "save_npz of a tensor named \"\"",
                                   [&] {
                                       xgrad::save_npz<double>(dir / "s.npz", {{"", &w.value()}});
                                   },
                                   {"empty name"});
    expect_error<checkpoint_error>(
        "save.duplicate", "save_npz of two tensors named 'a'",
        [&] {
            xgrad::save_npz<double>(dir / "s.npz", {{"a", &w.value()}, {"a", &b.value()}});
        },
        {"'a' appears twice"});
    expect_error<checkpoint_error>("save.null", "save_npz of a null tensor",
                                   [&] {
                                       xgrad::save_npz<double>(dir / "s.npz", {{"a", nullptr}});
                                   },
                                   {"null"});
    expect_error<checkpoint_error>("save.no_directory", "save into a directory that does not exist",
                                   [&] {
                                       xgrad::save_npz<double>(dir / "no/dir/s.npz", {{"a", &w.value()}});
                                   },
                                   {"no/dir/s.npz", "No such file or directory"});
    xgrad::reliability::fs::create_directory(dir / "taken");
    expect_error<checkpoint_error>("save.over_directory", "save to a path that is a directory",
                                   [&] {
                                       xgrad::save_npz<double>(dir / "taken", {{"a", &w.value()}});
                                   },
                                   {"renaming"});
    expect_error<checkpoint_error>("load.duplicate_parameter", "load_parameters with 'w' given twice",
                                   [&] {
                                       xgrad::load_parameters<double>(good, {{"w", &w}, {"w", &w}});
                                   },
                                   {"'w' is given twice"});
    CHECK(read_file(good) == bytes);  // the checkpoint itself was never touched
}

// ================================================================================ layers (issue 12)

TEST_CASE("reliability: embedding ids, batch_norm batches and geometry, dropout p, concat and split shapes",
          "[reliability][reliability-table]") {
    xgrad::graph<double> g;
    const V e = g.variable(filled(3, 5), "E");
    const V gamma = g.variable(filled(3, 1, 1.0), "γ"), beta = g.variable(filled(3, 1, 0.0), "β");
    xgrad::rng r(1);
    Loc here = Loc::current();
    expect_error<shape_error>("op.embedding_id", "embedding(E [3×5], ids {0, 5}) — V = 5",
                              [&] {
                                  xgrad::embedding(e, g.constant(M{{0, 5}}, "ids"), here);
                              },
                              {"embedding", "id 5 at position 1", "V = 5", "[3×5]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.embedding_fraction", "embedding(E [3×5], ids {1.5})",
                              [&] { xgrad::embedding(e, g.constant(M{{1.5}}, "ids"), here); },
                              {"embedding", "id 1.5", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.embedding_ids_shape", "embedding(E [3×5], ids [2×1])",
                              [&] {
                                  xgrad::embedding(e, g.constant(M{{0}, {1}}, "ids"), here);
                              },
                              {"embedding", "[2×1]", "[1×m]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>(
        "op.batch_norm_m1", "batch_norm(H [3×1], γ, β) in training — one example",
        [&] { xgrad::batch_norm(g.constant(filled(3, 1), "H"), gamma, beta, nullptr, nullptr, {}, here); },
        {"batch_norm", "m = 1", "'H' is [3×1]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.batch_norm_channels", "batch_norm(X [7×2]) with 3 channels",
                              [&] {
                                  xgrad::batch_norm_options o;
                                  o.channels = 3;
                                  xgrad::batch_norm(g.constant(filled(7, 2), "X"), gamma, beta, nullptr,
                                                    nullptr, o, here);
                              },
                              {"batch_norm", "[7×2]", "3 channels", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>(
        "op.layer_norm_gamma", "layer_norm(H [4×2], γ [3×1], β [3×1])",
        [&] { xgrad::layer_norm(g.constant(filled(4, 2), "H"), gamma, beta, 1e-5, here); },
        {"layer_norm", "[3×1]", "[4×1]", called_at(here)});
    here = Loc::current();
    expect_error<argument_error>("op.dropout_p", "dropout(A, p = 1)",
                                 [&] { xgrad::dropout(g.variable(filled(2, 3), "A"), 1.0, r, true, here); },
                                 {"dropout", "p = 1", "[0, 1)", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>(
        "op.concat_columns", "concat({A [2×3], B [2×4]})",
        [&] {
            const std::vector<V> parts{g.variable(filled(2, 3), "A"), g.variable(filled(2, 4), "B")};
            xgrad::concat(parts, here);
        },
        {"concat", "'A' [2×3]", "'B' [2×4]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>("op.split_sizes", "split(A [2×3], {1, 2})",
                              [&] {
                                  xgrad::split(g.variable(filled(2, 3), "A"), {1, 2}, here);
                              },
                              {"split", "{1, 2}", "2 rows", called_at(here)});
}

TEST_CASE("reliability: conv2d and pooling with a wrong geometry or a window larger than the padded image",
          "[reliability][reliability-table]") {
    xgrad::graph<double> g;
    const V w = g.variable(filled(2, 9), "W"), b = g.variable(filled(2, 1), "b");
    const xgrad::image_shape in{1, 5, 5};
    Loc here = Loc::current();
    expect_error<shape_error>(
        "op.conv2d_geometry", "conv2d(W [2×9], X [24×3], b) over 1×5×5 images (25 rows expected)",
        [&] { xgrad::conv2d(w, g.constant(filled(24, 3), "X"), b, in, xgrad::window2d::square(3), here); },
        {"conv2d", "1×5×5", "[24×3]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>(
        "op.conv2d_filters", "conv2d(W [2×8], X [25×3], b) with 3×3 kernels over 1 channel",
        [&] {
            xgrad::conv2d(g.variable(filled(2, 8), "W8"), g.constant(filled(25, 3), "X"), b, in,
                          xgrad::window2d::square(3), here);
        },
        {"conv2d", "[2×8]", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>(
        "op.conv2d_kernel_too_large", "conv2d with a 7×7 kernel, padding 0, over 1×5×5 images",
        [&] {
            xgrad::conv2d(g.variable(filled(2, 49), "W49"), g.constant(filled(25, 3), "X"), b, in,
                          xgrad::window2d::square(7), here);
        },
        {"conv2d", "7×7", "1×5×5", "larger than the padded image", called_at(here)});
    here = Loc::current();
    expect_error<shape_error>(
        "op.max_pool2d_window_too_large", "max_pool2d with a 3×3 window, stride 3, over 1×2×2 images",
        [&] {
            xgrad::max_pool2d(g.constant(filled(4, 3), "H"), xgrad::image_shape{1, 2, 2},
                              xgrad::window2d::pool(3), here);
        },
        {"max_pool2d", "1×2×2", "larger than the padded image", called_at(here)});
}
