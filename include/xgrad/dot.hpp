/// @file dot.hpp
/// @brief Pictures of a graph: Graphviz DOT text with a node for every tensor (its name and shape, and
/// optionally a summary of its value and gradient) and for every op (its name and its backward rule with the
/// tensors' names). Writing it to a file and rendering it with Graphviz's `dot` is the application layer's
/// job (tools/app/graphviz.hpp).
///
///   xgrad::dot_options o;
///   o.title = "two-layer network";
///   o.gradients = true;                                      // after g.backward(C)
///   std::string text = xgrad::to_dot(g, o);
///
/// Names are those of traces (tensor_names in trace.hpp): the user's names, expressions such as W2·H1 for
/// unnamed intermediates.
#pragma once

#include <string>
#include <string_view>

#include "xgrad/graph.hpp"

namespace xgrad {

/// What a picture shows.
struct dot_options {
    std::string title;       ///< printed above the picture (empty: none); '\n' starts a new line
    bool rules = true;       ///< op nodes list their backward rule, one line per input that needs a gradient
    bool values = false;     ///< tensor nodes show their value: the entries when ≤ 6, else min / mean / max
    bool gradients = false;  ///< tensor nodes show the gradient of the last backward (entries or ‖·‖)
    std::string rankdir =
        "TB";  ///< Graphviz rankdir: "TB" inputs at the top, the loss at the bottom; "LR", "BT"
};

/// The graph as Graphviz DOT text. Parameters are orange boxes, constants (data, targets) grey boxes,
/// variables yellow boxes, op outputs ellipses, ops small blue boxes; a tensor no op reads (the loss) has a
/// double border.
template <class T>
std::string to_dot(const graph<T>& g, const dot_options& options = {});

}  // namespace xgrad
