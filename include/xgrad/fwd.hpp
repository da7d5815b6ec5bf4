/// @file fwd.hpp
/// @brief Forward declarations of xgrad's class templates.
#pragma once

namespace xgrad {
template <class T>
class var;
template <class T>
class graph;
template <class T>
class parameter;
template <class T>
class recording;
template <class T>
class op;
template <class T>
class forward_context;
template <class T>
class backward_context;
namespace detail {
template <class T>
struct engine;
}  // namespace detail
}  // namespace xgrad
