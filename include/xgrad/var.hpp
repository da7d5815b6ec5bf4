/// @file var.hpp
/// @brief var<T>: a cheap handle to a tensor recorded on a graph, with the C++ operators of the lecture's
/// formulas.
#pragma once

#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>

#include "xgrad/config.hpp"
#include "xgrad/fwd.hpp"
#include "xgrad/ops/elementwise.hpp"

namespace xgrad {

namespace detail {
/// A handle together with the source location of the expression that converts it; lets the C++ operators
/// (which cannot take default arguments) report their caller's file:line.
template <class T>
struct located {
    const var<T>& v;
    std::source_location loc;
    located(const var<T>& handle, std::source_location where = std::source_location::current())
        : v(handle), loc(where) {}
};
}  // namespace detail

/// A handle to one tensor on a graph: the graph's slot in the registry of live graphs, the node's index on
/// its tape and the graph's epoch when the node was recorded.
///
/// Copying a var copies two words; it owns nothing. A var becomes stale when its graph is cleared or
/// destroyed, and every access through a stale var throws graph_error instead of reading another step's
/// (or another graph's) data. Checking a handle never reads a destroyed graph.
template <class T>
class var {
public:
    using value_type = T;

    var() = default;

    /// The graph this tensor is recorded on.
    graph<T>& owner() const;
    /// Position on the tape (creation order).
    std::uint32_t id() const noexcept { return m_id; }
    /// True when the handle points at a live node of its graph.
    bool valid() const noexcept;

    /// The value computed when the op was recorded (or by the last replay of a recording, see recording).
    const matrix<T>& value() const;
    /// The gradient d(root)/d(this) from the last backward; zeros if none reached this tensor.
    const matrix<T>& grad() const;
    shape2 shape() const;
    std::size_t rows() const { return shape()[0]; }
    std::size_t cols() const { return shape()[1]; }
    /// The value of a 1×1 tensor.
    T item() const;
    /// Whether backward computes a gradient for this tensor.
    bool requires_grad() const;
    /// The user's name for this tensor ("W1", "A2", …); empty if unnamed.
    std::string_view name() const;
    /// Names the tensor (shown in error messages, traces and graph pictures); returns the same handle.
    var named(std::string_view name) const;

    // The lecture's operators. Each records an op; shapes broadcast (see broadcast.hpp).
    friend var operator+(detail::located<T> a, const var& b) { return add(a.v, b, a.loc); }
    friend var operator-(detail::located<T> a, const var& b) { return sub(a.v, b, a.loc); }
    friend var operator*(detail::located<T> a, const var& b) { return mul(a.v, b, a.loc); }
    friend var operator/(detail::located<T> a, const var& b) { return div(a.v, b, a.loc); }
    friend var operator-(detail::located<T> a) { return neg(a.v, a.loc); }
    friend var operator+(detail::located<T> a, T s) { return add_scalar(a.v, s, a.loc); }
    friend var operator+(T s, detail::located<T> a) { return add_scalar(a.v, s, a.loc); }
    friend var operator-(detail::located<T> a, T s) { return add_scalar(a.v, -s, a.loc); }
    friend var operator-(T s, detail::located<T> a) { return rsub_scalar(a.v, s, a.loc); }
    friend var operator*(detail::located<T> a, T s) { return mul_scalar(a.v, s, a.loc); }
    friend var operator*(T s, detail::located<T> a) { return mul_scalar(a.v, s, a.loc); }
    friend var operator/(detail::located<T> a, T s) { return mul_scalar(a.v, T(1) / s, a.loc); }
    friend var operator/(T s, detail::located<T> a) { return rdiv_scalar(a.v, s, a.loc); }

private:
    friend class graph<T>;
    var(std::uint32_t slot, std::uint32_t id, std::uint64_t epoch) : m_epoch(epoch), m_slot(slot), m_id(id) {}

    std::uint64_t m_epoch = 0;  // 0: default-constructed (graphs draw epochs from 1)
    std::uint32_t m_slot = 0;
    std::uint32_t m_id = 0;
};

}  // namespace xgrad
