/// @file app/model_choice.hpp
/// @brief The command's --model: an MLP (from --layers and --activation) or an architecture string
/// (xgrad/architecture.hpp), with the input image shape of the data set and the model's size.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <xgrad/architecture.hpp>

namespace xgrad::app {

/// The --model choices' help text.
inline constexpr std::string_view model_help =
    "mlp (the default: --layers and --activation) | cnn (the default CNN, "
    "conv3x3:32,relu,maxpool2,conv3x3:64,"
    "relu,maxpool2,fc:128,relu) | an architecture: layers separated by commas, conv<k>:<filters>[/s<stride>]"
    "[/p<pad>][/d<dilation>], maxpool<k>, avgpool<k>, gap, fc:<units>, or an activation; the classifier "
    "fc:<classes> is added";

/// "mlp" → nothing (the MLP of --layers); "cnn" → the default CNN; anything else is parsed as an
/// architecture. Throws argument_error with the parser's message.
std::optional<nn::architecture> parse_model(std::string_view text);

/// The shape of one example of a data set: 1×28×28 for the IDX image sets (mnist, fashion-mnist) when they
/// have 784 features, features×1×1 (no geometry) otherwise.
image_shape input_shape_of(std::string_view dataset, std::size_t features);

/// Parameters of the model build() makes: conv K·(C·kh·kw + 1), fc n·(inputs + 1), the classifier included.
double parameter_count(const nn::architecture& a, const image_shape& in, std::size_t classes);

/// "conv3x3:32,relu,…,fc:128,relu,fc:10 (1×28×28 → 10)": the architecture with its classifier.
std::string describe(const nn::architecture& a, const image_shape& in, std::size_t classes);

}  // namespace xgrad::app
