/// @file error.hpp
/// @brief Exceptions that name things: the op, the shapes, and where the op was called.
#pragma once

#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>

namespace xgrad {

/// Base of every exception xgrad throws.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Inputs whose shapes do not fit the op (thrown when the op is recorded, in every build type).
class shape_error : public error {
public:
    using error::error;
};

/// Misuse of the graph: a stale or foreign handle, a missing seed, an invalid argument.
class graph_error : public error {
public:
    using error::error;
};

/// An op broke the op contract (missing, duplicated or mis-shaped gradient).
class op_contract_error : public error {
public:
    using error::error;
};

/// Anomaly mode found NaN or Inf in an op's forward value or backward gradient.
class numeric_error : public error {
public:
    using error::error;
};

/// "file.cpp:42" for a call site (directories beyond the last two are dropped).
std::string format_location(const std::source_location& loc);

namespace detail {
/// "op: message (called at file.cpp:42)".
std::string op_message(std::string_view op, std::string_view message, const std::source_location& loc);
}  // namespace detail

}  // namespace xgrad
