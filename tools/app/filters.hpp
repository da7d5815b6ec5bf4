/// @file app/filters.hpp
/// @brief A picture of a convolution's filters: each filter's weights as a small grid of coloured squares
/// (`xgrad filters`).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <xgrad/config.hpp>

namespace xgrad::app {

/// The SVG of the K filters of a conv2d weight W [K × C·kh·kw] (row k is filter k, laid out (c, i, j)):
/// filter k is drawn as C tiles of kh × kw squares side by side, 8 filters a row, each weight's colour on one
/// diverging scale for the whole picture, w / max|W|: red positive, blue negative, white 0. `title` is
/// escaped (app/svg.hpp). Throws argument_error when W's columns are not channels·kh·kw or W is empty.
template <class T>
std::string filters_svg(const matrix<T>& weight, std::size_t channels, std::size_t kernel_h,
                        std::size_t kernel_w, std::string_view title);

}  // namespace xgrad::app
