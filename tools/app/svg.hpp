/// @file app/svg.hpp
/// @brief What every SVG picture of the application layer shares: the one XML escaper (from the core, where
/// the DOT pictures use it too).
#pragma once

#include "xgrad/detail/xml.hpp"

namespace xgrad::app {

using xgrad::detail::xml_escape;

}  // namespace xgrad::app
