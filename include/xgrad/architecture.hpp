/// @file architecture.hpp
/// @brief A model written as a short string, layer by layer, and built as an nn::sequential.
///
///   conv3x3:32,relu,maxpool2,conv3x3:64,relu,maxpool2,fc:128,relu
///
/// Layers, separated by commas (spaces around them are ignored):
///   conv<kh>x<kw>:<K>[/s<stride>][/p<pad>][/d<dilation>]   K filters kh×kw; stride 1, padding ⌊k/2⌋ (the
///   same
///                                                      size for odd kernels), dilation 1 unless given
///   conv<k>:<K>…                                       the same with a k×k kernel
///   maxpool<k>, maxpool<kh>x<kw>[/s…][/p…]             max pooling, stride = kernel, no padding unless given
///   avgpool<k>, avgpool<kh>x<kw>[/s…][/p…]             average pooling
///   gap                                                global average pooling (C×H×W → C)
///   fc:<n>                                             a dense layer of n units (reads any shape, flattened)
///   dropout[:p]                                        inverted dropout, drop probability p (0.5 unless
///   given) batchnorm                                          batch normalisation: per channel on images,
///   per
///                                                      feature on flat layers (running statistics in
///                                                      evaluation; saved in checkpoints as buffers)
///   layernorm                                          layer normalisation over each example's C·H·W values
///   relu, tanh, sigmoid, selu, leaky_relu[:f], elu[:α]  an activation
/// The stride, padding and dilation options take one number (both directions) or two, "s2x1".
///
/// build() appends the classifier, a dense layer of `outputs` units, after the last layer. New kinds of layer
/// are added to the table in src/core/architecture.cpp (a keyword, a parser of its arguments, a builder).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xgrad/nn.hpp"
#include "xgrad/nn_conv.hpp"

namespace xgrad::nn {

/// One layer of an architecture: its kind (the keyword: "conv", "maxpool", "avgpool", "gap", "fc",
/// "dropout", "batchnorm", "layernorm", or an activation's name) and its arguments.
struct layer_spec {
    std::string kind;
    std::size_t units = 0;        ///< conv's filters K, fc's units
    window2d window{};            ///< conv's and the pools' window
    std::optional<double> param;  ///< an activation's parameter (leaky_relu's f, elu's α), dropout's p

    /// The layer as written in canonical form: "conv3x3:32", "conv5x5:16/s2/p0", "maxpool2", "fc:128".
    std::string to_string() const;
    friend bool operator==(const layer_spec&, const layer_spec&) = default;
};

/// A model as a list of layers (the classifier layer is not part of it: build() adds it).
struct architecture {
    std::vector<layer_spec> layers;
    /// The canonical string: parse_architecture(a.to_string()) == a.
    std::string to_string() const;
    friend bool operator==(const architecture&, const architecture&) = default;
};

/// The default CNN for 28×28 images: conv3x3:32,relu,maxpool2,conv3x3:64,relu,maxpool2,fc:128,relu.
inline constexpr std::string_view default_cnn =
    "conv3x3:32,relu,maxpool2,conv3x3:64,relu,maxpool2,fc:128,relu";

/// Parses an architecture string (grammar above). Throws argument_error naming the layer (its position and
/// text) and what was expected.
architecture parse_architecture(std::string_view text);

/// Whether the architecture has a layer that needs image geometry (conv or pooling).
bool has_image_layers(const architecture& a);

/// The shape after each layer for input images `in` (flat features are n×1×1), the classifier included when
/// outputs > 0. Throws argument_error naming the layer that does not fit (a window larger than its image).
std::vector<image_shape> layer_shapes(const architecture& a, const image_shape& in, std::size_t outputs);

/// The model: the layers in order, then a dense layer of `outputs` units when outputs > 0. Conv and dense
/// weights are He-uniform after ReLU-family activations and by default, Xavier-uniform when the next
/// activation is sigmoid or tanh; they are drawn from `g`. Dropout layers draw their masks from `noise`,
/// which must outlive the model (reseed it to make a run's masks reproducible from any epoch on). Throws
/// argument_error like layer_shapes. One module per layer, in order (module i is layer i + 1, so its
/// parameters are "i.weight", "i.bias"), with one fusion: "relu,maxpool…" becomes a fused_into_next in the
/// relu's place and a relu_max_pool2d (one op, the same values and gradients) in the max-pool's; the
/// architecture (and model.json) keeps the two layers as written.
template <class T>
std::unique_ptr<sequential<T>> build(const architecture& a, const image_shape& in, std::size_t outputs,
                                     rng& g, rng& noise);

/// build(a, in, outputs, g, g): initialisation and dropout masks from the one generator `g`, which must then
/// outlive the model.
template <class T>
std::unique_ptr<sequential<T>> build(const architecture& a, const image_shape& in, std::size_t outputs,
                                     rng& g) {
    return build<T>(a, in, outputs, g, g);
}

}  // namespace xgrad::nn
