// fit and evaluate check every label before the first batch: a bad one is named by its example in the data
// set (not by its place in a shuffled mini-batch).
#include <catch2/catch.hpp>

#include <xgrad/data.hpp>
#include <xgrad/nn.hpp>
#include <xgrad/optim.hpp>
#include <xgrad/train.hpp>

using namespace xgrad;
using Catch::Matchers::Contains;

TEST_CASE("fit: a label that is not a class is named by its example in the data set", "[train]") {
    auto ds = data::make_spiral<float>(60, 3, 0.1, 1);
    ds.y(0, 27) = 5.0f;  // of 3 classes
    rng g(0);
    auto net = nn::mlp<float>({2, 4, 3}, nn::activation_kind::relu, g);
    optim::sgd<float> opt(net->parameters(), 0.1f);
    train::fit_options<float> o;
    o.epochs = 1;
    o.batch = 8;
    std::string message;
    try {
        train::fit(*net, opt, ds, o);
    } catch (const data_error& e) {
        message = e.what();
    }
    CHECK_THAT(message, Contains("fit: label 5 of example 27 of the training set") &&
                            Contains("is not a class index in [0, 3)"));
    ds.y(0, 27) = 0.5f;
    message.clear();
    try {
        train::evaluate(*net, ds);
    } catch (const data_error& e) {
        message = e.what();
    }
    CHECK_THAT(message, Contains("evaluate: label 0.5 of example 27"));
}
