// Internal to conv2d: what conv.cpp (im2col, pooling) and conv_winograd.cpp (the Winograd path) share.
#pragma once

#include <algorithm>
#include <cstddef>

#include "xgrad/op.hpp"
#include "xgrad/ops/conv.hpp"

namespace xgrad::detail::conv_impl {

/// Sizes of one application, all as size_t (signed offsets are computed as std::ptrdiff_t).
struct geometry {
    std::size_t C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, m;
    std::size_t taps() const { return kh * kw; }
    std::size_t positions() const { return Ho * Wo; }
};

/// Σ p[0 … n): blocks of 512 summed in T over 8 independent lanes (they vectorize), the block sums in double.
template <class T>
double row_sum(const T* __restrict p, std::size_t n) {
    constexpr std::size_t lanes = 8, block = 512;
    double total = 0;
    for (std::size_t b = 0; b < n; b += block) {
        const std::size_t e = std::min(n, b + block);
        T acc[lanes] = {};
        std::size_t k = b;
        for (; k + lanes <= e; k += lanes) {
            for (std::size_t l = 0; l < lanes; ++l) acc[l] += p[k + l];
        }
        T s = T(0);
        for (std::size_t l = 0; l < lanes; ++l) s += acc[l];
        for (; k < e; ++k) s += p[k];
        total += static_cast<double>(s);
    }
    return total;
}

/// Gradient buffer ready for scatter-adds: zeroed on the first contribution.
template <class T>
T* scatter_target(const gradient_target<T>& t) {
    if (t.beta == T(0)) std::fill_n(t.buffer.data(), t.buffer.size(), T(0));
    return t.buffer.data();
}

/// The output tile of the Winograd path for this application, 0 when im2col computes it (see
/// detail::conv2d_winograd_tile).
inline std::size_t winograd_tile(const geometry& g) {
    if (!(g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 &&
          g.C >= detail::winograd_min_channels)) {
        return 0;
    }
    return std::min(g.Ho, g.Wo) >= detail::winograd_f4_min_output ? 4 : 2;
}

/// conv2d's forward by Winograd F(tile×tile, 3×3) (tile = winograd_tile(g), 4 or 2): writes y (K·Ho·Wo × m)
/// and saves U = G·W·Gᵀ for backward (saved slots 0–3).
template <class T>
void winograd_forward(forward_context<T>& ctx, const geometry& g, std::size_t K, std::size_t tile,
                      matrix<T>& y);

/// conv2d's backward by Winograd F(tile×tile, 3×3), after winograd_forward with the same tile: dW, dH and db
/// as the context asks for them.
template <class T>
void winograd_backward(backward_context<T>& ctx, const geometry& g, std::size_t K, std::size_t tile);

}  // namespace xgrad::detail::conv_impl
