// Convolution and pooling in the CHWN layout (a batch of images is a (C·H·W × m) matrix): each op's rule
// beside its forward and backward. conv2d is a gemm over im2col's columns, done block by block of output
// positions so that each block of columns stays in the cache; every kernel moves whole rows of m examples,
// which are contiguous in this layout.
#include "xgrad/ops/conv.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__SSE2__) && !defined(__EMSCRIPTEN__)
#include <emmintrin.h>
#define XGRAD_CONV_STREAMS 1
#else
#define XGRAD_CONV_STREAMS 0
#endif

#include <fmt/format.h>

#include "conv_detail.hpp"
#include "relu.hpp"
#include "xgrad/blas.hpp"
#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"

namespace xgrad {

std::string to_string(const image_shape& s) {
    return fmt::format("{}×{}×{}", s.channels, s.height, s.width);
}

std::string to_string(const window2d& w) {
    std::string s = fmt::format("{}×{}", w.kernel_h, w.kernel_w);
    const auto pair = [](std::size_t a, std::size_t b) {
        return a == b ? fmt::format("{}", a) : fmt::format("{},{}", a, b);
    };
    s += " stride " + pair(w.stride_h, w.stride_w) + " pad " + pair(w.pad_h, w.pad_w);
    if (w.dilation_h != 1 || w.dilation_w != 1) s += " dilation " + pair(w.dilation_h, w.dilation_w);
    return s;
}

std::string window_problem(const image_shape& in, const window2d& w) {
    if (in.channels == 0 || in.height == 0 || in.width == 0) {
        return fmt::format("the image shape {} is empty", to_string(in));
    }
    if (w.kernel_h == 0 || w.kernel_w == 0)
        return fmt::format("the kernel {}×{} is empty", w.kernel_h, w.kernel_w);
    if (w.stride_h == 0 || w.stride_w == 0) {
        return fmt::format("the stride must be at least 1, not {}×{}", w.stride_h, w.stride_w);
    }
    if (w.dilation_h == 0 || w.dilation_w == 0) {
        return fmt::format("the dilation must be at least 1, not {}×{}", w.dilation_h, w.dilation_w);
    }
    constexpr std::size_t big = std::size_t(1) << 31;  // geometry fits in 32 bits (and its products in 64)
    for (std::size_t v : {in.channels, in.height, in.width, w.kernel_h, w.kernel_w, w.stride_h, w.stride_w,
                          w.pad_h, w.pad_w, w.dilation_h, w.dilation_w}) {
        if (v >= big) return fmt::format("{} is too large (a geometry value must be below 2³¹)", v);
    }
    const std::size_t span_h = w.dilation_h * (w.kernel_h - 1) + 1,
                      span_w = w.dilation_w * (w.kernel_w - 1) + 1;
    if (span_h > in.height + 2 * w.pad_h || span_w > in.width + 2 * w.pad_w) {
        return fmt::format(
            "the window {} ({}×{} pixels) is larger than the padded image ({}×{} with padding {}×{})",
            to_string(w), span_h, span_w, in.height + 2 * w.pad_h, in.width + 2 * w.pad_w, w.pad_h, w.pad_w);
    }
    return {};
}

image_shape window_output(const image_shape& in, const window2d& w, std::size_t channels) {
    if (std::string p = window_problem(in, w); !p.empty()) {
        throw argument_error(fmt::format("window {} over images {}: {}", to_string(w), to_string(in), p));
    }
    const std::size_t span_h = w.dilation_h * (w.kernel_h - 1) + 1,
                      span_w = w.dilation_w * (w.kernel_w - 1) + 1;
    return {channels, (in.height + 2 * w.pad_h - span_h) / w.stride_h + 1,
            (in.width + 2 * w.pad_w - span_w) / w.stride_w + 1};
}

namespace {

/// The geometry an op keeps (32-bit fields: the op must fit in a node's inline storage, so that recording
/// it allocates nothing). window_problem has rejected values ≥ 2³¹ before an op is made.
struct packed_geometry {
    std::uint32_t c, h, w, kh, kw, sh, sw, ph, pw, dh, dw;
    packed_geometry(const image_shape& in, const window2d& win)
        : c(pack(in.channels)),
          h(pack(in.height)),
          w(pack(in.width)),
          kh(pack(win.kernel_h)),
          kw(pack(win.kernel_w)),
          sh(pack(win.stride_h)),
          sw(pack(win.stride_w)),
          ph(pack(win.pad_h)),
          pw(pack(win.pad_w)),
          dh(pack(win.dilation_h)),
          dw(pack(win.dilation_w)) {}
    static std::uint32_t pack(std::size_t v) {
        return static_cast<std::uint32_t>(
            std::min<std::size_t>(v, std::numeric_limits<std::uint32_t>::max()));
    }
    image_shape image() const { return {c, h, w}; }
    window2d window() const { return {kh, kw, sh, sw, ph, pw, dh, dw}; }
};

using detail::conv_impl::geometry;

geometry unpack(const packed_geometry& p, std::size_t m) {
    const image_shape out = window_output(p.image(), p.window(), p.c);
    return {p.c, p.h, p.w, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, out.height, out.width, m};
}

/// The range [lo, hi) of output positions o (0 ≤ o < n_out) whose tap at offset `tap` (= i·d − p) falls
/// inside [0, n_in): o·s + tap ∈ [0, n_in).
void valid_range(std::ptrdiff_t tap, std::size_t s, std::size_t n_in, std::size_t n_out, std::size_t& lo,
                 std::size_t& hi) {
    const auto S = static_cast<std::ptrdiff_t>(s);
    const std::ptrdiff_t first = tap >= 0 ? 0 : (-tap + S - 1) / S;      // o·s ≥ −tap
    const std::ptrdiff_t end = static_cast<std::ptrdiff_t>(n_in) - tap;  // o·s < n_in − tap
    const std::ptrdiff_t last = end <= 0 ? 0 : (end + S - 1) / S;        // o < ⌈end/s⌉
    lo = static_cast<std::size_t>(std::min<std::ptrdiff_t>(first, static_cast<std::ptrdiff_t>(n_out)));
    hi = static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(last, static_cast<std::ptrdiff_t>(lo),
                                                             static_cast<std::ptrdiff_t>(n_out)));
}

/// Calls f(oy, ox_lo, ox_hi, src_row) for every output row oy ∈ [oy0, oy1) of tap (i, j) of channel c:
/// src_row is the input row (c, iy, ·) of the tap, or null when iy is outside the image; [ox_lo, ox_hi) are
/// the outputs whose tap column is inside the image (column ix = ox·sw + j·dw − pw).
template <class F>
void for_tap_rows(const geometry& g, std::size_t c, std::size_t i, std::size_t j, std::size_t oy0,
                  std::size_t oy1, F&& f) {
    std::size_t ox_lo, ox_hi;
    valid_range(static_cast<std::ptrdiff_t>(j * g.dw) - static_cast<std::ptrdiff_t>(g.pw), g.sw, g.W, g.Wo,
                ox_lo, ox_hi);
    const std::ptrdiff_t tap_y = static_cast<std::ptrdiff_t>(i * g.dh) - static_cast<std::ptrdiff_t>(g.ph);
    for (std::size_t oy = oy0; oy < oy1; ++oy) {
        const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy * g.sh) + tap_y;
        const bool inside = iy >= 0 && iy < static_cast<std::ptrdiff_t>(g.H);
        f(oy, ox_lo, ox_hi, inside ? (c * g.H + static_cast<std::size_t>(iy)) * g.W : std::size_t(-1));
    }
}

/// The output positions p = oy·Wo + ox of block [p0, p1) that lie in output row oy: ox ∈ [a, b).
struct row_span {
    std::size_t a, b;
};
inline row_span span_in_row(const geometry& g, std::size_t oy, std::size_t p0, std::size_t p1) {
    const std::size_t first = oy * g.Wo;
    return {p0 > first ? p0 - first : 0, std::min(g.Wo, p1 - first)};
}

/// im2col of the output positions [p0, p1): cols [C·kh·kw × (p1 − p0)·m], row (c·kh + i)·kw + j, column
/// (oy·Wo + ox − p0)·m + n, holds H[(c·H + oy·sh + i·dh − ph)·W + ox·sw + j·dw − pw, n] (0 outside the
/// image). [0, Ho·Wo) is the whole im2col.
template <class T>
void im2col(const geometry& g, const T* x, T* cols, std::size_t p0, std::size_t p1) {
    if (g.m == 0) return;  // no examples: nothing to copy (and x, cols may be null, which memcpy may not see)
    const std::size_t m = g.m, row_len = (p1 - p0) * m, oy0 = p0 / g.Wo, oy1 = (p1 + g.Wo - 1) / g.Wo;
    for (std::size_t c = 0; c < g.C; ++c) {
        for (std::size_t i = 0; i < g.kh; ++i) {
            for (std::size_t j = 0; j < g.kw; ++j) {
                T* dst = cols + ((c * g.kh + i) * g.kw + j) * row_len;
                const std::ptrdiff_t tap_x =
                    static_cast<std::ptrdiff_t>(j * g.dw) - static_cast<std::ptrdiff_t>(g.pw);
                for_tap_rows(g, c, i, j, oy0, oy1,
                             [&](std::size_t oy, std::size_t lo, std::size_t hi, std::size_t src_row) {
                                 const row_span r = span_in_row(g, oy, p0, p1);
                                 T* d = dst + (oy * g.Wo + r.a - p0) * m;  // output column r.a of row oy
                                 if (src_row == std::size_t(-1)) {
                                     std::fill_n(d, (r.b - r.a) * m, T(0));
                                     return;
                                 }
                                 lo = std::clamp(lo, r.a, r.b);
                                 hi = std::clamp(hi, lo, r.b);
                                 std::fill_n(d, (lo - r.a) * m, T(0));
                                 const T* s = x + src_row * m;
                                 if (g.sw == 1) {  // consecutive outputs read consecutive pixels: one block
                                     if (hi > lo) {
                                         std::memcpy(d + (lo - r.a) * m,
                                                     s + static_cast<std::ptrdiff_t>(lo + tap_x) *
                                                             static_cast<std::ptrdiff_t>(m),
                                                     (hi - lo) * m * sizeof(T));
                                     }
                                 } else {
                                     for (std::size_t ox = lo; ox < hi; ++ox) {
                                         const auto ix = static_cast<std::ptrdiff_t>(ox * g.sw) + tap_x;
                                         std::memcpy(d + (ox - r.a) * m,
                                                     s + ix * static_cast<std::ptrdiff_t>(m), m * sizeof(T));
                                     }
                                 }
                                 std::fill_n(d + (hi - r.a) * m, (r.b - hi) * m, T(0));
                             });
            }
        }
    }
}

/// col2im of the positions [p0, p1): the adjoint of im2col — dX[pixel, n] += Σ of dcols over every (tap,
/// position) of the block that read it.
template <class T>
void col2im_add(const geometry& g, const T* dcols, T* dx, std::size_t p0, std::size_t p1) {
    if (g.m == 0) return;  // no examples: nothing to add
    const std::size_t m = g.m, row_len = (p1 - p0) * m, oy0 = p0 / g.Wo, oy1 = (p1 + g.Wo - 1) / g.Wo;
    for (std::size_t c = 0; c < g.C; ++c) {
        for (std::size_t i = 0; i < g.kh; ++i) {
            for (std::size_t j = 0; j < g.kw; ++j) {
                const T* src = dcols + ((c * g.kh + i) * g.kw + j) * row_len;
                const std::ptrdiff_t tap_x =
                    static_cast<std::ptrdiff_t>(j * g.dw) - static_cast<std::ptrdiff_t>(g.pw);
                for_tap_rows(g, c, i, j, oy0, oy1,
                             [&](std::size_t oy, std::size_t lo, std::size_t hi, std::size_t dst_row) {
                                 if (dst_row == std::size_t(-1)) return;
                                 const row_span r = span_in_row(g, oy, p0, p1);
                                 lo = std::clamp(lo, r.a, r.b);
                                 hi = std::clamp(hi, lo, r.b);
                                 const T* s = src + (oy * g.Wo + r.a - p0) * m;  // output column r.a
                                 T* d = dx + dst_row * m;
                                 if (g.sw == 1) {
                                     if (hi <= lo) return;
                                     T* __restrict db = d + static_cast<std::ptrdiff_t>(lo + tap_x) *
                                                                static_cast<std::ptrdiff_t>(m);
                                     const T* __restrict sb = s + (lo - r.a) * m;
                                     const std::size_t n = (hi - lo) * m;
                                     for (std::size_t k = 0; k < n; ++k) db[k] += sb[k];
                                 } else {
                                     for (std::size_t ox = lo; ox < hi; ++ox) {
                                         const auto ix = static_cast<std::ptrdiff_t>(ox * g.sw) + tap_x;
                                         T* __restrict dd = d + ix * static_cast<std::ptrdiff_t>(m);
                                         const T* __restrict ss = s + (ox - r.a) * m;
                                         for (std::size_t k = 0; k < m; ++k) dd[k] += ss[k];
                                     }
                                 }
                             });
            }
        }
    }
}

using detail::conv_impl::row_sum;
using detail::conv_impl::scatter_target;
using detail::conv_impl::winograd_tile;

/// Checks the images' rows against the geometry; returns the geometry of this application.
template <class T>
geometry checked_geometry(forward_context<T>& ctx, const packed_geometry& p, std::size_t input,
                          bool pooling) {
    const image_shape in = p.image();
    const window2d win = p.window();
    if (std::string problem = window_problem(in, win); !problem.empty()) {
        ctx.fail(fmt::format("window {} over images {}: {}", to_string(win), to_string(in), problem));
    }
    if (pooling && (2 * win.pad_h > win.kernel_h || 2 * win.pad_w > win.kernel_w)) {
        ctx.fail(fmt::format("window {} over images {}: the padding {}×{} must be at most half the kernel",
                             to_string(win), to_string(in), win.pad_h, win.pad_w));
    }
    const shape2 x = ctx.input_shape(input);
    if (x[0] != in.size()) {
        ctx.fail(fmt::format("{} is {} but images {} (C×H×W) need {} rows (C·H·W), one column per example",
                             ctx.input_name(input), to_string(x), to_string(in), in.size()));
    }
    return unpack(p, x[1]);
}

// ---------------------------------------------------------------- conv2d

/// Bytes of one block of conv2d: its im2col columns (C·kh·kw × positions·m) and its output columns (K ×
/// positions·m) within about half of a core's L2 cache, so that what im2col and the bias write is still in
/// the cache when the gemm reads it (and in backward dcols when col2im reads it, dA when db sums it).
constexpr std::size_t conv_block_bytes = std::size_t(512) << 10;

/// Multiply-adds (M·N·K) up to which OpenBLAS 0.3.21's AVX-512 kernels (SkylakeX, Cooperlake) take their
/// small-matrix path, which skips packing: measured here, a first conv layer's block gemm 32×3072×10 takes
/// 23 µs and 32×3136×10 (just above 10⁶) 52 µs.
constexpr std::size_t gemm_small_limit = 1000000;

/// Output positions per block of conv2d (at least one): within conv_block_bytes; and, for a kernel with few
/// taps (a first layer's), also so that the block's gemms (K × positions·m × C·kh·kw + 1, db's row of ones
/// included) stay within gemm_small_limit, when that still leaves blocks of at least 8 positions.
inline std::size_t block_positions(const geometry& g, std::size_t ckk, std::size_t K, std::size_t element) {
    const std::size_t m = std::max<std::size_t>(g.m, 1),
                      by_cache = std::max<std::size_t>(1, conv_block_bytes / ((ckk + K) * m * element)),
                      by_gemm = gemm_small_limit / (std::max<std::size_t>(K, 1) * (ckk + 1) * m);
    return by_gemm >= 8 ? std::min(by_cache, by_gemm) : by_cache;
}

template <class T>
struct conv2d_op final : op<T> {
    packed_geometry geo;
    conv2d_op(const image_shape& in, const window2d& w) : geo(in, w) {}
    static constexpr op_rule rule{
        .name = "conv2d",
        .forward = "{x0:product}·im2col({x1}) + {x2:product}",
        .binds = binding::sum,
        .gradients = {{0, "{dy}·im2col({x1})ᵀ", "[K×Ho·Wo·m]·[Ho·Wo·m×C·kh·kw] → {x0}"},
                      {1, "col2im({x0}ᵀ·{dy})", "col2im({x0ᵀ}·[K×Ho·Wo·m]) → {x1}"},
                      {2, "Σ_(positions, columns) {dy}"}}};
    static constexpr op_doc doc{
        .calls = "`conv2d(W, H, b, in, window)`",
        .inputs = {"W", "H", "b"},
        .output = "A",
        .input_shapes = {"K×C·kh·kw", "C·H·W×m", "K×1"},
        .output_shape = "K·Ho·Wo×m",
        .definition =
            ": [K×C·kh·kw]·[C·kh·kw×Ho·Wo·m] → [K×Ho·Wo·m] = [K·Ho·Wo×m]; A[k, oy, ox] = Σ_(c,i,j) "
            "W[k, c, i, j]·H[c, oy·s − p + i·d, ox·s − p + j·d] + b[k], zero padding",
        .note =
            "a 3×3 kernel with stride 1 and no dilation over ≥ 4 input channels runs Winograd F(4×4, 3×3) "
            "(outputs ≥ 8×8) or F(2×2, 3×3): 36 or 16 gemms U[ξ]·V[ξ] over blocks of tiles, backward in the "
            "Winograd domain (dV = Uᵀ·dM, dU = dM·Vᵀ); otherwise gemms over blocks of output positions whose "
            "im2col and output columns fit in 512 KiB (half of L2), backward recomputing each block's "
            "im2col, with [dW db] = dA·[cols; 1ᵀ]ᵀ in one gemm; "
            "a 1×1 kernel with stride 1 and no padding skips im2col",
        .saves = "— (uses H; Winograd keeps U = G·W·Gᵀ)"};
    static var<double> example(example_inputs& in) {
        // 2 channels of 5×4 images, 3 output channels, a 2×3 kernel with stride 2 and padding 1
        const window2d w{.kernel_h = 2, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
        return conv2d(in.variable(3, 12), in.variable(40, 2), in.variable(3, 1), image_shape{2, 5, 4}, w);
    }
    const op_rule* describe() const override { return &rule; }

    bool identity_im2col(const geometry& g) const {
        return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
    }

    void forward(forward_context<T>& ctx) override {
        const geometry g = checked_geometry(ctx, geo, 1, false);
        const shape2 w = ctx.input_shape(0), b = ctx.input_shape(2);
        const std::size_t ckk = g.C * g.taps();
        if (w[1] != ckk) {
            ctx.fail(
                fmt::format("the weights {} are {} but a {}×{} kernel over {} channels (images {}) needs {} "
                            "columns (C·kh·kw), one row per output channel",
                            ctx.input_name(0), to_string(w), g.kh, g.kw, g.C, to_string(geo.image()), ckk));
        }
        const std::size_t K = w[0];
        if (b[0] != K || b[1] != 1) {
            ctx.fail(fmt::format("the bias {} is {} but must be [{}×1] (one per output channel of {} {})",
                                 ctx.input_name(2), to_string(b), K, ctx.input_name(0), to_string(w)));
        }
        const std::size_t n = g.positions() * g.m;
        if (!detail::element_count({ckk, n}, sizeof(T)) ||
            !detail::element_count({K * g.positions(), g.m}, sizeof(T))) {
            ctx.fail(fmt::format(
                "images {} through window {} with m = {}: im2col's {} or the output {} are too large",
                to_string(geo.image()), to_string(geo.window()), g.m, to_string(shape2{ckk, n}),
                to_string(shape2{K * g.positions(), g.m})));
        }
        matrix<T>& y = ctx.output({K * g.positions(), g.m});
        // A = b·1ᵀ first, then A += W·cols with β = 1 (one pass over A fewer than adding b after a β = 0
        // gemm, which clears A first): A (K × Ho·Wo·m) = W (K × C·kh·kw)·cols (C·kh·kw × Ho·Wo·m), the same
        // buffer as (K·Ho·Wo × m).
        const T* pb = ctx.input(2).data();
        const T* pw = ctx.input(0).data();
        if (const std::size_t tile = winograd_tile(g); tile != 0 && g.m > 0) {
            detail::conv_impl::winograd_forward(ctx, g, K, tile, y);
            return;
        }
        if (identity_im2col(g)) {
            for (std::size_t k = 0; k < K; ++k) std::fill_n(y.data() + k * n, n, pb[k]);
            gemm<T>(false, false, K, n, ckk, T(1), pw, ckk, ctx.input(1).data(), n, T(1), y.data(), n);
            return;
        }
        // Block by block of output positions [p0, p1): the columns A[:, p0·m … p1·m) = W·im2col block,
        // whose im2col block stays in the cache between being written and being multiplied. (cols has one
        // row more, as backward's, which holds ones there for db; forward does not use it. Putting the bias
        // into the gemm the same way, [W b]·[cols; 1ᵀ], was slower here: OpenBLAS's small-matrix kernel
        // with β = 0 and 10 instead of 9 inner steps cost more than the pass that fills A with b.)
        const std::size_t block = block_positions(g, ckk, K, sizeof(T));
        matrix<T>& cols = ctx.save(0, {ckk + 1, std::min(block, g.positions()) * g.m});
        for (std::size_t p0 = 0; p0 < g.positions(); p0 += block) {
            const std::size_t p1 = std::min(g.positions(), p0 + block), nb = (p1 - p0) * g.m;
            for (std::size_t k = 0; k < K; ++k) std::fill_n(y.data() + k * n + p0 * g.m, nb, pb[k]);
            im2col(g, ctx.input(1).data(), cols.data(), p0, p1);
            gemm<T>(false, false, K, nb, ckk, T(1), pw, ckk, cols.data(), nb, T(1), y.data() + p0 * g.m, n);
        }
    }

    void backward(backward_context<T>& ctx) override {
        const shape2 xs = shape_of(ctx.input(1));
        const geometry g = unpack(geo, xs[1]);
        const std::size_t K = ctx.input(0).shape()[0], ckk = g.C * g.taps(), n = g.positions() * g.m;
        const T* dy = ctx.grad_output().data();  // (K·Ho·Wo × m) read as (K × Ho·Wo·m)
        const T* pw = ctx.input(0).data();
        if (const std::size_t tile = winograd_tile(g); tile != 0 && g.m > 0) {
            detail::conv_impl::winograd_backward(ctx, g, K, tile);
            return;
        }
        if (identity_im2col(g)) {
            if (ctx.needs_grad(2)) {  // db[k] = Σ over the positions and examples of channel k
                gradient_target<T> t = ctx.target(2);
                write_gradient(t, [&](std::size_t k) { return static_cast<T>(row_sum(dy + k * n, n)); });
            }
            const T* cols = ctx.input(1).data();
            if (ctx.needs_grad(0)) {  // dW = dA·colsᵀ : (K × Ho·Wo·m)·(Ho·Wo·m × C·kh·kw)
                gradient_target<T> t = ctx.target(0);
                gemm<T>(false, true, K, ckk, n, T(1), dy, n, cols, n, t.beta, t.buffer.data(), ckk);
            }
            if (ctx.needs_grad(1)) {  // dH = Wᵀ·dA : (C × K)·(K × H·W·m)
                gradient_target<T> t = ctx.target(1);
                gemm<T>(true, false, ckk, n, K, T(1), pw, ckk, dy, n, t.beta, t.buffer.data(), n);
            }
            return;
        }
        // The same blocks as forward, im2col recomputed block by block (cheaper than keeping all of it):
        // dW = Σ_blocks dA_block·cols_blockᵀ, dH = Σ_blocks col2im(Wᵀ·dA_block), db = Σ_blocks Σ dA_block.
        // When both dW and db are wanted, db rides in dW's gemm: [dW db] = dA·[cols; 1ᵀ]ᵀ (one pass over dA
        // fewer).
        const std::size_t block = block_positions(g, ckk, K, sizeof(T)),
                          width = std::min(block, g.positions()) * g.m;
        T* dx = ctx.needs_grad(1) ? scatter_target(ctx.target(1)) : nullptr;
        const bool want_w = ctx.needs_grad(0), want_b = ctx.needs_grad(2), joint = want_w && want_b;
        T* db = nullptr;  // db summed block by block (without dW)
        T db_beta = T(0);
        if (want_b && !joint) {
            gradient_target<T> t = ctx.target(2);
            db = t.buffer.data();
            db_beta = t.beta;
        }
        // dW (K × C·kh·kw), or [dW db] (K × C·kh·kw + 1) gathered in a workspace
        const std::size_t dw_cols = joint ? ckk + 1 : ckk;
        T* dw = joint ? ctx.workspace(2, {K, ckk + 1}).data() : nullptr;
        T dw_beta = T(0);
        if (want_w && !joint) {
            gradient_target<T> t = ctx.target(0);
            dw = t.buffer.data();
            dw_beta = t.beta;
        }
        matrix<T>* cols = want_w ? &ctx.workspace(0, {ckk + 1, width}) : nullptr;
        matrix<T>* dcols = dx ? &ctx.workspace(1, {ckk, width}) : nullptr;
        for (std::size_t p0 = 0; p0 < g.positions(); p0 += block) {
            const std::size_t p1 = std::min(g.positions(), p0 + block), nb = (p1 - p0) * g.m;
            const T* dy_block = dy + p0 * g.m;  // (K × nb) with rows n apart
            if (db) {  // db[k] (+)= Σ over the block's positions and examples of channel k
                for (std::size_t k = 0; k < K; ++k) {
                    const T s = static_cast<T>(row_sum(dy_block + k * n, nb));
                    db[k] = p0 == 0 && db_beta == T(0) ? s : db[k] + s;
                }
            }
            if (cols) {  // dW (+)= dA_block·cols_blockᵀ : (K × nb)·(nb × C·kh·kw), with db: ·[cols; 1ᵀ]ᵀ
                im2col(g, ctx.input(1).data(), cols->data(), p0, p1);
                if (joint) std::fill_n(cols->data() + ckk * nb, nb, T(1));
                gemm<T>(false, true, K, dw_cols, nb, T(1), dy_block, n, cols->data(), nb,
                        p0 == 0 ? dw_beta : T(1), dw, dw_cols);
            }
            if (dcols) {  // dcols_block = Wᵀ·dA_block : (C·kh·kw × K)·(K × nb), then scattered back
                gemm<T>(true, false, ckk, nb, K, T(1), pw, ckk, dy_block, n, T(0), dcols->data(), nb);
                col2im_add(g, dcols->data(), dx, p0, p1);
            }
        }
        if (joint) {  // [dW db] → dW and db
            gradient_target<T> tw = ctx.target(0);
            write_gradient(tw, [&](std::size_t e) { return dw[(e / ckk) * (ckk + 1) + e % ckk]; });
            gradient_target<T> tb = ctx.target(2);
            write_gradient(tb, [&](std::size_t k) { return dw[k * (ckk + 1) + ckk]; });
        }
    }
};

// ---------------------------------------------------------------- pooling

/// Calls f(out_row, in_row, tap, first) for every tap of every output pixel: out_row is the output row
/// (c·Ho + oy)·Wo + ox, in_row the input row the tap reads (taps outside the image are skipped), tap = i·kw +
/// j, first whether it is the window's first tap inside the image. Taps come in scan order (i, then j).
template <class F>
void for_each_window_tap(const geometry& g, F&& f) {
    for (std::size_t c = 0; c < g.C; ++c) {
        for (std::size_t oy = 0; oy < g.Ho; ++oy) {
            for (std::size_t ox = 0; ox < g.Wo; ++ox) {
                const std::size_t out_row = (c * g.Ho + oy) * g.Wo + ox;
                bool first = true;
                for (std::size_t i = 0; i < g.kh; ++i) {
                    const auto iy =
                        static_cast<std::ptrdiff_t>(oy * g.sh + i * g.dh) - static_cast<std::ptrdiff_t>(g.ph);
                    if (iy < 0 || iy >= static_cast<std::ptrdiff_t>(g.H)) continue;
                    for (std::size_t j = 0; j < g.kw; ++j) {
                        const auto ix = static_cast<std::ptrdiff_t>(ox * g.sw + j * g.dw) -
                                        static_cast<std::ptrdiff_t>(g.pw);
                        if (ix < 0 || ix >= static_cast<std::ptrdiff_t>(g.W)) continue;
                        f(out_row,
                          (c * g.H + static_cast<std::size_t>(iy)) * g.W + static_cast<std::size_t>(ix),
                          i * g.kw + j, first);
                        first = false;
                    }
                }
            }
        }
    }
}

// The inner loops over a row of m examples (restrict: rows never overlap, so the loops vectorize).

/// y ← max(y, x) element-wise, recording `tap` where x wins: strictly greater keeps the first maximum; a NaN
/// wins once and then stays.
template <class T>
void max_tap(T* __restrict y, T* __restrict arg, const T* __restrict x, T tap, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const T v = x[n], best = y[n];
        const bool take = v > best || (v != v && best == best);
        y[n] = take ? v : best;
        arg[n] = take ? tap : arg[n];
    }
}

/// dx += dy where arg == tap.
template <class T>
void add_where_tap(T* __restrict dx, const T* __restrict dy, const T* __restrict arg, T tap, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {  // a select of two loaded values: it vectorizes as a blend
        const T sum = dx[n] + dy[n];
        dx[n] = arg[n] == tap ? sum : dx[n];
    }
}

/// dx = dy where arg == tap, else 0.
template <class T>
void set_where_tap(T* __restrict dx, const T* __restrict dy, const T* __restrict arg, T tap, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {  // both values loaded first: it vectorizes as a blend
        const T g = dy[n], keep = arg[n] == tap ? T(1) : T(0);
        dx[n] = keep != T(0) ? g : T(0);
    }
}

/// Whether the windows tile the image without overlap (stride = kernel, no dilation, no padding): every
/// pixel is in at most one window.
inline bool tiles(const geometry& g) {
    return g.sh == g.kh && g.sw == g.kw && g.dh == 1 && g.dw == 1 && g.ph == 0 && g.pw == 0;
}

/// Sets to 0 the rows of dX whose pixel no window of a tiling covers (the last rows and columns when the
/// kernel does not divide the image).
template <class T>
void clear_uncovered(const geometry& g, T* dx) {
    const std::size_t covered_h = g.Ho * g.kh, covered_w = g.Wo * g.kw, m = g.m;
    for (std::size_t c = 0; c < g.C; ++c) {
        for (std::size_t y = 0; y < g.H; ++y) {
            T* row = dx + (c * g.H + y) * g.W * m;
            if (y >= covered_h) {
                std::fill_n(row, g.W * m, T(0));
            } else if (covered_w < g.W) {
                std::fill_n(row + covered_w * m, (g.W - covered_w) * m, T(0));
            }
        }
    }
}

/// y += s·x.
template <class T>
void add_scaled(T* __restrict y, const T* __restrict x, T s, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) y[n] += s * x[n];
}

/// The 2×2 windows of a tiling, in one pass over each window's 4 rows (a, b above c, d): y = their maximum,
/// arg = the tap (0–3) of the first maximum in scan order; a NaN wins once and then stays (as max_tap).
template <class T>
void max_of_four(const T* __restrict a, const T* __restrict b, const T* __restrict c, const T* __restrict d,
                 T* __restrict y, T* __restrict arg, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        T best = a[n], tap = T(0);
        const T v[3] = {b[n], c[n], d[n]};
        for (std::size_t t = 0; t < 3; ++t) {
            const bool take = v[t] > best || (v[t] != v[t] && best == best);
            best = take ? v[t] : best;
            tap = take ? static_cast<T>(t + 1) : tap;
        }
        y[n] = best;
        arg[n] = tap;
    }
}

/// The adjoint of max_of_four onto fresh rows: each of a, b, c, d gets dy where arg names it, else 0.
template <class T>
void spread_of_four(const T* __restrict dy, const T* __restrict arg, T* __restrict a, T* __restrict b,
                    T* __restrict c, T* __restrict d, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const T g = dy[n], t = arg[n];
        a[n] = t == T(0) ? g : T(0);
        b[n] = t == T(1) ? g : T(0);
        c[n] = t == T(2) ? g : T(0);
        d[n] = t == T(3) ? g : T(0);
    }
}

/// Calls f(out_row, r0, r1, r2, r3) for every window of a 2×2 tiling (stride 2, no padding): the input rows
/// of its taps 0–3 (row by row, left to right).
template <class F>
void for_each_two_by_two(const geometry& g, F&& f) {
    for (std::size_t c = 0; c < g.C; ++c) {
        for (std::size_t oy = 0; oy < g.Ho; ++oy) {
            const std::size_t top = (c * g.H + 2 * oy) * g.W;
            for (std::size_t ox = 0; ox < g.Wo; ++ox) {
                const std::size_t r0 = top + 2 * ox;
                f((c * g.Ho + oy) * g.Wo + ox, r0, r0 + 1, r0 + g.W, r0 + g.W + 1);
            }
        }
    }
}

/// Max pooling over any windows (the general path): y = each window's maximum, arg = the tap of its first
/// maximum in scan order, or −1 (and y = 0) for a window entirely in the padding.
template <class T>
void max_pool_any(const geometry& g, const T* x, T* y, T* arg) {
    const std::size_t m = g.m, rows = g.C * g.positions();
    std::fill_n(arg, rows * m, T(-1));
    for_each_window_tap(g, [&](std::size_t o, std::size_t r, std::size_t tap, bool first) {
        if (first) {
            std::copy_n(x + r * m, m, y + o * m);
            std::fill_n(arg + o * m, m, static_cast<T>(tap));
        } else {
            max_tap(y + o * m, arg + o * m, x + r * m, static_cast<T>(tap), m);
        }
    });
    // windows entirely in the padding (none when pad ≤ k/2)
    for (std::size_t o = 0; m > 0 && o < rows; ++o) {
        if (arg[o * m] < T(0)) std::fill_n(y + o * m, m, T(0));
    }
}

/// max_pool_any's adjoint: dX (+)= dY at each window's maximum (`fresh`: dX holds nothing yet).
template <class T>
void max_pool_any_backward(const geometry& g, const T* dy, const T* arg, T* dx, bool fresh) {
    const std::size_t m = g.m;
    if (fresh && tiles(g)) {  // each pixel in at most one window: write dX once, no clearing pass
        for_each_window_tap(g, [&](std::size_t o, std::size_t r, std::size_t tap, bool) {
            set_where_tap(dx + r * m, dy + o * m, arg + o * m, static_cast<T>(tap), m);
        });
        clear_uncovered(g, dx);
        return;
    }
    if (fresh) std::fill_n(dx, g.C * g.H * g.W * m, T(0));
    for_each_window_tap(g, [&](std::size_t o, std::size_t r, std::size_t tap, bool) {
        add_where_tap(dx + r * m, dy + o * m, arg + o * m, static_cast<T>(tap), m);
    });
}

template <class T>
struct max_pool2d_op final : op<T> {
    packed_geometry geo;
    max_pool2d_op(const image_shape& in, const window2d& w) : geo(in, w) {}
    static constexpr op_rule rule{.name = "max_pool2d",
                                  .forward = "maxpool({x0:any})",
                                  .gradients = {{0, "{dy} to the first maximum of each window"}}};
    static constexpr op_doc doc{
        .calls = "`max_pool2d(H, in, window)`",
        .inputs = {"H"},
        .input_shapes = {"C·H·W×m"},
        .output_shape = "C·Ho·Wo×m",
        .definition =
            ": [C·H·W×m] → [C·Ho·Wo×m]; Y[c, oy, ox] = max over the window of H[c, ·, ·] (padding never "
            "wins)",
        .note =
            "ties: the first maximum in scan order, row by row and left to right, gets dY; NaN propagates",
        .saves = "the tap of each maximum [C·Ho·Wo×m]"};
    static var<double> example(example_inputs& in) {
        // 2 channels of 5×6 images, overlapping 3×2 windows with stride 2 and padding 1
        const window2d w{.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
        return max_pool2d(in.variable(60, 3), image_shape{2, 5, 6}, w);
    }
    const op_rule* describe() const override { return &rule; }

    /// 2×2 windows with stride 2, no padding, no dilation (every window inside the image).
    static bool two_by_two(const geometry& g) { return g.kh == 2 && g.kw == 2 && tiles(g); }

    void forward(forward_context<T>& ctx) override {
        const geometry g = checked_geometry(ctx, geo, 0, true);
        const shape2 out{g.C * g.positions(), g.m};
        matrix<T>& y = ctx.output(out);
        matrix<T>& arg = ctx.save(0, out);  // the tap of the maximum, −1 for a window without pixels
        if (two_by_two(g)) {                // the common 2×2 pooling: one pass per window
            const T* x = ctx.input(0).data();
            const std::size_t m = g.m;
            for_each_two_by_two(
                g, [&](std::size_t o, std::size_t r0, std::size_t r1, std::size_t r2, std::size_t r3) {
                    max_of_four(x + r0 * m, x + r1 * m, x + r2 * m, x + r3 * m, y.data() + o * m,
                                arg.data() + o * m, m);
                });
            return;
        }
        max_pool_any(g, ctx.input(0).data(), y.data(), arg.data());
    }

    void backward(backward_context<T>& ctx) override {
        const geometry g = unpack(geo, ctx.input(0).shape()[1]);
        const T* dy = ctx.grad_output().data();
        const T* arg = ctx.saved(0).data();
        const std::size_t m = g.m;
        gradient_target<T> t = ctx.target(0);
        if (t.beta == T(0) && two_by_two(g)) {  // each pixel in at most one window: write dX once
            T* dx = t.buffer.data();
            for_each_two_by_two(
                g, [&](std::size_t o, std::size_t r0, std::size_t r1, std::size_t r2, std::size_t r3) {
                    spread_of_four(dy + o * m, arg + o * m, dx + r0 * m, dx + r1 * m, dx + r2 * m,
                                   dx + r3 * m, m);
                });
            clear_uncovered(g, dx);
            return;
        }
        max_pool_any_backward(g, dy, arg, t.buffer.data(), t.beta == T(0));
    }
};

/// relu and the 2×2 windows of a tiling in one pass over each window's 4 rows of A (a, b above c, d): each
/// tap's relu value h = max(a, 0) (relu's own arithmetic), y = the maximum of the four h, and one byte per
/// window: the tap (0–3) of the first maximum of the h in scan order (a NaN wins once and then stays, as
/// max_tap), plus 4 when y > 0 (relu′ at that tap: h > 0 exactly when A > 0 there).
template <class T>
void relu_max_of_four(const T* __restrict a, const T* __restrict b, const T* __restrict c,
                      const T* __restrict d, T* __restrict y, std::uint8_t* __restrict arg, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        T best = detail::relu_value(a[n]);
        std::uint32_t tap = 0;
        const T v[3] = {detail::relu_value(b[n]), detail::relu_value(c[n]), detail::relu_value(d[n])};
        for (std::uint32_t t = 0; t < 3; ++t) {
            const bool take = v[t] > best || (v[t] != v[t] && best == best);
            best = take ? v[t] : best;
            tap = take ? t + 1 : tap;
        }
        y[n] = best;
        arg[n] = static_cast<std::uint8_t>(tap | (best > T(0) ? 4u : 0u));
    }
}

/// The adjoint of relu_max_of_four onto fresh rows: the tap the byte names gets dY·relu′ (with `relu`; dY
/// without: max-pool's part alone), the other three 0.
template <bool relu, class T>
void relu_spread_of_four(const T* __restrict dy, const std::uint8_t* __restrict arg, T* __restrict a,
                         T* __restrict b, T* __restrict c, T* __restrict d, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const std::uint32_t t = arg[n], k = t & 3u;
        const T g = relu ? dy[n] * static_cast<T>(t >> 2) : dy[n];  // relu's dY ⊙ [A > 0], the same product
        a[n] = k == 0 ? g : T(0);
        b[n] = k == 1 ? g : T(0);
        c[n] = k == 2 ? g : T(0);
        d[n] = k == 3 ? g : T(0);
    }
}

#if XGRAD_CONV_STREAMS
/// relu_spread_of_four<true> for float rows of dA when dA is 16-byte aligned and m a multiple of 4 (then
/// every row, m floats long, is aligned too), with streaming stores: dA (conv1's 6.4 MB at batch 64) is
/// written without first reading each line into the cache. The same arithmetic (dY·relu′, then a select), 4
/// lanes at a time.
inline bool relu_spread_streams(const float* da, std::size_t m) {
    return (reinterpret_cast<std::uintptr_t>(da) & 15u) == 0 && m % 4 == 0;
}
inline void relu_spread_of_four_stream(const float* __restrict dy, const std::uint8_t* __restrict arg,
                                       float* __restrict a, float* __restrict b, float* __restrict c,
                                       float* __restrict d, std::size_t m) {
    const __m128i zero = _mm_setzero_si128(), three = _mm_set1_epi32(3);
    for (std::size_t n = 0; n < m; n += 4) {
        std::int32_t four;
        std::memcpy(&four, arg + n, 4);
        const __m128i t = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(four), zero), zero);
        const __m128i k = _mm_and_si128(t, three);
        const __m128 g = _mm_mul_ps(_mm_loadu_ps(dy + n), _mm_cvtepi32_ps(_mm_srli_epi32(t, 2)));
        _mm_stream_ps(a + n, _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, zero))));
        _mm_stream_ps(b + n, _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_set1_epi32(1)))));
        _mm_stream_ps(c + n, _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_set1_epi32(2)))));
        _mm_stream_ps(d + n, _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, three))));
    }
}
#endif

template <class T>
struct relu_max_pool2d_op final : op<T> {
    packed_geometry geo;
    relu_max_pool2d_op(const image_shape& in, const window2d& w) : geo(in, w) {}
    static constexpr op_rule rule{.name = "relu_max_pool2d",
                                  .forward = "maxpool(relu({x0:any}))",
                                  .gradients = {{0, "{dy} ⊙ [{y} > 0] to the first maximum of each window"}}};
    static constexpr op_doc doc{
        .calls = "`relu_max_pool2d(A, in, window)`",
        .inputs = {"A"},
        .output = "H",
        .input_shapes = {"C·H·W×m"},
        .output_shape = "C·Ho·Wo×m",
        .definition =
            ": [C·H·W×m] → [C·Ho·Wo×m]; H = max_pool2d(relu(A)) = relu(max_pool2d(A)) (relu is monotone)",
        .note =
            "relu then max_pool2d in one op, the same values and gradients bit for bit; ties: the first "
            "maximum of relu(A) in scan order; 2×2 windows with stride 2: one pass over A forward, one "
            "writing dA backward",
        .saves = "each window's tap and relu′ there [C·Ho·Wo×m] (one byte each for 2×2 windows)"};
    static var<double> example(example_inputs& in) {
        // 2 channels of 5×6 images, 2×2 windows (the last row is in no window)
        return relu_max_pool2d(in.variable(60, 3), image_shape{2, 5, 6}, window2d::pool(2));
    }
    const op_rule* describe() const override { return &rule; }

    static bool two_by_two(const geometry& g) { return g.kh == 2 && g.kw == 2 && tiles(g); }
    /// The bytes of two_by_two's taps, kept in a saved buffer of T.
    static shape2 byte_shape(std::size_t count) { return {(count + sizeof(T) - 1) / sizeof(T), 1}; }

    void forward(forward_context<T>& ctx) override {
        const geometry g = checked_geometry(ctx, geo, 0, true);
        const shape2 out{g.C * g.positions(), g.m};
        matrix<T>& y = ctx.output(out);
        const T* x = ctx.input(0).data();
        const std::size_t m = g.m;
        if (two_by_two(g)) {  // one pass per window: relu, maximum, tap and relu′
            auto* arg = reinterpret_cast<std::uint8_t*>(ctx.save(0, byte_shape(out[0] * m)).data());
            for_each_two_by_two(
                g, [&](std::size_t o, std::size_t r0, std::size_t r1, std::size_t r2, std::size_t r3) {
                    relu_max_of_four(x + r0 * m, x + r1 * m, x + r2 * m, x + r3 * m, y.data() + o * m,
                                     arg + o * m, m);
                });
            return;
        }
        // Any other window: relu's output H (kept), then max_pool2d's general path over it.
        matrix<T>& arg = ctx.save(0, out);
        matrix<T>& h = ctx.save(1, shape_of(ctx.input(0)));
        for (std::size_t k = 0, n = h.size(); k < n; ++k) h.data()[k] = detail::relu_value(x[k]);
        max_pool_any(g, h.data(), y.data(), arg.data());
    }

    void backward(backward_context<T>& ctx) override {
        const matrix<T>& a = ctx.input(0);
        const geometry g = unpack(geo, a.shape()[1]);
        const T* dy = ctx.grad_output().data();
        const std::size_t m = g.m;
        gradient_target<T> t = ctx.target(0);
        if (two_by_two(g) && t.beta == T(0)) {  // dA written once: dY·relu′ at each maximum, 0 elsewhere
            const auto* arg = reinterpret_cast<const std::uint8_t*>(ctx.saved(0).data());
            T* dx = t.buffer.data();
#if XGRAD_CONV_STREAMS
            if constexpr (std::is_same_v<T, float>) {
                if (relu_spread_streams(dx, m)) {
                    for_each_two_by_two(g, [&](std::size_t o, std::size_t r0, std::size_t r1, std::size_t r2,
                                               std::size_t r3) {
                        relu_spread_of_four_stream(dy + o * m, arg + o * m, dx + r0 * m, dx + r1 * m,
                                                   dx + r2 * m, dx + r3 * m, m);
                    });
                    _mm_sfence();
                    clear_uncovered(g, dx);
                    return;
                }
            }
#endif
            for_each_two_by_two(
                g, [&](std::size_t o, std::size_t r0, std::size_t r1, std::size_t r2, std::size_t r3) {
                    relu_spread_of_four<true>(dy + o * m, arg + o * m, dx + r0 * m, dx + r1 * m, dx + r2 * m,
                                              dx + r3 * m, m);
                });
            clear_uncovered(g, dx);
            return;
        }
        // Otherwise the two ops' backward in turn: max_pool2d's dH (a workspace), then relu's dA (+)= dH ⊙ [A
        // > 0].
        matrix<T>& dh = ctx.workspace(2, shape_of(a));
        if (two_by_two(g)) {
            const auto* arg = reinterpret_cast<const std::uint8_t*>(ctx.saved(0).data());
            T* d = dh.data();
            for_each_two_by_two(
                g, [&](std::size_t o, std::size_t r0, std::size_t r1, std::size_t r2, std::size_t r3) {
                    relu_spread_of_four<false>(dy + o * m, arg + o * m, d + r0 * m, d + r1 * m, d + r2 * m,
                                               d + r3 * m, m);
                });
            clear_uncovered(g, d);
        } else {
            max_pool_any_backward(g, dy, ctx.saved(0).data(), dh.data(), true);
        }
        const T* __restrict pa = a.data();
        const T* __restrict pg = dh.data();
        T* __restrict pd = t.buffer.data();
        const std::size_t n = a.size();
        if (t.beta == T(0)) {
            for (std::size_t k = 0; k < n; ++k) pd[k] = pg[k] * detail::relu_slope(pa[k]);
        } else {
            for (std::size_t k = 0; k < n; ++k) pd[k] += pg[k] * detail::relu_slope(pa[k]);
        }
    }
};

template <class T>
struct avg_pool2d_op final : op<T> {
    packed_geometry geo;
    avg_pool2d_op(const image_shape& in, const window2d& w) : geo(in, w) {}
    static constexpr op_rule rule{.name = "avg_pool2d",
                                  .forward = "avgpool({x0:any})",
                                  .gradients = {{0, "{dy}/(kh·kw) to every pixel of each window"}}};
    static constexpr op_doc doc{
        .calls = "`avg_pool2d(H, in, window)`",
        .inputs = {"H"},
        .input_shapes = {"C·H·W×m"},
        .output_shape = "C·Ho·Wo×m",
        .definition = ": [C·H·W×m] → [C·Ho·Wo×m]; Y[c, oy, ox] = (1/(kh·kw)) Σ over the window of H[c, ·, ·]",
        .note = "padding counts as zeros, as PyTorch's count_include_pad"};
    static var<double> example(example_inputs& in) {
        const window2d w{.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
        return avg_pool2d(in.variable(60, 3), image_shape{2, 5, 6}, w);
    }
    const op_rule* describe() const override { return &rule; }

    void forward(forward_context<T>& ctx) override {
        const geometry g = checked_geometry(ctx, geo, 0, true);
        matrix<T>& y = ctx.output({g.C * g.positions(), g.m});
        std::fill_n(y.data(), y.size(), T(0));
        const T* x = ctx.input(0).data();
        const std::size_t m = g.m;
        for_each_window_tap(g, [&](std::size_t o, std::size_t r, std::size_t, bool) {
            add_scaled(y.data() + o * m, x + r * m, T(1), m);
        });
        const T scale = T(1) / static_cast<T>(g.taps());
        for (auto& v : y) v *= scale;
    }

    void backward(backward_context<T>& ctx) override {
        const geometry g = unpack(geo, ctx.input(0).shape()[1]);
        const T* dy = ctx.grad_output().data();
        T* dx = scatter_target(ctx.target(0));
        const T scale = T(1) / static_cast<T>(g.taps());
        const std::size_t m = g.m;
        for_each_window_tap(g, [&](std::size_t o, std::size_t r, std::size_t, bool) {
            add_scaled(dx + r * m, dy + o * m, scale, m);
        });
    }
};

template <class T>
struct global_avg_pool_op final : op<T> {
    packed_geometry geo;
    explicit global_avg_pool_op(const image_shape& in) : geo(in, window2d{in.height, in.width}) {}
    static constexpr op_rule rule{.name = "global_avg_pool",
                                  .forward = "gap({x0:any})",
                                  .gradients = {{0, "{dy}/(H·W) to every pixel of its channel"}}};
    static constexpr op_doc doc{.calls = "`global_avg_pool(H, in)`",
                                .inputs = {"H"},
                                .input_shapes = {"C·H·W×m"},
                                .output_shape = "C×m",
                                .definition = ": [C·H·W×m] → [C×m]; Y[c] = (1/(H·W)) Σ_(y,x) H[c, y, x]"};
    static var<double> example(example_inputs& in) {
        return global_avg_pool(in.variable(30, 4), image_shape{2, 5, 3});
    }
    const op_rule* describe() const override { return &rule; }

    void forward(forward_context<T>& ctx) override {
        const geometry g = checked_geometry(ctx, geo, 0, false);
        matrix<T>& y = ctx.output({g.C, g.m});
        const std::size_t hw = g.H * g.W, m = g.m;
        const T* x = ctx.input(0).data();
        const T scale = T(1) / static_cast<T>(hw);
        for (std::size_t c = 0; c < g.C; ++c) {
            T* yc = y.data() + c * m;
            std::fill_n(yc, m, T(0));
            for (std::size_t p = 0; p < hw; ++p) {
                const T* xr = x + (c * hw + p) * m;
                for (std::size_t n = 0; n < m; ++n) yc[n] += xr[n];
            }
            for (std::size_t n = 0; n < m; ++n) yc[n] *= scale;
        }
    }

    void backward(backward_context<T>& ctx) override {
        const std::size_t m = ctx.input(0).shape()[1], hw = std::size_t(geo.h) * geo.w;
        const T* dy = ctx.grad_output().data();
        const T scale = T(1) / static_cast<T>(hw);
        gradient_target<T> t = ctx.target(0);
        write_gradient(t, [&](std::size_t k) {
            const std::size_t row = k / m, n = k % m;
            return scale * dy[(row / hw) * m + n];
        });
    }
};

/// Refuses a geometry that does not fit the op's packed storage before the op is made (window_problem's
/// message, naming the op and the caller).
void check_packable(std::string_view op, const image_shape& in, const window2d& w,
                    const std::source_location& loc) {
    constexpr std::size_t big = std::size_t(1) << 31;
    for (std::size_t v : {in.channels, in.height, in.width, w.kernel_h, w.kernel_w, w.stride_h, w.stride_w,
                          w.pad_h, w.pad_w, w.dilation_h, w.dilation_w}) {
        if (v >= big) {
            throw shape_error(detail::op_message(op,
                                                 fmt::format("window {} over images {}: {}", to_string(w),
                                                             to_string(in), window_problem(in, w)),
                                                 loc));
        }
    }
}

template <class Op, class T>
var<T> checked_window_apply(std::initializer_list<var<T>> inputs, const image_shape& in, const window2d& w,
                            const std::source_location& loc) {
    check_packable(Op::rule.name, in, w, loc);
    return apply<Op>(inputs, loc, in, w);
}

}  // namespace

XGRAD_OP_FUNCTION(conv2d,
                  (const var<T>& w, const var<T>& h, const var<T>& b, const image_shape& in,
                   const window2d& window),
                  checked_window_apply<conv2d_op<T>, T>({w, h, b}, in, window, loc))
XGRAD_OP_FUNCTION(max_pool2d, (const var<T>& h, const image_shape& in, const window2d& window),
                  checked_window_apply<max_pool2d_op<T>, T>({h}, in, window, loc))
XGRAD_OP_FUNCTION(relu_max_pool2d, (const var<T>& a, const image_shape& in, const window2d& window),
                  checked_window_apply<relu_max_pool2d_op<T>, T>({a}, in, window, loc))
XGRAD_OP_FUNCTION(avg_pool2d, (const var<T>& h, const image_shape& in, const window2d& window),
                  checked_window_apply<avg_pool2d_op<T>, T>({h}, in, window, loc))
XGRAD_OP_FUNCTION(global_avg_pool, (const var<T>& h, const image_shape& in),
                  (check_packable("global_avg_pool", in, window2d{in.height, in.width}, loc),
                   apply<global_avg_pool_op<T>>({h}, loc, in)))

namespace detail {
std::size_t conv2d_winograd_tile(const image_shape& in, const window2d& w) {
    return window_problem(in, w).empty() ? winograd_tile(unpack(packed_geometry(in, w), 1)) : 0;
}

void register_conv_ops(op_registry& r) {
    r.add_ops<conv2d_op, max_pool2d_op, relu_max_pool2d_op, avg_pool2d_op, global_avg_pool_op>("conv");
}
}  // namespace detail

}  // namespace xgrad
