/// @file app/confusion.hpp
/// @brief The confusion matrix as the xgrad command prints it: whole for a few classes, summarized for many.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "xgrad/train.hpp"

namespace xgrad::app {

/// Up to this many classes the whole matrix is printed (20 columns of counts fit a wide terminal).
inline constexpr std::size_t max_printed_confusion_classes = 20;

/// The confusion matrix of `e` as text. Up to `max_full` classes: the whole table (train::format_confusion).
/// Above that a table of classes² counts is unreadable (and, for a data set with thousands of labels, huge),
/// so a summary of at most about 25 lines is printed instead: the per-class accuracy (recall) of the 5
/// weakest and the 5 strongest classes that have examples, and the 10 most frequent confusions
/// (true → predicted, with their counts).
std::string confusion_report(const train::evaluation& e, const std::vector<std::string>& class_names,
                             std::size_t max_full = max_printed_confusion_classes);

}  // namespace xgrad::app
