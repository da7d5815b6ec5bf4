// Tests of the convolution modules (nn_conv.hpp) and of architecture strings (architecture.hpp).
#include <string>
#include <tuple>
#include <vector>

#include "app/model_choice.hpp"
#include "support.hpp"

using xgrad::image_shape;
using xgrad::matrix;
using xgrad::window2d;
using xgrad::test::random_matrix;
namespace nn = xgrad::nn;

TEST_CASE("nn conv: modules compose with linear in sequential, layer by layer", "[nn][conv]") {
    xgrad::rng g(5);
    nn::sequential<double> net;
    auto& c1 = net.emplace<nn::conv2d<double>>(image_shape{2, 7, 6}, 3, window2d::square(3, 1, 1), g);
    net.emplace<nn::activation<double>>(nn::activation_kind::relu);
    auto& p1 = net.emplace<nn::max_pool2d<double>>(c1.output_shape(), window2d::pool(2));
    auto& a1 = net.emplace<nn::avg_pool2d<double>>(p1.output_shape(), window2d::square(2, 1, 0));
    auto& gp = net.emplace<nn::global_avg_pool<double>>(a1.output_shape());
    net.emplace<nn::linear<double>>(gp.output_shape().size(), 4, g);
    CHECK(c1.output_shape() == image_shape{3, 7, 6});
    CHECK(p1.output_shape() == image_shape{3, 3, 3});
    CHECK(a1.output_shape() == image_shape{3, 2, 2});
    CHECK(gp.output_shape() == image_shape{3, 1, 1});
    const auto named = net.named_parameters();
    REQUIRE(named.size() == 4);
    CHECK(named[0].first == "0.weight");
    CHECK(named[0].second->shape() == xgrad::shape2{3, 2 * 3 * 3});  // K × C·kh·kw
    CHECK(named[1].first == "0.bias");
    CHECK(named[1].second->shape() == xgrad::shape2{3, 1});
    CHECK(named[2].first == "5.weight");
    CHECK(
        net.describe() ==
        "conv2d(2×7×6 → 3×7×6, 3×3 stride 1 pad 1) → relu → max_pool2d(3×7×6 → 3×3×3, 2×2 stride 2 pad 0) → "
        "avg_pool2d(3×3×3 → 3×2×2, 2×2 stride 1 pad 0) → global_avg_pool(3×2×2 → 3×1×1) → linear(3 → 4)");

    // forward equals the ops applied by hand, and gradients reach the conv parameters
    const matrix<double> x = random_matrix(2 * 7 * 6, 3, 9);
    xgrad::graph<double> gr;
    auto y = net(gr.constant(x));
    REQUIRE(y.shape() == xgrad::shape2{4, 3});
    xgrad::graph<double> gh;
    auto h = xgrad::relu(xgrad::conv2d(gh.constant(named[0].second->value()), gh.constant(x),
                                       gh.constant(named[1].second->value()), {2, 7, 6},
                                       window2d::square(3, 1, 1)));
    h = xgrad::global_avg_pool(xgrad::avg_pool2d(xgrad::max_pool2d(h, {3, 7, 6}, window2d::pool(2)),
                                                 {3, 3, 3}, window2d::square(2, 1, 0)),
                               {3, 2, 2});
    auto yh = xgrad::linear(gh.constant(named[2].second->value()), h, gh.constant(named[3].second->value()));
    XGRAD_REQUIRE_CLOSE(y.value(), yh.value(), 1e-14, 1e-14);
    gr.backward(xgrad::sum(y));
    CHECK(named[0].second->has_grad());
}

TEST_CASE("nn conv: a window that does not fit is refused when the module is made", "[nn][conv][error]") {
    xgrad::rng g(1);
    CHECK_THROWS_WITH(nn::conv2d<float>(image_shape{1, 2, 2}, 4, window2d::square(3), g),
                      Catch::Contains("larger than the padded image") && Catch::Contains("1×2×2"));
    CHECK_THROWS_AS(nn::max_pool2d<float>(image_shape{1, 1, 5}, window2d::pool(2)), xgrad::argument_error);
}

TEST_CASE("architecture: the default CNN parses, prints back and builds", "[nn][architecture]") {
    const nn::architecture a = nn::parse_architecture(nn::default_cnn);
    REQUIRE(a.layers.size() == 8);
    CHECK(a.to_string() == nn::default_cnn);
    CHECK(a.layers[0].kind == "conv");
    CHECK(a.layers[0].units == 32);
    CHECK(a.layers[0].window == window2d::square(3, 1, 1));  // "same" padding by default
    CHECK(a.layers[2].window == window2d::pool(2));
    CHECK(nn::has_image_layers(a));
    const auto shapes = nn::layer_shapes(a, {1, 28, 28}, 10);
    REQUIRE(shapes.size() == 9);
    CHECK(shapes[2] == image_shape{32, 14, 14});
    CHECK(shapes[5] == image_shape{64, 7, 7});
    CHECK(shapes[8] == image_shape{10, 1, 1});
    xgrad::rng g(2);
    auto net = nn::build<float>(a, {1, 28, 28}, 10, g);
    const std::size_t expected =
        (32 * 9 + 32) + (64 * 32 * 9 + 64) + (128 * 64 * 7 * 7 + 128) + (10 * 128 + 10);
    CHECK(net->parameter_count() == expected);
    xgrad::graph<float> gr;
    auto y = (*net)(gr.constant(random_matrix<float>(784, 2, 3)));
    CHECK(y.shape() == xgrad::shape2{10, 2});
}

TEST_CASE("architecture: options, canonical form and round trip", "[nn][architecture]") {
    const nn::architecture a = nn::parse_architecture(
        " conv5x3:16/s2/p0 , tanh, maxpool3x2/s1, conv3:8/d2, leaky_relu:0.2, avgpool2/p1, "
        "gap, fc:7, elu");
    REQUIRE(a.layers.size() == 9);
    CHECK(a.layers[0].window == window2d{5, 3, 2, 2, 0, 0, 1, 1});
    CHECK(a.layers[2].window == window2d{3, 2, 1, 1, 0, 0, 1, 1});
    CHECK(a.layers[3].window == window2d{3, 3, 1, 1, 2, 2, 2, 2});  // same padding d·(k − 1)/2
    CHECK(a.layers[4].param == 0.2);
    CHECK(a.layers[5].window == window2d{2, 2, 2, 2, 1, 1, 1, 1});
    CHECK(a.to_string() ==
          "conv5x3:16/s2/p0,tanh,maxpool3x2/s1,conv3x3:8/d2,leaky_relu:0.2,avgpool2/p1,gap,fc:7,elu");
    CHECK(nn::parse_architecture(a.to_string()) == a);
    CHECK_FALSE(nn::has_image_layers(nn::parse_architecture("fc:64,relu,fc:32")));
}

TEST_CASE("architecture: bad strings name the layer and what was expected", "[nn][architecture][error]") {
    using Catch::Contains;
    const auto msg = [](std::string_view s) {
        return xgrad::test::message_of<xgrad::argument_error>([&] { nn::parse_architecture(s); });
    };
    CHECK_THAT(msg("conv3x3:32,relu,pool2"), Contains("layer 3 'pool2'") && Contains("unknown layer"));
    CHECK_THAT(msg("conv3x3"), Contains("layer 1") && Contains("conv3x3:32"));
    CHECK_THAT(msg("conv3x3:0"), Contains("number of filters must be at least 1"));
    CHECK_THAT(msg("fc:12a"), Contains("whole number") && Contains("'12a'"));
    CHECK_THAT(msg("relu,,fc:3"), Contains("layer 2 is empty"));
    CHECK_THAT(msg("maxpool2/q1"), Contains("unknown option '/q1'"));
    CHECK_THAT(msg("leaky_relu:2"), Contains("leaky_relu") && Contains("0 ≤ f < 1"));
    CHECK_THAT(msg("relu:1"), Contains("takes no parameter"));
    // a layer that does not fit its input is named with the shape it gets
    const nn::architecture a = nn::parse_architecture("conv3x3:4,maxpool2,maxpool2,maxpool2,maxpool2");
    CHECK_THAT(
        xgrad::test::message_of<xgrad::argument_error>([&] {
            nn::layer_shapes(a, {1, 12, 12}, 10);
        }),
        Contains("layer 5 'maxpool2'") && Contains("4×1×1") && Contains("larger than the padded image"));
}

TEST_CASE("architecture: dropout, batchnorm and layernorm build as their modules, with train/eval mode",
          "[nn][architecture]") {
    const nn::architecture a = nn::parse_architecture(
        "conv3:4, batchnorm, relu, dropout, maxpool2, layernorm, fc:6, batchnorm, "
        "dropout:0.25");
    CHECK(a.to_string() ==
          "conv3x3:4,batchnorm,relu,dropout:0.5,maxpool2,layernorm,fc:6,batchnorm,dropout:0.25");
    CHECK(nn::parse_architecture(a.to_string()) == a);
    xgrad::rng g(1), noise(2);
    auto net = nn::build<double>(a, {1, 6, 6}, 3, g, noise);
    REQUIRE(net->size() == 10);
    CHECK((*net)[1].describe() == "batch_norm(4 channels)");  // per channel after a conv
    CHECK((*net)[7].describe() == "batch_norm(6 features)");  // per feature after fc
    CHECK((*net)[5].describe() == "layer_norm(36)");          // all C·H·W values of an example
    CHECK((*net)[3].describe() == "dropout(p = 0.5)");
    // γ, β of each norm layer are parameters; the running statistics are buffers, saved with them.
    const double convs = 4 * 9 + 4, fcs = 6 * 36 + 6 + 3 * 6 + 3, norms = 2 * 4 + 2 * 36 + 2 * 6;
    CHECK(static_cast<double>(net->parameter_count()) == convs + fcs + norms);
    std::size_t buffers = 0;
    for (const auto& [name, p] : net->named_buffers()) buffers += p->value().size();
    CHECK(buffers == 2 * 4 + 2 * 6);
    // Dropout draws from `noise` in training, nothing in evaluation; the model's output is the same twice in
    // evaluation.
    const matrix<double> x = random_matrix<double>(36, 5, 4);
    xgrad::graph<double> gr;
    xgrad::rng before = noise;
    net->eval();
    const matrix<double> y1 = (*net)(gr.constant(x)).value();
    const matrix<double> y2 = (*net)(gr.constant(x)).value();
    CHECK(y1 == y2);
    CHECK(noise.engine() == before.engine());
    net->train();
    (void)(*net)(gr.constant(x));
    CHECK(noise.engine() != before.engine());
}

TEST_CASE("architecture: bad dropout, batchnorm and layernorm layers are named with their position",
          "[nn][architecture][error]") {
    using Catch::Contains;
    const auto msg = [](std::string_view s) {
        return xgrad::test::message_of<xgrad::argument_error>([&] { nn::parse_architecture(s); });
    };
    CHECK_THAT(msg("fc:8,dropout:1"), Contains("layer 2 'dropout:1'") && Contains("[0, 1)"));
    CHECK_THAT(msg("fc:8,dropout:-0.1"), Contains("[0, 1)"));
    CHECK_THAT(msg("dropout0.5"), Contains("layer 1") && Contains("dropout:<p>"));
    CHECK_THAT(msg("conv3:2,relu,batchnorm:2"),
               Contains("layer 3 'batchnorm:2'") && Contains("takes no arguments"));
    CHECK_THAT(msg("layernorm(4)"), Contains("layer 1 'layernorm(4)'") && Contains("takes no arguments"));
    CHECK_THAT(msg("fc:4,bn"),
               Contains("layer 2 'bn'") && Contains("unknown layer") && Contains("batchnorm"));
}

TEST_CASE("architecture: the command's parameter count and memory estimate agree with the built model",
          "[nn][architecture]") {
    for (const char* text :
         {"conv3:4,batchnorm,relu,maxpool2,dropout:0.25,conv3:8/s2,layernorm,relu,gap,fc:16",
          "conv5x3:6/s2/p1,avgpool2,layernorm,fc:7,batchnorm,tanh", "fc:9,layernorm"}) {
        const nn::architecture a = nn::parse_architecture(text);
        xgrad::rng g(1);
        const image_shape in{2, 12, 10};
        auto net = nn::build<float>(a, in, 5, g);
        CAPTURE(text);
        CHECK(xgrad::app::parameter_count(a, in, 5) == static_cast<double>(net->parameter_count()));
        const auto small = xgrad::app::estimate_cost(a, in, 5, 8, 2, 0);
        const auto big = xgrad::app::estimate_cost(a, in, 5, 16, 2, 0);
        CHECK(small.parameters == static_cast<double>(net->parameter_count()));
        CHECK(small.parameter_bytes == 4.0 * 4 * small.parameters);  // W, its gradient, Adam's m and v
        CHECK(big.activation_bytes == 2 * small.activation_bytes);   // linear in the batch
    }
}

TEST_CASE(
    "architecture: \"relu,maxpool\" builds as one relu_max_pool2d and trains bit for bit like the two ops",
    "[nn][architecture][relu_max_pool2d]") {
    const nn::architecture a =
        nn::parse_architecture("conv3:4,relu,maxpool2,conv3:5,relu,maxpool2/s1,fc:6,relu");
    CHECK(a.to_string() == "conv3x3:4,relu,maxpool2,conv3x3:5,relu,maxpool2/s1,fc:6,relu");  // as written
    const image_shape in{2, 9, 7};
    xgrad::rng g1(3);
    auto fused = nn::build<float>(a, in, 3, g1);
    REQUIRE(fused->size() == 9);  // one module per layer (and the classifier): the numbering stays
    CHECK((*fused)[1].describe() == "relu (in the next layer's relu_max_pool2d)");
    CHECK((*fused)[2].describe() == "relu_max_pool2d(4×9×7 → 4×4×3, 2×2 stride 2 pad 0)");
    CHECK((*fused)[5].describe() == "relu_max_pool2d(5×4×3 → 5×3×2, 2×2 stride 1 pad 0)");
    std::vector<std::string> names;
    for (const auto& [name, p] : fused->named_parameters()) names.push_back(name);
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias",
                                            "8.weight", "8.bias"});

    // The same model from the two ops, module by module, drawn from the same generator in the same order.
    xgrad::rng g2(3);
    nn::sequential<float> pair;
    pair.emplace<nn::conv2d<float>>(in, 4, window2d::square(3, 1, 1), g2);
    pair.emplace<nn::activation<float>>(nn::activation_kind::relu);
    pair.emplace<nn::max_pool2d<float>>(image_shape{4, 9, 7}, window2d::pool(2));
    pair.emplace<nn::conv2d<float>>(image_shape{4, 4, 3}, 5, window2d::square(3, 1, 1), g2);
    pair.emplace<nn::activation<float>>(nn::activation_kind::relu);
    pair.emplace<nn::max_pool2d<float>>(image_shape{5, 4, 3}, window2d::square(2, 1, 0));
    pair.emplace<nn::linear<float>>(30, 6, g2);
    pair.emplace<nn::activation<float>>(nn::activation_kind::relu);
    pair.emplace<nn::linear<float>>(6, 3, g2);

    const auto weights = [](nn::module<float>& net) {
        std::vector<matrix<float>> w;
        for (auto* p : net.parameters()) w.push_back(p->value());
        return w;
    };
    REQUIRE(weights(*fused) == weights(pair));
    // A few Adam steps on the same batches: the weights stay equal bit for bit.
    xgrad::optim::adam<float> opt_fused(fused->parameters(), 1e-2f), opt_pair(pair.parameters(), 1e-2f);
    std::string fused_dot, pair_dot;
    for (std::uint64_t step = 0; step < 4; ++step) {
        const matrix<float> x = random_matrix<float>(in.size(), 5, 40 + step);
        matrix<float> y({1, 5});
        for (std::size_t n = 0; n < 5; ++n) y(0, n) = static_cast<float>((n + step) % 3);
        for (auto [net, opt, dot] :
             {std::tuple{static_cast<nn::module<float>*>(fused.get()), &opt_fused, &fused_dot},
              std::tuple{static_cast<nn::module<float>*>(&pair), &opt_pair, &pair_dot}}) {
            xgrad::graph<float> tape;
            net->zero_grad();
            auto loss = xgrad::softmax_cross_entropy((*net)(tape.constant(x)), tape.constant(y));
            tape.backward(loss);
            opt->step();
            *dot = xgrad::to_dot(tape);
        }
        REQUIRE(weights(*fused) == weights(pair));
    }
    // the fused graph shows its op by name; the pair's has none
    CHECK(fused_dot.find("relu_max_pool2d") != std::string::npos);
    CHECK(pair_dot.find("relu_max_pool2d") == std::string::npos);
    CHECK(pair_dot.find("max_pool2d") != std::string::npos);
}
