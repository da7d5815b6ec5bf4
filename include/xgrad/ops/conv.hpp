/// @file ops/conv.hpp
/// @brief Convolution and pooling over batches of images in the lecture's layout (examples are columns).
///
/// A batch of m images of C channels, H rows and W columns is one (C·H·W × m) row-major matrix — the CHWN
/// layout: pixel (c, y, x) of example n is row (c·H + y)·W + x, column n. A convolution is a matmul:
///
///   cols = im2col(H)          : (C·H·W × m)          → (C·kh·kw × Ho·Wo·m)
///   A    = W·cols + b         : (K × C·kh·kw)·(C·kh·kw × Ho·Wo·m) → (K × Ho·Wo·m) = (K·Ho·Wo × m)
///
/// The product's (K × Ho·Wo·m) buffer already is the (K·Ho·Wo × m) batch of K-channel output images (no
/// transposes), so a dense layer reads it as it is (flattening is free). Backward reads as the lecture's
/// dense layer: dW = dA·colsᵀ, dH = col2im(Wᵀ·dA), db = Σ dA (over positions and examples).
///
/// The geometry is given with each call: the input's image_shape and a window2d (kernel, stride, zero
/// padding, dilation). Errors name the op, the geometry, the shapes and the caller's file:line. Rules:
/// docs/ops.md.
#pragma once

#include <cstddef>
#include <source_location>
#include <string>

#include "xgrad/fwd.hpp"

namespace xgrad {

/// The geometry of one image: channels × height × width. A batch of m such images is a (C·H·W × m) matrix.
struct image_shape {
    std::size_t channels = 1;
    std::size_t height = 1;
    std::size_t width = 1;
    /// C·H·W: the rows of a batch.
    constexpr std::size_t size() const noexcept { return channels * height * width; }
    friend constexpr bool operator==(const image_shape&, const image_shape&) = default;
};

/// "1×28×28" (C×H×W), as messages print it.
std::string to_string(const image_shape& s);

/// A sliding window over an image: kernel size, stride, zero padding on each side and dilation (the step
/// between kernel taps), for rows (h) and columns (w). The window covers d·(k − 1) + 1 pixels; an image of
/// H rows padded by p gives Ho = ⌊(H + 2p − d·(kh − 1) − 1)/s⌋ + 1 output rows (and likewise Wo).
struct window2d {
    std::size_t kernel_h = 1, kernel_w = 1;
    std::size_t stride_h = 1, stride_w = 1;
    std::size_t pad_h = 0, pad_w = 0;
    std::size_t dilation_h = 1, dilation_w = 1;

    /// A k×k kernel with the same stride and padding in both directions (a convolution's usual window).
    static constexpr window2d square(std::size_t k, std::size_t stride = 1, std::size_t pad = 0) noexcept {
        return {k, k, stride, stride, pad, pad, 1, 1};
    }
    /// A k×k pooling window with stride k (non-overlapping), no padding.
    static constexpr window2d pool(std::size_t k) noexcept { return square(k, k, 0); }
    friend constexpr bool operator==(const window2d&, const window2d&) = default;
};

/// "3×3 stride 1 pad 1" (dilation only when not 1), as messages print it.
std::string to_string(const window2d& w);

/// What is wrong with sliding `w` over images of shape `in` (zero kernel, stride or dilation; a window
/// larger than the padded image), or "" when nothing is.
std::string window_problem(const image_shape& in, const window2d& w);

/// The shape of the images that sliding `w` over `in` gives, with `channels` channels:
/// Ho = ⌊(H + 2·pad_h − dilation_h·(kernel_h − 1) − 1)/stride_h⌋ + 1, likewise Wo.
/// Throws argument_error (with window_problem's text) when the window does not fit.
image_shape window_output(const image_shape& in, const window2d& w, std::size_t channels);

/// 2-D convolution (cross-correlation, as in every framework) with zero padding, one bias per output channel:
///   A[k, oy, ox] = Σ_{c, i, j} W[k, (c·kh + i)·kw + j] · H[c, oy·s − p + i·d, ox·s − p + j·d] + b[k]
/// W [K × C·kh·kw], H [C·H·W × m] (images of shape `in`), b [K × 1] → A [K·Ho·Wo × m].
/// Computed as A = W·im2col(H) + b (gemms over blocks of output positions), or, for a 3×3 kernel with
/// stride 1 and no dilation over enough channels (detail::conv2d_winograd_tile), by Winograd's minimal
/// filtering F(4×4, 3×3) or F(2×2, 3×3): the same values up to rounding with 4× or 2.25× fewer
/// multiplications (36 or 16 gemms over 6×6 or 4×4 tiles).
template <class T>
var<T> conv2d(const var<T>& w, const var<T>& h, const var<T>& b, const image_shape& in,
              const window2d& window, std::source_location loc = std::source_location::current());

/// Max pooling: Y[c, oy, ox] = max of H[c, ·, ·] over the window; padding never wins (it is −∞).
/// H [C·H·W × m] → Y [C·Ho·Wo × m]. Ties: the gradient goes to the first maximum in scan order (row by row,
/// left to right within the window); a NaN in the window is the maximum (it propagates).
template <class T>
var<T> max_pool2d(const var<T>& h, const image_shape& in, const window2d& window,
                  std::source_location loc = std::source_location::current());

/// Relu then max pooling in one op: H = max_pool2d(relu(A), in, window) = relu(max_pool2d(A, in, window))
/// (relu is monotone). A [C·H·W × m] → H [C·Ho·Wo × m]: the same values and gradient as relu then max_pool2d,
/// bit for bit — dA = dH ⊙ [H > 0] at each window's first maximum of relu(A), 0 elsewhere (ties, NaN and the
/// sign of zero as the two ops). With 2×2 windows and stride 2 it reads A once forward and writes dA once
/// backward (no relu output is stored); models built from an architecture string use it for "relu,maxpool".
template <class T>
var<T> relu_max_pool2d(const var<T>& a, const image_shape& in, const window2d& window,
                       std::source_location loc = std::source_location::current());

/// Average pooling: Y[c, oy, ox] = (1/(kh·kw)) Σ of H[c, ·, ·] over the window, padding counted as zeros
/// (PyTorch's count_include_pad = true). H [C·H·W × m] → Y [C·Ho·Wo × m].
template <class T>
var<T> avg_pool2d(const var<T>& h, const image_shape& in, const window2d& window,
                  std::source_location loc = std::source_location::current());

/// Global average pooling: Y[c] = (1/(H·W)) Σ_{y, x} H[c, y, x]. H [C·H·W × m] → Y [C × m].
template <class T>
var<T> global_avg_pool(const var<T>& h, const image_shape& in,
                       std::source_location loc = std::source_location::current());

namespace detail {
/// The output tile r of the Winograd F(r×r, 3×3) that conv2d over images `in` through `w` runs (forward and
/// backward) instead of im2col, or 0 when it runs im2col. Winograd needs a 3×3 kernel, stride 1, dilation 1
/// (any padding) and at least winograd_min_channels input channels; r = 4 when the output is at least
/// winograd_f4_min_output pixels high and wide, else 2.
std::size_t conv2d_winograd_tile(const image_shape& in, const window2d& w);
/// Input channels from which conv2d takes the Winograd path (below, im2col is faster).
inline constexpr std::size_t winograd_min_channels = 4;
/// Output height and width from which the Winograd path uses 4×4 tiles.
inline constexpr std::size_t winograd_f4_min_output = 8;
}  // namespace detail

}  // namespace xgrad
