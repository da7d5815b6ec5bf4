// The picture of a convolution's filters.
#include "app/filters.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <xgrad/error.hpp>

#include "app/svg.hpp"

namespace xgrad::app {

namespace {

/// w in [−1, 1] → white to red (positive) or to blue (negative).
std::string colour(double w) {
    const double t = std::clamp(std::abs(w), 0.0, 1.0);
    const int fade = static_cast<int>(std::lround(255 * (1 - t)));
    return w >= 0 ? fmt::format("rgb(255,{0},{0})", fade) : fmt::format("rgb({0},{0},255)", fade);
}

}  // namespace

template <class T>
std::string filters_svg(const matrix<T>& weight, std::size_t channels, std::size_t kernel_h,
                        std::size_t kernel_w, std::string_view title) {
    const std::size_t K = weight.shape()[0], taps = channels * kernel_h * kernel_w;
    if (K == 0 || taps == 0 || weight.shape()[1] != taps) {
        throw argument_error(fmt::format(
            "filters_svg: the weight is {}×{}, but {} channels of {}×{} kernels need {} columns (and at "
            "least one filter)",
            K, weight.shape()[1], channels, kernel_h, kernel_w, taps));
    }
    double scale = 0;
    for (std::size_t i = 0; i < weight.size(); ++i)
        scale = std::max(scale, std::abs(double(weight.data()[i])));
    if (scale == 0 || !std::isfinite(scale)) scale = 1;
    // A square of `cell` pixels per weight: kernels of any size take about 48 pixels.
    const double cell = std::max(3.0, std::floor(48.0 / double(std::max(kernel_h, kernel_w))));
    const double tile_w = cell * double(kernel_w), tile_h = cell * double(kernel_h), gap = 4, pad = 12;
    const double filter_w = double(channels) * tile_w + double(channels - 1) * gap;
    const std::size_t per_row = std::min<std::size_t>(K, 8), rows = (K + per_row - 1) / per_row;
    const double top = 52;
    const double W = std::max(360.0, 2 * pad + double(per_row) * (filter_w + 2 * gap));
    const double H = top + double(rows) * (tile_h + 2 * gap) + pad + 18;
    std::string svg = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
        "fill=\"white\"/>\n"
        "<text x=\"{2}\" y=\"20\" font-size=\"14\">{3}</text>\n"
        "<text x=\"{2}\" y=\"38\" fill=\"#555\">{4} filters of {5}×{6}×{7}; red positive, blue negative, "
        "white 0; full colour at |w| = {8:.3g}</text>\n",
        W, H, pad, xml_escape(title), K, channels, kernel_h, kernel_w, scale);
    for (std::size_t k = 0; k < K; ++k) {
        const double x0 = pad + double(k % per_row) * (filter_w + 2 * gap) + gap;
        const double y0 = top + double(k / per_row) * (tile_h + 2 * gap) + gap;
        svg += fmt::format("<g><title>filter {}</title>\n", k + 1);
        for (std::size_t c = 0; c < channels; ++c) {
            const double xc = x0 + double(c) * (tile_w + gap);
            for (std::size_t i = 0; i < kernel_h; ++i) {
                for (std::size_t j = 0; j < kernel_w; ++j) {
                    const double w = double(weight(k, (c * kernel_h + i) * kernel_w + j)) / scale;
                    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n",
                                       xc + double(j) * cell, y0 + double(i) * cell, cell, cell, colour(w));
                }
            }
            svg += fmt::format(
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n", xc,
                y0, tile_w, tile_h);
        }
        svg += "</g>\n";
    }
    svg += "</svg>\n";
    return svg;
}

template std::string filters_svg(const matrix<float>&, std::size_t, std::size_t, std::size_t,
                                 std::string_view);
template std::string filters_svg(const matrix<double>&, std::size_t, std::size_t, std::size_t,
                                 std::string_view);

}  // namespace xgrad::app
