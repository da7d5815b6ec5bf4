/// @file app/graphviz.hpp
/// @brief Pictures of a graph as files: the DOT text of xgrad::to_dot written durably, and rendered to SVG or
/// PNG by Graphviz's `dot` program when it is installed (application layer: it starts a process).
///
///   xgrad::write_dot(g, "net.dot", o);
///   xgrad::render_dot("net.dot", "net.svg");                 // false when Graphviz is missing
#pragma once

#include <filesystem>
#include <string_view>

#include "xgrad/dot.hpp"

namespace xgrad {

/// Writes to_dot(g, options) to `path`; throws xgrad::error when the file cannot be written.
template <class T>
void write_dot(const graph<T>& g, const std::filesystem::path& path, const dot_options& options = {});

/// Graphviz's dot program found on PATH, or an empty path when Graphviz is not installed.
std::filesystem::path find_graphviz();

/// Renders the DOT file `dot_file` to `out` in `format` ("svg", "png", "pdf", …) by running
/// `dot -T<format> -o <out> <dot_file>`. Returns false, writing nothing, when Graphviz is not installed;
/// throws xgrad::error with dot's message when dot rejects the file.
bool render_dot(const std::filesystem::path& dot_file, const std::filesystem::path& out,
                std::string_view format = "svg");

}  // namespace xgrad
