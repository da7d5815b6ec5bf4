// train::predict: the softmax probabilities and the argmax classes of a model, in column order, in batches.
#include <cmath>

#include <catch2/catch.hpp>

#include <xgrad/data.hpp>
#include <xgrad/nn.hpp>
#include <xgrad/predict.hpp>
#include <xgrad/train.hpp>

using namespace xgrad;

TEST_CASE("predict: probabilities are the softmax of the outputs, classes their argmax, as evaluate counts",
          "[train][predict]") {
    const auto ds = data::make_spiral<double>(90, 3, 0.1, 2);
    rng g(1);
    auto net = nn::mlp<double>({2, 5, 3}, nn::activation_kind::tanh, g);
    const auto p = train::predict(*net, ds.x, 7);  // batches of 7: 90 is not a multiple
    REQUIRE(p.probabilities.shape() == shape2{3, 90});
    REQUIRE(p.classes.size() == 90);
    // The outputs of the whole x at once, by hand.
    graph<double> tape;
    const auto z = (*net)(tape.borrow(ds.x)).value();
    std::vector<std::vector<std::size_t>> confusion(3, std::vector<std::size_t>(3, 0));
    for (std::size_t j = 0; j < 90; ++j) {
        double sum = 0;
        for (std::size_t i = 0; i < 3; ++i) sum += std::exp(z(i, j));
        std::size_t best = 0;
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(p.probabilities(i, j) == Approx(std::exp(z(i, j)) / sum).epsilon(1e-12));
            if (z(i, j) > z(best, j)) best = i;
        }
        CHECK(p.classes[j] == best);
        ++confusion[static_cast<std::size_t>(ds.y(0, j))][p.classes[j]];
    }
    CHECK(train::evaluate(*net, ds).confusion == confusion);
    CHECK_THROWS_AS(train::predict(*net, ds.x, 0), argument_error);
}
