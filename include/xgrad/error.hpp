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

/// Inputs an op cannot take, thrown when the op is recorded, in every build type: shapes that do not fit, or
/// input values outside the op's domain (a label that is no class, a probability outside [0, 1]). A parameter
/// that is not an input (leaky_relu's slope, a dropout probability) is an argument_error.
class shape_error : public error {
public:
    using error::error;
};

/// Misuse of the graph: a stale or foreign handle, a missing or mis-shaped seed, a non-scalar item().
class graph_error : public error {
public:
    using error::error;
};

/// An argument outside what a function accepts: a learning rate ≤ 0, a momentum ≥ 1, a layer size of 0, an
/// unknown activation name (the message names the function, the argument and the accepted range).
class argument_error : public error {
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
/// While one is alive on a thread, the op errors raised on that thread also name its call site — the
/// outermost one when they nest. A module call and fit open one, so an op failing inside a library module
/// names the user's line too: "linear: … (called at core/nn.cpp:104, from model.cpp:12)".
class call_site_scope {
public:
    explicit call_site_scope(const std::source_location& loc) noexcept;
    ~call_site_scope();
    call_site_scope(const call_site_scope&) = delete;
    call_site_scope& operator=(const call_site_scope&) = delete;
    /// The outermost live scope's call site on this thread, or nullptr.
    static const std::source_location* current() noexcept;

private:
    bool m_outermost;
};

/// "op: message (called at file.cpp:42)", plus ", from caller.cpp:7" inside a call_site_scope whose call
/// site differs.
std::string op_message(std::string_view op, std::string_view message, const std::source_location& loc);
}  // namespace detail

}  // namespace xgrad
