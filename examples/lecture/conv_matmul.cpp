// "A convolution is a matmul" (docs/walkthrough.md): a tiny convolution done twice — by the conv2d op, and by
// hand as im2col, one matmul and col2im — printing every matrix with its shape, and checking that the two
// agree (forward and all three gradients). Exits non-zero when they do not.
//   ./lecture_conv_matmul
//
// The batch: m = 2 images of 1 channel, 3 rows, 4 columns, in the CHWN layout X [C·H·W × m]; K = 2 filters
// of 2×2, stride 1, no padding, so Ho = 2, Wo = 3. The loss is L = Σ R ⊙ Y for a fixed R, so dY = R.
#include <cmath>
#include <cstdio>
#include <string>

#include <xgrad/xgrad.hpp>

namespace {

using mat = xgrad::matrix<double>;

void print(const char* name, const char* shape_text, const mat& a) {
    std::printf("%s  [%zu×%zu]  %s\n", name, a.shape()[0], a.shape()[1], shape_text);
    for (std::size_t i = 0; i < a.shape()[0]; ++i) {
        std::printf("   ");
        for (std::size_t j = 0; j < a.shape()[1]; ++j) std::printf(" %5g", a(i, j));
        std::printf("\n");
    }
}

double max_difference(const mat& a, const mat& b) {
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a.data()[i] - b.data()[i]));
    return a.shape() == b.shape() ? d : INFINITY;
}

}  // namespace

int main() {
    constexpr std::size_t C = 1, H = 3, W = 4, m = 2, K = 2, kh = 2, kw = 2, Ho = H - kh + 1, Wo = W - kw + 1;
    const xgrad::image_shape in{C, H, W};
    const xgrad::window2d win = xgrad::window2d::square(2);

    // Small integers, so every number printed is exact. Pixel (c, y, x) of example n is X[(c·H + y)·W + x,
    // n].
    mat X({C * H * W, m}), Wt({K, C * kh * kw}), b({K, 1}), R({K * Ho * Wo, m});
    for (std::size_t r = 0; r < C * H * W; ++r)
        for (std::size_t n = 0; n < m; ++n) X(r, n) = static_cast<double>((r * r + 3 * n + r * n) % 7) - 3;
    Wt = mat{{1, 0, 0, -1}, {0, 1, 1, 0}};  // filter 0: a diagonal difference; filter 1: the anti-diagonal
    b = mat{{0.5}, {-1}};
    for (std::size_t r = 0; r < K * Ho * Wo; ++r)
        for (std::size_t n = 0; n < m; ++n) R(r, n) = static_cast<double>((5 * r + 3 * n + r * n) % 5) - 2;

    // 1. The op.
    xgrad::graph<double> g;
    auto x = g.variable(X, "X"), w = g.variable(Wt, "W"), bias = g.variable(b, "b");
    auto y = xgrad::conv2d(w, x, bias, in, win);
    g.backward(y, R);

    // 2. By hand. im2col and col2im walk the same pairs: entry (r, q) of cols, r = (c·kh + i)·kw + j the tap
    // of the window and q = p·m + n its position p = oy·Wo + ox in example n, and the pixel (row of X, n)
    // under it. im2col reads the pixel into cols; col2im adds a gradient of cols back into the pixel.
    const auto each_tap = [&](auto&& visit) {
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t i = 0; i < kh; ++i)
                for (std::size_t j = 0; j < kw; ++j)
                    for (std::size_t oy = 0; oy < Ho; ++oy)
                        for (std::size_t ox = 0; ox < Wo; ++ox)
                            for (std::size_t n = 0; n < m; ++n)
                                visit((c * kh + i) * kw + j, (oy * Wo + ox) * m + n,
                                      (c * H + oy + i) * W + ox + j, n);
    };
    mat cols({C * kh * kw, Ho * Wo * m});
    each_tap(
        [&](std::size_t r, std::size_t q, std::size_t pixel, std::size_t n) { cols(r, q) = X(pixel, n); });
    // Y = W·cols + b: (K × C·kh·kw)·(C·kh·kw × Ho·Wo·m) = (K × Ho·Wo·m), whose buffer is (K·Ho·Wo × m).
    xgrad::graph<double> h;
    mat Yk = xgrad::matmul(h.constant(Wt), h.constant(cols)).value();
    for (std::size_t k = 0; k < K; ++k)
        for (std::size_t q = 0; q < Ho * Wo * m; ++q) Yk(k, q) += b(k, 0);
    mat Y({K * Ho * Wo, m});
    std::copy(Yk.data(), Yk.data() + Yk.size(), Y.data());  // the same buffer, read as (K·Ho·Wo × m)
    // Backward, as the lecture's dense layer: dY read as (K × Ho·Wo·m) …
    mat dYk({K, Ho * Wo * m});
    std::copy(R.data(), R.data() + R.size(), dYk.data());
    const mat dW = xgrad::matmul(h.constant(dYk), xgrad::transpose(h.constant(cols))).value();  // dY·colsᵀ
    const mat dcols = xgrad::matmul(xgrad::transpose(h.constant(Wt)), h.constant(dYk)).value();  // Wᵀ·dY
    mat db({K, 1}, 0.0);
    for (std::size_t k = 0; k < K; ++k)
        for (std::size_t q = 0; q < Ho * Wo * m; ++q) db(k, 0) += dYk(k, q);  // Σ dY over positions, examples
    mat dX({C * H * W, m}, 0.0);  // col2im: each column's values added back to the pixels it was read from
    each_tap(
        [&](std::size_t r, std::size_t q, std::size_t pixel, std::size_t n) { dX(pixel, n) += dcols(r, q); });

    std::printf(
        "m = %zu images of C×H×W = %zu×%zu×%zu; K = %zu filters %zu×%zu, stride 1, pad 0 → Ho×Wo = "
        "%zu×%zu\n\n",
        m, C, H, W, K, kh, kw, Ho, Wo);
    print("X", "C·H·W × m: one image per column", X);
    print("cols = im2col(X)", "C·kh·kw × Ho·Wo·m: column p·m + n = the window at position p of image n",
          cols);
    print("W", "K × C·kh·kw: one filter per row", Wt);
    print("b", "K × 1", b);
    print("W·cols + b", "K × Ho·Wo·m", Yk);
    print("Y", "K·Ho·Wo × m: the same buffer (no transpose)", Y);
    print("dY = R", "K·Ho·Wo × m, read as K × Ho·Wo·m", dYk);
    print("dW = dY·colsᵀ", "K × C·kh·kw", dW);
    print("db = Σ dY", "K × 1", db);
    print("Wᵀ·dY", "C·kh·kw × Ho·Wo·m", dcols);
    print("dX = col2im(Wᵀ·dY)", "C·H·W × m", dX);

    const double e = std::max({max_difference(Y, y.value()), max_difference(dW, w.grad()),
                               max_difference(db, bias.grad()), max_difference(dX, x.grad())});
    std::printf("\nconv2d's Y, dW, db and dX against the matmul by hand: largest difference %g\n", e);

    // The GEMMs of `xgrad train --model cnn` at batch 64, from the architecture's own layer shapes.
    constexpr std::size_t batch = 64;
    const xgrad::nn::architecture cnn = xgrad::nn::parse_architecture(xgrad::nn::default_cnn);
    const xgrad::image_shape image{1, 28, 28};
    const auto shapes = xgrad::nn::layer_shapes(cnn, image, 10);
    std::printf("\nThe default CNN (%s, fc:10) at m = %zu:\n", cnn.to_string().c_str(), batch);
    xgrad::image_shape prev = image;
    for (std::size_t i = 0; i < shapes.size(); ++i) {
        const bool classifier = i == cnn.layers.size();
        const std::string kind = classifier ? "fc" : cnn.layers[i].kind;
        const std::string text = classifier ? "fc:10" : cnn.layers[i].to_string();
        const xgrad::image_shape& out = shapes[i];
        if (kind == "conv") {
            const auto& w = cnn.layers[i].window;
            const std::size_t taps = prev.channels * w.kernel_h * w.kernel_w,
                              q = out.height * out.width * batch;
            std::printf("  %-10s X [%zu×%zu] → cols [%zu×%zu];  W [%zu×%zu]·cols = [%zu×%zu] = A [%zu×%zu]\n",
                        text.c_str(), prev.size(), batch, taps, q, out.channels, taps, out.channels, q,
                        out.size(), batch);
        } else if (kind == "fc") {
            std::printf("  %-10s W [%zu×%zu]·H [%zu×%zu] = A [%zu×%zu]\n", text.c_str(), out.size(),
                        prev.size(), prev.size(), batch, out.size(), batch);
        } else {
            std::printf("  %-10s [%zu×%zu] → [%zu×%zu]\n", text.c_str(), prev.size(), batch, out.size(),
                        batch);
        }
        prev = out;
    }
    return e == 0 ? 0 : 1;
}
