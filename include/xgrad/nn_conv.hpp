/// @file nn_conv.hpp
/// @brief Convolution and pooling modules: layers over batches of images in the CHWN layout (ops/conv.hpp).
///
/// Each module knows the image_shape of its input and gives the image_shape of its output, so a model is
/// built layer by layer, and its output feeds nn::linear as it is (a (C·H·W × m) batch is already flat):
///
///   nn::sequential<float> net;
///   auto& c1 = net.emplace<nn::conv2d<float>>(image_shape{1, 28, 28}, 32, window2d::square(3, 1, 1), g);
///   net.emplace<nn::activation<float>>(nn::activation_kind::relu);
///   auto& p1 = net.emplace<nn::max_pool2d<float>>(c1.output_shape(), window2d::pool(2));   // 32×14×14
///   net.emplace<nn::linear<float>>(p1.output_shape().size(), 10, g);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "xgrad/nn.hpp"
#include "xgrad/ops/conv.hpp"

namespace xgrad::nn {

/// What conv2d and the pooling modules share: the shape of their input images, their window, and the shape
/// of their output images (window_output; the constructor throws argument_error when the window does not
/// fit).
template <class T>
class window_module : public module<T> {
public:
    const image_shape& input_shape() const noexcept { return m_in; }
    const image_shape& output_shape() const noexcept { return m_out; }
    const window2d& window() const noexcept { return m_window; }

protected:
    window_module(const image_shape& in, const window2d& window, std::size_t out_channels);
    /// "name(1×28×28 → 32×28×28, 3×3 stride 1 pad 1)"
    std::string describe_as(std::string_view name) const;
    image_shape m_in, m_out;
    window2d m_window;
};

/// A = W·im2col(H) + b: `out_channels` filters of window.kernel_h × window.kernel_w over images of shape
/// `in`. Parameters "weight" [K × C·kh·kw] (row k is filter k, laid out (c, i, j)) and "bias" [K × 1]. W is
/// initialized with `scheme` (fan-in C·kh·kw); b starts at zero. Throws argument_error when the window does
/// not fit the image.
template <class T>
class conv2d : public window_module<T> {
public:
    conv2d(const image_shape& in, std::size_t out_channels, const window2d& window, rng& g,
           init_scheme scheme = init_scheme::he_uniform);
    /// A = W·im2col(H) + b : [K×C·kh·kw]·[C·kh·kw×Ho·Wo·m] → [K·Ho·Wo×m]
    var<T> forward(const var<T>& h) override;
    /// "conv2d(1×28×28 → 32×28×28, 3×3 stride 1 pad 1)"
    std::string describe() const override;
    parameter<T>& weight() noexcept { return *m_weight; }
    parameter<T>& bias() noexcept { return *m_bias; }

private:
    parameter<T>* m_weight;
    parameter<T>* m_bias;
};

/// Max pooling over each window (ties: the first maximum gets the gradient). No parameters.
template <class T>
class max_pool2d : public window_module<T> {
public:
    max_pool2d(const image_shape& in, const window2d& window) : window_module<T>(in, window, in.channels) {}
    var<T> forward(const var<T>& h) override;
    std::string describe() const override;  ///< "max_pool2d(32×28×28 → 32×14×14, 2×2 stride 2 pad 0)"
};

/// Relu then max pooling as one op (xgrad::relu_max_pool2d: the same values and gradients as
/// activation(relu) then max_pool2d, without relu's pass over the images). No parameters. nn::build makes
/// one of every "relu,maxpool…" pair of an architecture string.
template <class T>
class relu_max_pool2d : public window_module<T> {
public:
    relu_max_pool2d(const image_shape& in, const window2d& window)
        : window_module<T>(in, window, in.channels) {}
    var<T> forward(const var<T>& h) override;
    std::string describe() const override;  ///< "relu_max_pool2d(32×28×28 → 32×14×14, 2×2 stride 2 pad 0)"
};

/// A layer whose work the next module does: nn::build puts one where an architecture's "relu" stands before
/// a "maxpool" (the relu_max_pool2d after it applies the relu), so that the modules keep the string's
/// numbering and the parameters their names ("3.weight" stays conv2's). forward returns its input and
/// records nothing.
template <class T>
class fused_into_next : public module<T> {
public:
    /// `what`: the layer it stands for ("relu"); `by`: the module that does it ("relu_max_pool2d").
    fused_into_next(std::string what, std::string by) : m_what(std::move(what)), m_by(std::move(by)) {}
    var<T> forward(const var<T>& h) override { return h; }
    std::string describe() const override;  ///< "relu (in the next layer's relu_max_pool2d)"

private:
    std::string m_what, m_by;
};

/// Average pooling over each window (padding counts as zeros). No parameters.
template <class T>
class avg_pool2d : public window_module<T> {
public:
    avg_pool2d(const image_shape& in, const window2d& window) : window_module<T>(in, window, in.channels) {}
    var<T> forward(const var<T>& h) override;
    std::string describe() const override;
};

/// The mean of each channel: C×H×W images → C×1×1 (a [C × m] batch). No parameters.
template <class T>
class global_avg_pool : public module<T> {
public:
    explicit global_avg_pool(const image_shape& in);
    var<T> forward(const var<T>& h) override;
    std::string describe() const override;
    const image_shape& input_shape() const noexcept { return m_in; }
    image_shape output_shape() const noexcept { return {m_in.channels, 1, 1}; }

private:
    image_shape m_in;
};

}  // namespace xgrad::nn
