/// @file app/model_choice.hpp
/// @brief The command's --model: an MLP (from --layers and --activation) or an architecture string
/// (xgrad/architecture.hpp), with the input image shape of the data set and the model's size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <xgrad/architecture.hpp>
#include <xgrad/init.hpp>

#include "app/budget.hpp"

namespace xgrad::app {

/// The --model choices' help text.
inline constexpr std::string_view model_help =
    "mlp (the default: --layers and --activation) | cnn (the default CNN, "
    "conv3x3:32,relu,maxpool2,conv3x3:64,"
    "relu,maxpool2,fc:128,relu) | an architecture: layers separated by commas, conv<k>:<filters>[/s<stride>]"
    "[/p<pad>][/d<dilation>], maxpool<k>, avgpool<k>, gap, fc:<units>, dropout[:p], batchnorm, layernorm, or "
    "an activation; the classifier fc:<classes> is added";

/// "mlp" → nothing (the MLP of --layers); "cnn" → the default CNN; anything else is parsed as an
/// architecture. Throws argument_error with the parser's message.
std::optional<nn::architecture> parse_model(std::string_view text);

/// The shape of one example of a data set: 1×28×28 for the IDX image sets (mnist, fashion-mnist) when they
/// have 784 features, features×1×1 (no geometry) otherwise.
image_shape input_shape_of(std::string_view dataset, std::size_t features);

/// Parameters of the model build() makes: conv K·(C·kh·kw + 1), fc n·(inputs + 1), batchnorm 2·C (γ, β per
/// channel or feature), layernorm 2·C·H·W, the classifier included (batchnorm's running statistics are
/// buffers, not parameters).
double parameter_count(const nn::architecture& a, const image_shape& in, std::size_t classes);

/// What training the architecture costs, as estimate_cost (app/budget.hpp) for an MLP, computed from the
/// layer shapes alone (nothing is allocated; throws argument_error like nn::layer_shapes):
///   parameters = parameter_count(a, in, classes),
///   units = C·H·W of the input + Σ_l (C·H·W of layer l's output + conv's im2col rows C·kh·kw·Ho·Wo),
///   activation_bytes = 4·max(4·batch, 2·eval_columns)·units, the rest as for an MLP.
model_cost estimate_cost(const nn::architecture& a, const image_shape& in, std::size_t classes,
                         std::size_t batch, int optimizer_state, std::size_t eval_columns = 1000);

/// The generator of dropout's masks for the epoch after `epochs_done` of a run seeded `seed`: a function
/// of the two alone (splitmix64 of seed and epoch), so a run resumed after any epoch draws the masks the
/// uninterrupted run drew. Apart from the generator of the initial weights, rng(seed).
rng epoch_noise(std::uint64_t seed, int epochs_done);

/// "conv3x3:32,relu,…,fc:128,relu,fc:10 (1×28×28 → 10)": the architecture with its classifier.
std::string describe(const nn::architecture& a, const image_shape& in, std::size_t classes);

}  // namespace xgrad::app
