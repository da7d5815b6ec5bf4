/// @file app/charts.hpp
/// @brief The pictures of a training run, as SVG written through the durable writer: loss and accuracy per
/// epoch, and the decision regions of a classifier over a 2-D data set (like the TensorFlow Playground).
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "xgrad/data.hpp"
#include "xgrad/nn.hpp"
#include "xgrad/train.hpp"

namespace xgrad::app {

/// Writes an SVG chart of loss (left axis) and accuracy (right axis) per epoch.
void write_chart_svg(const std::filesystem::path& path, const std::vector<train::epoch_stats>& history,
                     std::string_view title);

/// The points a decision-region picture shows (standardized 2-feature sets) and the class names.
struct boundary_data {
    const data::dataset<float>& train;
    const data::dataset<float>& validation;
    const data::dataset<float>& test;
    const std::vector<std::string>& class_names;
};

/// The decision-region picture evaluates the model on a grid of boundary_grid × boundary_grid points at once.
inline constexpr std::size_t boundary_grid = 96;

/// Writes an SVG of the model's decision regions over the plane of a 2-feature data set, with the training
/// points (white rim) and the test points (dark rim) on top. The shade of a region is the model's confidence
/// (the largest softmax output), in 6 steps.
void write_boundary_svg(const std::filesystem::path& path, nn::module<float>& net,
                        const boundary_data& points, std::string_view title, double test_accuracy);

}  // namespace xgrad::app
