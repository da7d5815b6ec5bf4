// main.cpp — a user's model file: a small classifier built from xgrad's layers and the user's own swish op,
// trained with Adam on three interleaved spirals, in float.
#include <cstdio>

#include <xgrad/xgrad.hpp>

#include "swish.hpp"

// A module: layers are members registered by name; forward records the computation on x's graph.
struct spiral_net : xgrad::nn::module<float> {
    xgrad::nn::linear<float> l1, l2, l3;
    explicit spiral_net(xgrad::rng& g) : l1(2, 32, g), l2(32, 32, g), l3(32, 3, g) {
        add_module("l1", l1);
        add_module("l2", l2);
        add_module("l3", l3);
    }
    xgrad::var<float> forward(const xgrad::var<float>& x) override { return l3(swish(l2(swish(l1(x))))); }
};

int main() {
    std::printf("xgrad %s\n", XGRAD_VERSION_STRING);
    const auto data = xgrad::data::make_spiral<float>(600, 3, 0.2, /*seed=*/1);  // x [2×600], y [1×600]
    xgrad::rng init(42);
    spiral_net net(init);
    xgrad::optim::adam<float> opt(net.parameters(), 0.01f);
    xgrad::data::batcher<float> batches(data, 50, /*seed=*/7);
    xgrad::graph<float> g;

    float first = 0, last = 0;
    for (int epoch = 1; epoch <= 150; ++epoch) {
        batches.start_epoch();
        double total = 0;
        while (batches.next()) {
            g.clear();  // re-record each step; buffers are reused
            opt.zero_grad();
            auto loss =
                xgrad::softmax_cross_entropy(net(g.borrow(batches.x(), "X")), g.borrow(batches.y(), "Y"));
            g.backward(loss);
            opt.step();
            total += loss.item();
        }
        last = float(total / batches.batches_per_epoch());
        if (epoch == 1) first = last;
        if (epoch % 30 == 0) std::printf("epoch %3d  loss %.4f\n", epoch, last);
    }
    const auto eval = xgrad::train::evaluate(net, data);
    std::printf("%zu parameters; loss %.4f → %.4f; accuracy %.1f%%\n", net.parameter_count(), first, last,
                100 * eval.accuracy);
    return eval.accuracy > 0.95 ? 0 : 1;
}
