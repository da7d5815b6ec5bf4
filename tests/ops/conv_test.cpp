// Tests of the convolution family: conv2d, max_pool2d, avg_pool2d, global_avg_pool (values, gradients, edge
// cases, bad input). Expected values come from the direct formulas written here as plain loops over
// (channel, row, column) — never from im2col or the library.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "support.hpp"

namespace {
using xgrad::image_shape;
using xgrad::matrix;
using xgrad::shape2;
using xgrad::window2d;
using xgrad::test::random_matrix;
using xgrad::test::shape_error_message;

constexpr double kRtol = 1e-12;
constexpr double kAtol = 1e-13;

/// Output rows/columns of a window by the formula of the header.
std::size_t out_extent(std::size_t n, std::size_t k, std::size_t s, std::size_t p, std::size_t d) {
    return (n + 2 * p - d * (k - 1) - 1) / s + 1;
}

/// The pixel (c, y, x) of example n in the CHWN layout; `inside` says whether (y, x) is in the image.
double pixel(const matrix<double>& x, const image_shape& in, std::size_t c, std::ptrdiff_t y,
             std::ptrdiff_t xx, std::size_t n, bool& inside) {
    inside = y >= 0 && xx >= 0 && y < static_cast<std::ptrdiff_t>(in.height) &&
             xx < static_cast<std::ptrdiff_t>(in.width);
    if (!inside) return 0.0;
    return x((c * in.height + static_cast<std::size_t>(y)) * in.width + static_cast<std::size_t>(xx), n);
}

/// A[k, oy, ox] = Σ_{c,i,j} W[k, c, i, j]·H[c, oy·s − p + i·d, ox·s − p + j·d] + b[k], directly.
matrix<double> loop_conv(const matrix<double>& w, const matrix<double>& x, const matrix<double>& b,
                         const image_shape& in, const window2d& win) {
    const std::size_t K = w.shape()[0], m = x.shape()[1];
    const std::size_t ho = out_extent(in.height, win.kernel_h, win.stride_h, win.pad_h, win.dilation_h);
    const std::size_t wo = out_extent(in.width, win.kernel_w, win.stride_w, win.pad_w, win.dilation_w);
    matrix<double> y({K * ho * wo, m});
    for (std::size_t k = 0; k < K; ++k) {
        for (std::size_t oy = 0; oy < ho; ++oy) {
            for (std::size_t ox = 0; ox < wo; ++ox) {
                for (std::size_t n = 0; n < m; ++n) {
                    double s = b(k, 0);
                    for (std::size_t c = 0; c < in.channels; ++c) {
                        for (std::size_t i = 0; i < win.kernel_h; ++i) {
                            for (std::size_t j = 0; j < win.kernel_w; ++j) {
                                bool inside;
                                const auto yy =
                                    static_cast<std::ptrdiff_t>(oy * win.stride_h + i * win.dilation_h) -
                                    static_cast<std::ptrdiff_t>(win.pad_h);
                                const auto xx =
                                    static_cast<std::ptrdiff_t>(ox * win.stride_w + j * win.dilation_w) -
                                    static_cast<std::ptrdiff_t>(win.pad_w);
                                const double v = pixel(x, in, c, yy, xx, n, inside);
                                s += w(k, (c * win.kernel_h + i) * win.kernel_w + j) * v;
                            }
                        }
                    }
                    y((k * ho + oy) * wo + ox, n) = s;
                }
            }
        }
    }
    return y;
}

/// Max or mean over each window, directly; for max also the input row of the first maximum (its gradient).
matrix<double> loop_pool(const matrix<double>& x, const image_shape& in, const window2d& win, bool is_max,
                         std::vector<std::ptrdiff_t>* argmax_rows = nullptr) {
    const std::size_t m = x.shape()[1];
    const std::size_t ho = out_extent(in.height, win.kernel_h, win.stride_h, win.pad_h, win.dilation_h);
    const std::size_t wo = out_extent(in.width, win.kernel_w, win.stride_w, win.pad_w, win.dilation_w);
    matrix<double> y({in.channels * ho * wo, m});
    if (argmax_rows) argmax_rows->assign(y.size(), -1);
    for (std::size_t c = 0; c < in.channels; ++c) {
        for (std::size_t oy = 0; oy < ho; ++oy) {
            for (std::size_t ox = 0; ox < wo; ++ox) {
                for (std::size_t n = 0; n < m; ++n) {
                    double best = -std::numeric_limits<double>::infinity(), sum = 0;
                    std::ptrdiff_t best_row = -1;
                    for (std::size_t i = 0; i < win.kernel_h; ++i) {
                        for (std::size_t j = 0; j < win.kernel_w; ++j) {
                            const auto yy =
                                static_cast<std::ptrdiff_t>(oy * win.stride_h + i * win.dilation_h) -
                                static_cast<std::ptrdiff_t>(win.pad_h);
                            const auto xx =
                                static_cast<std::ptrdiff_t>(ox * win.stride_w + j * win.dilation_w) -
                                static_cast<std::ptrdiff_t>(win.pad_w);
                            bool inside;
                            const double v = pixel(x, in, c, yy, xx, n, inside);
                            sum += v;
                            if (inside && (best_row < 0 || v > best)) {
                                best = v;
                                best_row = static_cast<std::ptrdiff_t>(
                                    (c * in.height + static_cast<std::size_t>(yy)) * in.width +
                                    static_cast<std::size_t>(xx));
                            }
                        }
                    }
                    const std::size_t o = (c * ho + oy) * wo + ox;
                    y(o, n) = is_max ? best : sum / static_cast<double>(win.kernel_h * win.kernel_w);
                    if (argmax_rows) (*argmax_rows)[o * m + n] = best_row;
                }
            }
        }
    }
    return y;
}

/// One random geometry: an image shape, a window over it, output channels, examples.
struct conv_case {
    image_shape in;
    window2d win;
    std::size_t K, m;
};

std::string describe(const conv_case& c) {
    return xgrad::to_string(c.in) + " window " + xgrad::to_string(c.win) + " K=" + std::to_string(c.K) +
           " m=" + std::to_string(c.m);
}

/// Fixed odd cases (stride 2, padding, non-square kernel and image, m = 1, C > 1, K > 1, dilation) and some
/// drawn from a fixed seed (kept only when the window fits).
std::vector<conv_case> conv_cases(std::uint64_t seed, std::size_t drawn) {
    std::vector<conv_case> cases = {
        {{1, 5, 5}, window2d::square(3), 1, 1},
        {{2, 5, 7},
         {.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},
         3,
         1},
        {{3, 6, 5},
         {.kernel_h = 2, .kernel_w = 3, .stride_h = 1, .stride_w = 2, .pad_h = 0, .pad_w = 2},
         2,
         3},
        {{2, 7, 6},
         {.kernel_h = 3,
          .kernel_w = 3,
          .stride_h = 2,
          .stride_w = 1,
          .pad_h = 2,
          .pad_w = 1,
          .dilation_h = 2,
          .dilation_w = 1},
         3,
         2},
        {{1, 4, 3}, {.kernel_h = 4, .kernel_w = 3}, 2, 2},  // kernel = image
        {{3, 3, 5}, window2d::square(1), 4, 3},             // 1×1 kernel (im2col is the identity)
        {{2, 5, 3}, window2d::square(1, 2, 1), 2, 2},       // 1×1 kernel with stride and padding
        {{2, 5, 4}, {.kernel_h = 1, .kernel_w = 1, .stride_h = 2}, 3, 2},  // 1×1, stride 2 down the rows only
    };
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> d(1, 7), k(1, 4), s(1, 3), p(0, 2);
    while (drawn > 0) {
        conv_case c{{d(rng) % 3 + 1, d(rng), d(rng)},
                    {k(rng), k(rng), s(rng), s(rng), p(rng), p(rng)},
                    d(rng) % 4 + 1,
                    d(rng) % 3 + 1};
        if (!xgrad::window_problem(c.in, c.win).empty()) continue;
        cases.push_back(c);
        --drawn;
    }
    return cases;
}

matrix<double> distinct_values(std::size_t r, std::size_t c, std::uint64_t seed) {
    // a shuffled ramp: no two values equal, and neighbours differ by ≥ 0.05 (keeps max-pool off ties in
    // gradchecks)
    std::vector<double> v(r * c);
    for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = 0.05 * static_cast<double>(i) - 0.025 * static_cast<double>(v.size());
    std::mt19937_64 rng(seed);
    std::shuffle(v.begin(), v.end(), rng);
    matrix<double> m({r, c});
    std::copy(v.begin(), v.end(), m.begin());
    return m;
}

}  // namespace

// ------------------------------------------------------------------------------------------------ geometry

TEST_CASE("conv: window_output follows the output-size formula", "[conv][geometry]") {
    const image_shape in{3, 28, 28};
    CHECK(xgrad::window_output(in, window2d::square(3, 1, 1), 32) == image_shape{32, 28, 28});
    CHECK(xgrad::window_output(in, window2d::pool(2), 3) == image_shape{3, 14, 14});
    CHECK(xgrad::window_output({1, 7, 5}, {.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 3}, 4) ==
          image_shape{4, out_extent(7, 3, 2, 0, 1), out_extent(5, 2, 3, 0, 1)});
    CHECK_THROWS_AS(xgrad::window_output({1, 2, 2}, window2d::square(3), 1), xgrad::argument_error);
    CHECK(xgrad::to_string(image_shape{1, 28, 28}) == "1×28×28");
}

// ------------------------------------------------------------------------------------------------ conv2d

TEST_CASE("conv: conv2d by hand on a 3×3 image", "[conv][conv2d]") {
    // image 1 2 3 / 4 5 6 / 7 8 9, kernel [[1, 0], [0, −1]]: each output is x[y][x] − x[y+1][x+1] = −4
    xgrad::graph<double> g;
    matrix<double> x({9, 1});
    for (std::size_t i = 0; i < 9; ++i) x(i, 0) = static_cast<double>(i + 1);
    const matrix<double> w = {{1.0, 0.0, 0.0, -1.0}};
    const matrix<double> b = {{0.5}};
    auto y = xgrad::conv2d(g.constant(w), g.constant(x), g.constant(b), {1, 3, 3}, window2d::square(2));
    REQUIRE(y.shape() == shape2{4, 1});
    for (std::size_t i = 0; i < 4; ++i) CHECK(y.value()(i, 0) == -4.0 + 0.5);
}

TEST_CASE("conv: conv2d values match the direct formula", "[conv][conv2d]") {
    std::uint64_t seed = 100;
    for (const conv_case& c : conv_cases(11, 12)) {
        INFO(describe(c) << " seed " << seed);
        const matrix<double> w = random_matrix(c.K, c.in.channels * c.win.kernel_h * c.win.kernel_w, seed++),
                             x = random_matrix(c.in.size(), c.m, seed++), b = random_matrix(c.K, 1, seed++);
        xgrad::graph<double> g;
        auto y = xgrad::conv2d(g.constant(w), g.constant(x), g.constant(b), c.in, c.win);
        XGRAD_REQUIRE_CLOSE(y.value(), loop_conv(w, x, b, c.in, c.win), kRtol, kAtol);
    }
}

TEST_CASE("conv: conv2d gradcheck at odd shapes (stride 2, padding, non-square, m = 1, dilation)",
          "[conv][conv2d][gradcheck]") {
    std::uint64_t seed = 200;
    for (const conv_case& c : conv_cases(12, 4)) {
        INFO(describe(c) << " seed " << seed);
        const auto r =
            xgrad::gradcheck([&](auto v) { return xgrad::conv2d(v[0], v[1], v[2], c.in, c.win); },
                             {random_matrix(c.K, c.in.channels * c.win.kernel_h * c.win.kernel_w, seed),
                              random_matrix(c.in.size(), c.m, seed + 1), random_matrix(c.K, 1, seed + 2)});
        seed += 3;
        INFO(r.report);
        CHECK(r.ok);
    }
}

TEST_CASE("conv: conv2d backward adds into gradients already delivered (an input used twice)",
          "[conv][conv2d][gradcheck]") {
    const image_shape in{2, 5, 4};
    const window2d win{.kernel_h = 2, .kernel_w = 3, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1};
    // X feeds two convolutions, and W two: every gradient gets a second contribution (β = 1)
    const auto r = xgrad::gradcheck(
        [&](auto v) {
            auto a = xgrad::conv2d(v[0], v[1], v[2], in, win);
            auto c = xgrad::conv2d(v[0], v[1] * v[1], v[2], in, win);
            return a * c;
        },
        {random_matrix(3, 12, 31), random_matrix(40, 2, 32), random_matrix(3, 1, 33)});
    INFO(r.report);
    CHECK(r.ok);
}

TEST_CASE("conv: a kernel as large as the image is a dense layer", "[conv][conv2d][edge]") {
    // W·vec(X) + b: the window sees the whole image once, and im2col's one column per example is X itself
    const image_shape in{2, 3, 4};
    const matrix<double> w = random_matrix(5, 24, 41), x = random_matrix(24, 3, 42),
                         b = random_matrix(5, 1, 43);
    xgrad::graph<double> g;
    auto vw = g.variable(w), vx = g.variable(x), vb = g.variable(b);
    auto y = xgrad::conv2d(vw, vx, vb, in, {.kernel_h = 3, .kernel_w = 4});
    auto d = xgrad::linear(g.constant(w), g.constant(x), g.constant(b));
    REQUIRE(y.shape() == shape2{5, 3});
    XGRAD_REQUIRE_CLOSE(y.value(), d.value(), kRtol, kAtol);
    const matrix<double> seed = random_matrix(5, 3, 44);
    g.backward(y, seed);
    // dW = dY·Xᵀ, dX = Wᵀ·dY, db = Σ_columns dY: by loops
    matrix<double> dw({5, 24}), dx({24, 3}), db({5, 1});
    for (std::size_t k = 0; k < 5; ++k) {
        double s = 0;
        for (std::size_t n = 0; n < 3; ++n) s += seed(k, n);
        db(k, 0) = s;
        for (std::size_t r = 0; r < 24; ++r) {
            double t = 0;
            for (std::size_t n = 0; n < 3; ++n) t += seed(k, n) * x(r, n);
            dw(k, r) = t;
        }
    }
    for (std::size_t r = 0; r < 24; ++r) {
        for (std::size_t n = 0; n < 3; ++n) {
            double t = 0;
            for (std::size_t k = 0; k < 5; ++k) t += w(k, r) * seed(k, n);
            dx(r, n) = t;
        }
    }
    XGRAD_REQUIRE_CLOSE(vw.grad(), dw, kRtol, kAtol);
    XGRAD_REQUIRE_CLOSE(vx.grad(), dx, kRtol, kAtol);
    XGRAD_REQUIRE_CLOSE(vb.grad(), db, kRtol, kAtol);
}

TEST_CASE("conv: a 1×1 kernel mixes channels pixel by pixel", "[conv][conv2d][edge]") {
    const image_shape in{3, 2, 5};
    const matrix<double> w = random_matrix(4, 3, 51), x = random_matrix(30, 2, 52),
                         b = random_matrix(4, 1, 53);
    xgrad::graph<double> g;
    auto y = xgrad::conv2d(g.constant(w), g.constant(x), g.constant(b), in, window2d::square(1));
    for (std::size_t k = 0; k < 4; ++k) {
        for (std::size_t p = 0; p < 10; ++p) {
            for (std::size_t n = 0; n < 2; ++n) {
                double s = b(k, 0);
                for (std::size_t c = 0; c < 3; ++c) s += w(k, c) * x(c * 10 + p, n);
                CHECK(std::abs(y.value()(k * 10 + p, n) - s) <= 1e-13);
            }
        }
    }
}

TEST_CASE("conv: conv2d in float matches double", "[conv][conv2d][float]") {
    const image_shape in{2, 6, 5};
    const window2d win = window2d::square(3, 2, 1);
    const matrix<double> w = random_matrix(3, 18, 61), x = random_matrix(60, 4, 62),
                         b = random_matrix(3, 1, 63);
    const matrix<double> seed = random_matrix(3 * 9, 4, 64);
    xgrad::graph<double> gd;
    auto wd = gd.variable(w), xd = gd.variable(x), bd = gd.variable(b);
    auto yd = xgrad::conv2d(wd, xd, bd, in, win);
    gd.backward(yd, seed);
    xgrad::graph<float> gf;
    using xgrad::test::to_float;
    auto wf = gf.variable(to_float(w)), xf = gf.variable(to_float(x)), bf = gf.variable(to_float(b));
    auto yf = xgrad::conv2d(wf, xf, bf, in, win);
    gf.backward(yf, to_float(seed));
    using xgrad::test::to_double;
    XGRAD_REQUIRE_CLOSE(to_double(yf.value()), yd.value(), 1e-5, 1e-5);
    XGRAD_REQUIRE_CLOSE(to_double(wf.grad()), wd.grad(), 1e-5, 1e-5);
    XGRAD_REQUIRE_CLOSE(to_double(xf.grad()), xd.grad(), 1e-5, 1e-5);
    XGRAD_REQUIRE_CLOSE(to_double(bf.grad()), bd.grad(), 1e-5, 1e-5);
}

namespace {

/// The gradients of Σ G ⊙ conv2d(W, H, b) by the direct formula: dW[k, c, i, j] = Σ_(oy,ox,n) G[k, oy, ox,
/// n]· H[c, oy·s − p + i·d, ox·s − p + j·d, n], dH the same products scattered to the pixels, db[k] = Σ G[k].
void loop_conv_gradients(const matrix<double>& w, const matrix<double>& x, const matrix<double>& gy,
                         const image_shape& in, const window2d& win, matrix<double>& dw, matrix<double>& dx,
                         matrix<double>& db) {
    const std::size_t K = w.shape()[0], m = x.shape()[1];
    const std::size_t ho = out_extent(in.height, win.kernel_h, win.stride_h, win.pad_h, win.dilation_h);
    const std::size_t wo = out_extent(in.width, win.kernel_w, win.stride_w, win.pad_w, win.dilation_w);
    dw = matrix<double>(w.shape(), 0.0);
    dx = matrix<double>(x.shape(), 0.0);
    db = matrix<double>({K, 1}, 0.0);
    for (std::size_t k = 0; k < K; ++k) {
        for (std::size_t oy = 0; oy < ho; ++oy) {
            for (std::size_t ox = 0; ox < wo; ++ox) {
                for (std::size_t n = 0; n < m; ++n) {
                    const double g = gy((k * ho + oy) * wo + ox, n);
                    db(k, 0) += g;
                    for (std::size_t c = 0; c < in.channels; ++c) {
                        for (std::size_t i = 0; i < win.kernel_h; ++i) {
                            for (std::size_t j = 0; j < win.kernel_w; ++j) {
                                const auto yy =
                                    static_cast<std::ptrdiff_t>(oy * win.stride_h + i * win.dilation_h) -
                                    static_cast<std::ptrdiff_t>(win.pad_h);
                                const auto xx =
                                    static_cast<std::ptrdiff_t>(ox * win.stride_w + j * win.dilation_w) -
                                    static_cast<std::ptrdiff_t>(win.pad_w);
                                bool inside;
                                const double v = pixel(x, in, c, yy, xx, n, inside);
                                if (!inside) continue;
                                const std::size_t tap = (c * win.kernel_h + i) * win.kernel_w + j;
                                dw(k, tap) += g * v;
                                dx((c * in.height + static_cast<std::size_t>(yy)) * in.width +
                                       static_cast<std::size_t>(xx),
                                   n) += g * w(k, tap);
                            }
                        }
                    }
                }
            }
        }
    }
}

}  // namespace

TEST_CASE("conv: conv2d over many im2col blocks matches the direct formula (values and gradients)",
          "[conv][conv2d][blocks]") {
    // conv2d multiplies block by block of output positions (a block's im2col and output columns are at most
    // 512 KiB); these cases' im2col alone (C·kh·kw × Ho·Wo·m doubles, ≥ 900 KiB) takes two or more blocks,
    // and some block boundaries fall inside an output row. Gradients: first onto buffers still holding Inf (β
    // = 0 must overwrite), then a second contribution of the same op (β = 1 must add, on every block).
    const std::vector<conv_case> cases = {
        {{4, 10, 10}, window2d::square(3, 1, 1), 3, 33},
        {{3, 19, 17},
         {.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1},
         2,
         40},
        {{2, 12, 13},
         {.kernel_h = 3,
          .kernel_w = 3,
          .stride_h = 1,
          .stride_w = 2,
          .pad_h = 2,
          .pad_w = 0,
          .dilation_h = 2,
          .dilation_w = 1},
         4,
         150},
    };
    std::uint64_t seed = 700;
    for (const conv_case& c : cases) {
        INFO(describe(c));
        const std::size_t ckk = c.in.channels * c.win.kernel_h * c.win.kernel_w;
        const image_shape out = xgrad::window_output(c.in, c.win, c.K);
        REQUIRE(ckk * out.height * out.width * c.m * sizeof(double) > std::size_t(900) << 10);
        const matrix<double> w = random_matrix(c.K, ckk, seed++), x = random_matrix(c.in.size(), c.m, seed++),
                             b = random_matrix(c.K, 1, seed++), gy = random_matrix(out.size(), c.m, seed++);
        matrix<double> dw, dx, db;
        loop_conv_gradients(w, x, gy, c.in, c.win, dw, dx, db);
        const double inf = std::numeric_limits<double>::infinity();
        xgrad::graph<double> g;
        auto vw = g.variable(w), vx = g.variable(x), vb = g.variable(b);
        auto y = xgrad::conv2d(vw, vx, vb, c.in, c.win);
        XGRAD_REQUIRE_CLOSE(y.value(), loop_conv(w, x, b, c.in, c.win), kRtol, kAtol);
        g.backward(y, matrix<double>(gy.shape(), inf));
        g.zero_grad();
        g.backward(y, gy);
        XGRAD_REQUIRE_CLOSE(vw.grad(), dw, kRtol, kAtol);
        XGRAD_REQUIRE_CLOSE(vx.grad(), dx, kRtol, kAtol);
        XGRAD_REQUIRE_CLOSE(vb.grad(), db, kRtol, kAtol);
        g.zero_grad();
        g.backward(y + xgrad::conv2d(vw, vx, vb, c.in, c.win), gy);
        XGRAD_REQUIRE_CLOSE(vw.grad(), matrix<double>(2.0 * dw), kRtol, kAtol);
        XGRAD_REQUIRE_CLOSE(vx.grad(), matrix<double>(2.0 * dx), kRtol, kAtol);
        XGRAD_REQUIRE_CLOSE(vb.grad(), matrix<double>(2.0 * db), kRtol, kAtol);
    }
}

TEST_CASE("conv: conv2d by im2col with only dW or only db wanted matches the direct formula",
          "[conv][conv2d][blocks]") {
    // With both dW and db wanted, db rides in dW's gemm as a row of ones under im2col's columns; with one of
    // them constant, each is computed alone. Few-tap kernels (a first layer's) over many positions, so that
    // the blocks are bounded by the gemm size as well as the cache: several blocks, boundaries inside output
    // rows; m = 1 and odd shapes; double and float.
    const std::vector<conv_case> cases = {
        {{1, 28, 27}, window2d::square(3, 1, 1), 8, 40},
        {{1, 13, 11},
         {.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 0},
         5,
         1},
        {{2, 30, 31}, window2d::square(2, 1, 0), 7, 33},
    };
    std::uint64_t seed = 900;
    for (const conv_case& c : cases) {
        INFO(describe(c));
        const std::size_t ckk = c.in.channels * c.win.kernel_h * c.win.kernel_w;
        const image_shape out = xgrad::window_output(c.in, c.win, c.K);
        const matrix<double> w = random_matrix(c.K, ckk, seed++), x = random_matrix(c.in.size(), c.m, seed++),
                             b = random_matrix(c.K, 1, seed++), gy = random_matrix(out.size(), c.m, seed++);
        matrix<double> dw, dx, db;
        loop_conv_gradients(w, x, gy, c.in, c.win, dw, dx, db);
        for (int wanted = 0; wanted < 3; ++wanted) {  // 0: dW only, 1: db only, 2: both
            INFO("wanted " << wanted);
            xgrad::graph<double> g;
            auto vw = wanted == 1 ? g.constant(w) : g.variable(w);
            auto vb = wanted == 0 ? g.constant(b) : g.variable(b);
            auto vx = g.constant(x);
            auto y = xgrad::conv2d(vw, vx, vb, c.in, c.win);
            XGRAD_REQUIRE_CLOSE(y.value(), loop_conv(w, x, b, c.in, c.win), kRtol, kAtol);
            g.backward(y, gy);
            // sums of up to Ho·Wo·m ≈ 3·10⁴ products, in another order than the direct loops'
            if (wanted != 1) XGRAD_REQUIRE_CLOSE(vw.grad(), dw, 1e-10, 1e-10);
            if (wanted != 0) XGRAD_REQUIRE_CLOSE(vb.grad(), db, 1e-10, 1e-10);

            using xgrad::test::to_double;
            using xgrad::test::to_float;
            xgrad::graph<float> gf;
            auto fw = wanted == 1 ? gf.constant(to_float(w)) : gf.variable(to_float(w));
            auto fb = wanted == 0 ? gf.constant(to_float(b)) : gf.variable(to_float(b));
            auto fx = gf.variable(to_float(x));
            auto yf = xgrad::conv2d(fw, fx, fb, c.in, c.win);
            XGRAD_REQUIRE_CLOSE(to_double(yf.value()), loop_conv(w, x, b, c.in, c.win), 1e-5, 1e-5);
            gf.backward(yf, to_float(gy));
            // the same sums in float
            if (wanted != 1) XGRAD_REQUIRE_CLOSE(to_double(fw.grad()), dw, 1e-4, 1e-3);
            if (wanted != 0) XGRAD_REQUIRE_CLOSE(to_double(fb.grad()), db, 1e-4, 1e-3);
            XGRAD_REQUIRE_CLOSE(to_double(fx.grad()), dx, 1e-4, 1e-4);
        }
    }
}

namespace {

/// 3×3 stride-1 cases that conv2d computes by Winograd, with the output tile r each takes: odd and even H and
/// W (partial last tiles), padding 0, 1, 2, m = 1 and m = 5, C and K not multiples of anything, non-square
/// images, a single partial tile, and one case of many blocks of tiles (a block's V and M are at most 512
/// KiB).
struct winograd_case {
    conv_case c;
    std::size_t tile;
};
std::vector<winograd_case> winograd_cases() {
    return {
        {{{4, 7, 9}, window2d::square(3, 1, 1), 3, 5}, 2},   // Ho × Wo = 7 × 9: partial last row and column
        {{{5, 6, 8}, window2d::square(3, 1, 0), 7, 1}, 2},   // 4 × 6: whole tiles
        {{{6, 5, 10}, window2d::square(3, 1, 2), 5, 5}, 2},  // 7 × 12, padding 2
        {{{4, 3, 3}, window2d::square(3, 1, 0), 2, 1}, 2},   // 1 × 1: one tile, three quarters of it missing
        {{{7, 9, 4}, window2d::square(3, 1, 1), 6, 5}, 2},   // 9 × 4
        {{{5, 4, 11}, window2d::square(3, 1, 2), 1, 1}, 2},  // K = 1, 6 × 13
        {{{4, 10, 9}, window2d::square(3, 1, 1), 3, 5}, 4},  // 10 × 9: partial last tiles (2 and 1 of 4)
        {{{5, 13, 12}, window2d::square(3, 1, 0), 2, 1}, 4},   // 11 × 10
        {{{6, 9, 11}, window2d::square(3, 1, 2), 5, 5}, 4},    // 11 × 13, padding 2
        {{{5, 8, 8}, window2d::square(3, 1, 1), 7, 2}, 4},     // 8 × 8: whole tiles
        {{{8, 14, 13}, window2d::square(3, 1, 1), 9, 40}, 4},  // 16 tiles in blocks of 2
        {{{8, 7, 40}, window2d::square(3, 1, 1), 9, 40}, 2},   // 80 tiles in blocks of 6 (the last one short)
    };
}

/// Winograd's conv2d against the direct loops in T: values, then gradients first onto buffers holding Inf
/// (β = 0 must overwrite), then with a second contribution of the same op (β = 1 must add). Returns the
/// largest |difference| / (1 + |direct|) over values and gradients.
template <class T>
double winograd_against_loops(const conv_case& c, std::uint64_t seed, double rtol, double atol) {
    using xgrad::test::to_double;
    using xgrad::test::to_float;
    const auto in_t = [](const matrix<double>& a) {
        if constexpr (std::is_same_v<T, float>) {
            return to_float(a);
        } else {
            return a;
        }
    };
    const auto back = [](const matrix<T>& a) {
        if constexpr (std::is_same_v<T, float>) {
            return to_double(a);
        } else {
            return a;
        }
    };
    const std::size_t ckk = c.in.channels * 9;
    const image_shape out = xgrad::window_output(c.in, c.win, c.K);
    // values rounded to T first, so that the direct loops see the same inputs
    const matrix<double> w = back(in_t(random_matrix(c.K, ckk, seed))),
                         x = back(in_t(random_matrix(c.in.size(), c.m, seed + 1))),
                         b = back(in_t(random_matrix(c.K, 1, seed + 2))),
                         gy = back(in_t(random_matrix(out.size(), c.m, seed + 3)));
    matrix<double> dw, dx, db;
    loop_conv_gradients(w, x, gy, c.in, c.win, dw, dx, db);
    double worst = 0;
    const auto check = [&](const matrix<T>& got, const matrix<double>& want) {
        const matrix<double> g = back(got);
        XGRAD_REQUIRE_CLOSE(g, want, rtol, atol);
        for (std::size_t i = 0; i < want.size(); ++i)
            worst = std::max(worst, std::abs(g.data()[i] - want.data()[i]) / (1 + std::abs(want.data()[i])));
    };
    const T inf = std::numeric_limits<T>::infinity();
    xgrad::graph<T> g;
    auto vw = g.variable(in_t(w)), vx = g.variable(in_t(x)), vb = g.variable(in_t(b));
    auto y = xgrad::conv2d(vw, vx, vb, c.in, c.win);
    check(y.value(), loop_conv(w, x, b, c.in, c.win));
    g.backward(y, matrix<T>(gy.shape(), inf));
    g.zero_grad();
    g.backward(y, in_t(gy));
    check(vw.grad(), dw);
    check(vx.grad(), dx);
    check(vb.grad(), db);
    g.zero_grad();
    g.backward(y + xgrad::conv2d(vw, vx, vb, c.in, c.win), in_t(gy));
    check(vw.grad(), matrix<double>(2.0 * dw));
    check(vx.grad(), matrix<double>(2.0 * dx));
    check(vb.grad(), matrix<double>(2.0 * db));
    return worst;
}

}  // namespace

TEST_CASE("conv: 3×3 stride-1 kernels over ≥ 4 channels take the Winograd path (4×4 tiles on ≥ 8×8 outputs)",
          "[conv][conv2d][winograd]") {
    for (const winograd_case& w : winograd_cases()) {
        INFO(describe(w.c));
        CHECK(xgrad::detail::conv2d_winograd_tile(w.c.in, w.c.win) == w.tile);
    }
    using xgrad::detail::conv2d_winograd_tile;
    CHECK(conv2d_winograd_tile({32, 14, 14}, window2d::square(3, 1, 1)) == 4);    // the default CNN's conv2
    CHECK(conv2d_winograd_tile({1, 28, 28}, window2d::square(3, 1, 1)) == 0);     // its conv1: C = 1
    CHECK(conv2d_winograd_tile({8, 9, 9}, window2d::square(3, 2, 1)) == 0);       // stride 2
    CHECK(conv2d_winograd_tile({8, 9, 9}, {.kernel_h = 3, .kernel_w = 2}) == 0);  // 3×2
    CHECK(conv2d_winograd_tile({8, 9, 9}, window2d::square(5)) == 0);
    const window2d dilated{.kernel_h = 3, .kernel_w = 3, .dilation_h = 2, .dilation_w = 2};
    CHECK(conv2d_winograd_tile({8, 9, 9}, dilated) == 0);
    CHECK(conv2d_winograd_tile({8, 2, 9}, window2d::square(3)) == 0);  // the window does not fit
}

TEST_CASE("conv: conv2d by Winograd matches the direct formula in double (values and gradients)",
          "[conv][conv2d][winograd]") {
    // F(4×4, 3×3)'s transforms hold larger numbers (up to 8, down to 1/24) than F(2×2, 3×3)'s (1, ½): its
    // rounding is larger, hence the wider tolerance
    std::uint64_t seed = 900;
    double worst[5] = {};
    for (const winograd_case& w : winograd_cases()) {
        INFO(describe(w.c));
        REQUIRE(xgrad::detail::conv2d_winograd_tile(w.c.in, w.c.win) == w.tile);
        const double tol = w.tile == 4 ? 1e-11 : kRtol;
        worst[w.tile] = std::max(worst[w.tile], winograd_against_loops<double>(w.c, seed, tol, tol));
        seed += 4;
    }
    WARN("Winograd in double: largest |difference|/(1 + |direct|) " << worst[2] << " with 2×2 tiles, "
                                                                    << worst[4] << " with 4×4");
}

TEST_CASE("conv: conv2d by Winograd in float matches the direct formula (values and gradients)",
          "[conv][conv2d][winograd][float]") {
    std::uint64_t seed = 950;
    double worst[5] = {};
    for (const winograd_case& w : winograd_cases()) {
        INFO(describe(w.c));
        const double tol = w.tile == 4 ? 3e-4 : 5e-5;
        worst[w.tile] = std::max(worst[w.tile], winograd_against_loops<float>(w.c, seed, tol, tol));
        seed += 4;
    }
    WARN("Winograd in float: largest |difference|/(1 + |direct|) " << worst[2] << " with 2×2 tiles, "
                                                                   << worst[4] << " with 4×4");
}

TEST_CASE("conv: conv2d by Winograd gradchecks at odd shapes", "[conv][conv2d][winograd][gradcheck]") {
    const std::vector<winograd_case> cases = {
        {{{5, 5, 7}, window2d::square(3, 1, 1), 3, 2}, 2},
        {{{4, 6, 3}, window2d::square(3, 1, 2), 2, 1}, 2},
        {{{4, 9, 11}, window2d::square(3, 1, 1), 2, 1}, 4},
    };
    std::uint64_t seed = 980;
    for (const winograd_case& w : cases) {
        const conv_case& c = w.c;
        INFO(describe(c));
        REQUIRE(xgrad::detail::conv2d_winograd_tile(c.in, c.win) == w.tile);
        const auto r =
            xgrad::gradcheck([&](auto v) { return xgrad::conv2d(v[0], v[1], v[2], c.in, c.win); },
                             {random_matrix(c.K, c.in.channels * 9, seed),
                              random_matrix(c.in.size(), c.m, seed + 1), random_matrix(c.K, 1, seed + 2)});
        seed += 3;
        INFO(r.report);
        CHECK(r.ok);
    }
}

TEST_CASE("conv: conv2d on a batch of no examples gives empty values and zero weight gradients",
          "[conv][conv2d][edge]") {
    // m = 0: the output has no columns, dW and db are sums over no examples (0), dH has no columns
    const image_shape in{2, 5, 4};
    const window2d win = window2d::square(3, 1, 1);
    xgrad::graph<double> g;
    auto w = g.variable(random_matrix(3, 18, 61)), b = g.variable(random_matrix(3, 1, 62));
    auto x = g.variable(matrix<double>({in.size(), 0}));
    auto y = xgrad::conv2d(w, x, b, in, win);
    REQUIRE(y.shape() == shape2{3 * 20, 0});
    g.backward(y, matrix<double>({3 * 20, 0}));
    XGRAD_REQUIRE_CLOSE(w.grad(), matrix<double>({3, 18}, 0.0), 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(b.grad(), matrix<double>({3, 1}, 0.0), 0.0, 0.0);
    REQUIRE(xgrad::shape_of(x.grad()) == shape2{in.size(), 0});
}

TEST_CASE("conv: conv2d bad input names the op, the geometry and the call site", "[conv][conv2d][error]") {
    xgrad::graph<double> g;
    auto w = g.variable(random_matrix(2, 9, 1), "W"), b = g.variable(random_matrix(2, 1, 2), "b");
    auto x = g.constant(random_matrix(25, 3, 3), "X");
    SECTION("rows that are not C·H·W") {
        const std::string msg = shape_error_message([&] {
            xgrad::conv2d(w, x, b, {1, 6, 5}, window2d::square(3));
        });
        CHECK_THAT(msg, Catch::Contains("conv2d") && Catch::Contains("1×6×5") && Catch::Contains("[25×3]") &&
                            Catch::Contains("30 rows") && Catch::Contains("conv_test.cpp"));
    }
    SECTION("a kernel larger than the padded image") {
        auto w7 = g.variable(random_matrix(2, 49, 4));
        const std::string msg = shape_error_message([&] {
            xgrad::conv2d(w7, x, b, {1, 5, 5}, window2d::square(7));
        });
        CHECK_THAT(msg, Catch::Contains("conv2d") && Catch::Contains("7×7") &&
                            Catch::Contains("larger than the padded image") &&
                            Catch::Contains("conv_test.cpp"));
        // with padding 1 it fits
        CHECK(xgrad::conv2d(w7, x, b, {1, 5, 5}, window2d::square(7, 1, 1)).shape() == shape2{2, 3});
    }
    SECTION("zero stride") {
        const std::string msg = shape_error_message([&] {
            xgrad::conv2d(w, x, b, {1, 5, 5}, window2d::square(3, 0));
        });
        CHECK_THAT(msg, Catch::Contains("conv2d") && Catch::Contains("stride must be at least 1") &&
                            Catch::Contains("1×5×5") && Catch::Contains("conv_test.cpp"));
    }
    SECTION("weights with the wrong number of columns for the kernel") {
        const std::string msg = shape_error_message([&] {
            xgrad::conv2d(w, x, b, {1, 5, 5}, window2d::square(2));
        });
        CHECK_THAT(msg, Catch::Contains("conv2d") && Catch::Contains("W") && Catch::Contains("[2×9]") &&
                            Catch::Contains("4 columns") && Catch::Contains("conv_test.cpp"));
    }
    SECTION("a bias that is not one per output channel") {
        auto b3 = g.variable(random_matrix(1, 2, 5), "b3");
        const std::string msg = shape_error_message([&] {
            xgrad::conv2d(w, x, b3, {1, 5, 5}, window2d::square(3));
        });
        CHECK_THAT(msg, Catch::Contains("conv2d") && Catch::Contains("b3") && Catch::Contains("[2×1]") &&
                            Catch::Contains("conv_test.cpp"));
    }
    SECTION("an absurd geometry is refused before anything is allocated") {
        const std::string msg = shape_error_message([&] {
            xgrad::conv2d(w, x, b, {std::size_t(1) << 40, 5, 5}, window2d::square(3));
        });
        CHECK_THAT(msg, Catch::Contains("conv2d") && Catch::Contains("too large") &&
                            Catch::Contains("conv_test.cpp"));
    }
}

// ------------------------------------------------------------------------------------------------ pooling

TEST_CASE("conv: max_pool2d and avg_pool2d values match the direct formula", "[conv][pool]") {
    const std::vector<std::pair<image_shape, window2d>> cases = {
        {{1, 4, 4}, window2d::pool(2)},
        {{2, 5, 7}, window2d::pool(2)},  // the last row and column are not covered
        {{3, 5, 6}, {.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1}},
        {{2, 6, 5},
         {.kernel_h = 3,
          .kernel_w = 3,
          .stride_h = 1,
          .stride_w = 2,
          .pad_h = 1,
          .pad_w = 0,
          .dilation_h = 2,
          .dilation_w = 1}},
        {{1, 3, 5}, {.kernel_h = 3, .kernel_w = 5}},  // kernel = image
    };
    std::uint64_t seed = 300;
    for (const auto& [in, win] : cases) {
        for (std::size_t m : {std::size_t(1), std::size_t(3)}) {
            INFO(xgrad::to_string(in) << " window " << xgrad::to_string(win) << " m=" << m);
            const matrix<double> x = random_matrix(in.size(), m, seed++);
            xgrad::graph<double> g;
            auto mx = xgrad::max_pool2d(g.constant(x), in, win);
            auto av = xgrad::avg_pool2d(g.constant(x), in, win);
            XGRAD_REQUIRE_CLOSE(mx.value(), loop_pool(x, in, win, true), 0.0, 0.0);
            XGRAD_REQUIRE_CLOSE(av.value(), loop_pool(x, in, win, false), kRtol, kAtol);
        }
    }
}

TEST_CASE("conv: pooling gradcheck at odd shapes", "[conv][pool][gradcheck]") {
    const std::vector<std::pair<image_shape, window2d>> cases = {
        {{2, 5, 7}, window2d::pool(2)},
        {{3, 5, 6}, {.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1}},
        {{1, 7, 4},
         {.kernel_h = 2, .kernel_w = 2, .stride_h = 3, .stride_w = 2, .dilation_h = 2, .dilation_w = 1}},
    };
    std::uint64_t seed = 400;
    for (const auto& [in, win] : cases) {
        for (std::size_t m : {std::size_t(1), std::size_t(2)}) {
            INFO(xgrad::to_string(in) << " window " << xgrad::to_string(win) << " m=" << m);
            const auto rm = xgrad::gradcheck([&](auto v) { return xgrad::max_pool2d(v[0], in, win); },
                                             {distinct_values(in.size(), m, seed++)});
            INFO(rm.report);
            CHECK(rm.ok);
            const auto ra = xgrad::gradcheck([&](auto v) { return xgrad::avg_pool2d(v[0], in, win); },
                                             {random_matrix(in.size(), m, seed++)});
            INFO(ra.report);
            CHECK(ra.ok);
        }
    }
}

TEST_CASE("conv: max_pool2d ties send the gradient to the first maximum in scan order",
          "[conv][pool][edge]") {
    // overlapping windows (3×3, stride 1) over an image with repeated values: by loops, the gradient of each
    // window goes to its first maximum, row by row, left to right; overlapping windows add up.
    const image_shape in{2, 4, 5};
    const window2d win = window2d::square(3, 1, 1);
    matrix<double> x({in.size(), 2});
    for (std::size_t r = 0; r < in.size(); ++r) {
        x(r, 0) = 1.0;                               // all equal: every window is a tie
        x(r, 1) = static_cast<double>((r * 7) % 3);  // many ties of 2
    }
    std::vector<std::ptrdiff_t> arg;
    const matrix<double> expected_y = loop_pool(x, in, win, true, &arg);
    const matrix<double> dy = random_matrix(expected_y.shape()[0], 2, 77);
    matrix<double> expected_dx({in.size(), 2}, 0.0);
    for (std::size_t o = 0; o < expected_y.shape()[0]; ++o) {
        for (std::size_t n = 0; n < 2; ++n)
            expected_dx(static_cast<std::size_t>(arg[o * 2 + n]), n) += dy(o, n);
    }
    xgrad::graph<double> g;
    auto vx = g.variable(x);
    auto y = xgrad::max_pool2d(vx, in, win);
    g.backward(y, dy);
    XGRAD_REQUIRE_CLOSE(y.value(), expected_y, 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(vx.grad(), expected_dx, kRtol, kAtol);
    // for the all-equal column, the top-left pixel of a 2×2 pool window takes the whole gradient
    xgrad::graph<double> g2;
    auto v2 = g2.variable(matrix<double>({16, 1}, 3.0));
    g2.backward(xgrad::max_pool2d(v2, {1, 4, 4}, window2d::pool(2)), matrix<double>({4, 1}, 1.0));
    for (std::size_t yy = 0; yy < 4; ++yy) {
        for (std::size_t xx = 0; xx < 4; ++xx)
            CHECK(v2.grad()(yy * 4 + xx, 0) == ((yy % 2 == 0 && xx % 2 == 0) ? 1.0 : 0.0));
    }
}

TEST_CASE("conv: max_pool2d propagates NaN", "[conv][pool][edge]") {
    matrix<double> x({4, 1}, 1.0);
    x(2, 0) = std::nan("");
    xgrad::graph<double> g;
    auto y = xgrad::max_pool2d(g.constant(x), {1, 2, 2}, window2d::pool(2));
    CHECK(std::isnan(y.value()(0, 0)));
}

TEST_CASE("conv: max_pool2d over tiling windows overwrites every pixel's stale gradient",
          "[conv][pool][edge]") {
    // Windows that tile the image (stride = kernel, no padding) write dX once instead of clearing it and
    // adding: each pixel of a window gets dY or 0, and the pixels no window covers (the last row and
    // column of a 5×7 image under 2×2 windows) get 0 — over a buffer an earlier backward filled with Inf.
    const image_shape in{2, 5, 7};
    const window2d win = window2d::pool(2);
    const matrix<double> x = distinct_values(in.size(), 3, 81);
    std::vector<std::ptrdiff_t> arg;
    const matrix<double> expected_y = loop_pool(x, in, win, true, &arg);
    const matrix<double> dy = random_matrix(expected_y.shape()[0], 3, 82);
    matrix<double> expected_dx({in.size(), 3}, 0.0);
    for (std::size_t o = 0; o < expected_y.shape()[0]; ++o) {
        for (std::size_t n = 0; n < 3; ++n)
            expected_dx(static_cast<std::size_t>(arg[o * 3 + n]), n) += dy(o, n);
    }
    xgrad::graph<double> g;
    auto vx = g.variable(x);
    g.backward(vx + vx, matrix<double>(x.shape(), std::numeric_limits<double>::infinity()));
    g.zero_grad();
    auto y = xgrad::max_pool2d(vx, in, win);
    g.backward(y, dy);
    XGRAD_REQUIRE_CLOSE(y.value(), expected_y, 0.0, 0.0);
    XGRAD_REQUIRE_CLOSE(vx.grad(), expected_dx, 0.0, 0.0);
}

TEST_CASE("conv: global_avg_pool is the mean of each channel", "[conv][pool]") {
    const image_shape in{3, 4, 5};
    const matrix<double> x = random_matrix(60, 2, 91);
    xgrad::graph<double> g;
    auto vx = g.variable(x);
    auto y = xgrad::global_avg_pool(vx, in);
    REQUIRE(y.shape() == shape2{3, 2});
    for (std::size_t c = 0; c < 3; ++c) {
        for (std::size_t n = 0; n < 2; ++n) {
            double s = 0;
            for (std::size_t p = 0; p < 20; ++p) s += x(c * 20 + p, n);
            CHECK(std::abs(y.value()(c, n) - s / 20) <= 1e-14);
        }
    }
    const auto r = xgrad::gradcheck([&](auto v) { return xgrad::global_avg_pool(v[0], in); }, {x});
    INFO(r.report);
    CHECK(r.ok);
}

TEST_CASE("conv: pooling bad input names the op, the geometry and the call site", "[conv][pool][error]") {
    xgrad::graph<double> g;
    auto x = g.constant(random_matrix(20, 2, 1), "X");
    CHECK_THAT(shape_error_message([&] {
                   xgrad::max_pool2d(x, {1, 4, 4}, window2d::pool(2));
               }),
               Catch::Contains("max_pool2d") && Catch::Contains("1×4×4") && Catch::Contains("16 rows") &&
                   Catch::Contains("conv_test.cpp"));
    CHECK_THAT(shape_error_message([&] {
                   xgrad::avg_pool2d(x, {1, 4, 5}, window2d::pool(6));
               }),
               Catch::Contains("avg_pool2d") && Catch::Contains("larger than the padded image") &&
                   Catch::Contains("conv_test.cpp"));
    CHECK_THAT(shape_error_message([&] {
                   xgrad::max_pool2d(x, {1, 4, 5}, window2d::square(2, 2, 2));
               }),
               Catch::Contains("max_pool2d") && Catch::Contains("at most half the kernel") &&
                   Catch::Contains("conv_test.cpp"));
    CHECK_THAT(
        shape_error_message([&] {
            xgrad::global_avg_pool(x, {2, 3, 3});
        }),
        Catch::Contains("global_avg_pool") && Catch::Contains("2×3×3") && Catch::Contains("conv_test.cpp"));
}

TEST_CASE("conv: conv – relu – max_pool – linear composes and gradchecks", "[conv][gradcheck]") {
    // a small CNN: 1×6×5 images, 2 filters 3×3 pad 1, 2×2 pooling (3×2 outputs), a dense layer on the flat
    // maps
    const image_shape in{1, 6, 5};
    const auto r = xgrad::gradcheck(
        [&](auto v) {
            auto a = xgrad::conv2d(v[0], v[1], v[2], in, window2d::square(3, 1, 1));
            auto p = xgrad::max_pool2d(xgrad::tanh(a), {2, 6, 5}, window2d::pool(2));
            return xgrad::linear(v[3], p, v[4]);
        },
        {random_matrix(2, 9, 81), random_matrix(30, 3, 82), random_matrix(2, 1, 83), random_matrix(4, 12, 84),
         random_matrix(4, 1, 85)});
    INFO(r.report);
    CHECK(r.ok);
}

// ------------------------------------------------------------------------------------------ relu_max_pool2d

namespace {

/// Values from a small set, so that windows hold ties, all-negative windows, ±0 and NaN: −2, −1, −0, +0, 1,
/// 2, NaN.
template <class T>
matrix<T> tie_values(std::size_t r, std::size_t c, std::uint64_t seed) {
    const T pool[] = {T(-2), T(-1), -T(0), T(0), T(1), T(2), std::numeric_limits<T>::quiet_NaN()};
    std::mt19937_64 rng(seed);
    matrix<T> m({r, c});
    for (auto& v : m) v = pool[rng() % 7];
    return m;
}

/// Whether a and b hold the same bits (NaN payloads and the sign of zero included).
template <class T>
bool same_bits(const matrix<T>& a, const matrix<T>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

/// relu_max_pool2d against relu then max_pool2d on the same values: H and dA, bit for bit. With
/// `accumulate`, dA already holds a gradient (an earlier backward), so both add to it.
template <class T>
void check_fused_pool(const image_shape& in, const window2d& win, std::size_t m, std::uint64_t seed,
                      bool accumulate) {
    const matrix<T> x = tie_values<T>(in.size(), m, seed);
    const image_shape out = xgrad::window_output(in, win, in.channels);
    matrix<T> dy = random_matrix<T>(out.size(), m, seed + 1);  // negative entries: dY·0 is −0
    if (dy.size() > 2) {
        dy.data()[0] = std::numeric_limits<T>::infinity();  // ∞·0 = NaN where relu′ = 0
        dy.data()[dy.size() / 2] = std::numeric_limits<T>::quiet_NaN();
    }
    const matrix<T> earlier = random_matrix<T>(in.size(), m, seed + 2);
    const auto run = [&](bool fused) {
        xgrad::graph<T> g;
        auto a = g.variable(x);
        if (accumulate) g.backward(a + a, earlier);
        auto h = fused ? xgrad::relu_max_pool2d(a, in, win) : xgrad::max_pool2d(xgrad::relu(a), in, win);
        g.backward(h, dy);
        return std::pair{matrix<T>(h.value()), matrix<T>(a.grad())};
    };
    const auto [h_fused, da_fused] = run(true);
    const auto [h_pair, da_pair] = run(false);
    CHECK(same_bits(h_fused, h_pair));
    CHECK(same_bits(da_fused, da_pair));
}

}  // namespace

TEST_CASE("conv: relu_max_pool2d is relu then max_pool2d bit for bit (values and gradient)",
          "[conv][pool][relu_max_pool2d]") {
    // m = 8: float rows of whole 16-byte groups, which 2×2 windows write with streaming stores
    const std::vector<std::pair<image_shape, window2d>> cases = {
        {{1, 4, 4}, window2d::pool(2)},
        {{2, 5, 7}, window2d::pool(2)},  // 2×2: the last row and column are in no window
        {{3, 7, 6}, window2d::pool(3)},  // another tiling
        {{3, 5, 6}, {.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1}},
        {{1, 7, 4},
         {.kernel_h = 2, .kernel_w = 2, .stride_h = 3, .stride_w = 2, .dilation_h = 2, .dilation_w = 1}},
        {{1, 3, 5}, {.kernel_h = 3, .kernel_w = 5}},  // kernel = image
    };
    std::uint64_t seed = 900;
    for (const auto& [in, win] : cases) {
        for (std::size_t m : {std::size_t(1), std::size_t(3), std::size_t(8), std::size_t(37)}) {
            for (bool accumulate : {false, true}) {
                INFO(xgrad::to_string(in) << " window " << xgrad::to_string(win) << " m=" << m
                                          << (accumulate ? ", dA accumulating" : ""));
                check_fused_pool<float>(in, win, m, seed, accumulate);
                check_fused_pool<double>(in, win, m, seed, accumulate);
                seed += 3;
            }
        }
    }
}

TEST_CASE("conv: relu_max_pool2d values and gradient by the direct formula, ties and all-negative windows",
          "[conv][pool][relu_max_pool2d]") {
    // one 4×4 image, 2×2 windows: (1) distinct values, (2) a tie of three 2s (taps 0, 1 and 3), (3) all
    // negative, (4) all zero
    const double img[16] = {-1, 3, /**/ 2, 2,  //
                            0.5, 1, /**/ 1, 2,
                            //
                            -1, -2, /**/ 0, 0,  //
                            -3, -0.5, /**/ 0, 0};
    matrix<double> x({16, 1});
    std::copy(std::begin(img), std::end(img), x.begin());
    xgrad::graph<double> g;
    auto a = g.variable(x);
    auto h = xgrad::relu_max_pool2d(a, {1, 4, 4}, window2d::pool(2));
    REQUIRE(h.shape() == shape2{4, 1});
    CHECK(h.value()(0, 0) == 3.0);
    CHECK(h.value()(1, 0) == 2.0);
    CHECK(h.value()(2, 0) == 0.0);
    CHECK(h.value()(3, 0) == 0.0);
    matrix<double> dh({4, 1});
    for (std::size_t o = 0; o < 4; ++o) dh(o, 0) = 10.0 * static_cast<double>(o + 1);
    g.backward(h, dh);
    matrix<double> expected({16, 1}, 0.0);
    expected(1, 0) = 10.0;  // the window's maximum
    expected(2, 0) = 20.0;  // the first of the tied 2s
    // all-negative and all-zero windows: relu′ = 0 at the maximum, so nothing flows
    CHECK(a.grad() == expected);
}

TEST_CASE("conv: relu_max_pool2d gradchecks at odd shapes", "[conv][pool][relu_max_pool2d][gradcheck]") {
    const std::vector<std::pair<image_shape, window2d>> cases = {
        {{2, 5, 7}, window2d::pool(2)},
        {{3, 5, 6}, {.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1}},
    };
    std::uint64_t seed = 950;
    for (const auto& [in, win] : cases) {
        for (std::size_t m : {std::size_t(1), std::size_t(2)}) {
            INFO(xgrad::to_string(in) << " window " << xgrad::to_string(win) << " m=" << m);
            // distinct values at least 0.05 apart and never within 0.025 of 0 (relu's kink)
            matrix<double> x = distinct_values(in.size(), m, seed++);
            for (auto& v : x) v += 0.0125;
            const auto r =
                xgrad::gradcheck([&](auto v) { return xgrad::relu_max_pool2d(v[0], in, win); }, {x});
            INFO(r.report);
            CHECK(r.ok);
        }
    }
}

TEST_CASE("conv: relu_max_pool2d bad input names the op, the geometry and the call site",
          "[conv][pool][relu_max_pool2d][error]") {
    xgrad::graph<double> g;
    auto x = g.constant(random_matrix(20, 2, 1), "X");
    CHECK_THAT(shape_error_message([&] {
                   xgrad::relu_max_pool2d(x, {1, 4, 4}, window2d::pool(2));
               }),
               Catch::Contains("relu_max_pool2d") && Catch::Contains("1×4×4") && Catch::Contains("16 rows") &&
                   Catch::Contains("conv_test.cpp"));
    CHECK_THAT(shape_error_message([&] {
                   xgrad::relu_max_pool2d(x, {1, 4, 5}, window2d::pool(6));
               }),
               Catch::Contains("relu_max_pool2d") && Catch::Contains("larger than the padded image") &&
                   Catch::Contains("conv_test.cpp"));
}
