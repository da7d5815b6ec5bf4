/// @file unary_op.hpp
/// @brief A base for element-wise ops: write f(x) and its derivative df(x, y), get forward and backward.
///
/// The kernel shared by every built-in unary op (exp, log, sigmoid, relu, …) and open to user ops:
///
///   template <class T> struct softplus_op final : xgrad::unary_op<T, softplus_op<T>> {
///       static constexpr xgrad::op_rule rule{.name = "softplus", .gradients = {{0, "{dy} ⊙ σ({x0})"}}};
///       T f(T x) const { return std::log1p(std::exp(-std::abs(x))) + std::max(x, T(0)); }
///       T df(T x, T) const { return T(1) / (T(1) + std::exp(-x)); }   // σ(x)
///   };
///
/// df receives the input x and the saved output y, so derivatives written in terms of the output
/// (σ′ = y(1 − y), tanh′ = 1 − y², exp′ = y) cost nothing extra. No per-element virtual call.
/// A static member `rule` (op_rule) is what describe() returns, and names the op.
#pragma once

#include <cstddef>

#include "xgrad/op.hpp"

namespace xgrad {

/// Unary element-wise op Y = f(X) whose derivative is given by `df(x, y)` (x the input, y the output).
template <class T, class Derived>
struct unary_op : op<T> {
    const op_rule* describe() const override {
        if constexpr (requires { Derived::rule; }) {
            return &Derived::rule;
        } else {
            return nullptr;
        }
    }
    void forward(forward_context<T>& ctx) override {
        const matrix<T>& x = ctx.input(0);
        matrix<T>& y = ctx.output(shape_of(x));
        const T* __restrict px = x.data();
        T* __restrict py = y.data();
        const auto& self = static_cast<const Derived&>(*this);
        for (std::size_t k = 0, n = x.size(); k < n; ++k) py[k] = self.f(px[k]);
    }
    void backward(backward_context<T>& ctx) override {
        // Four distinct buffers (input, output, d output, d input), so the loops vectorise.
        const T* __restrict px = ctx.input(0).data();
        const T* __restrict py = ctx.output().data();
        const T* __restrict pg = ctx.grad_output().data();
        const std::size_t n = ctx.grad_output().size();
        const auto& self = static_cast<const Derived&>(*this);
        gradient_target<T> t = ctx.target(0);
        T* __restrict pd = t.buffer.data();
        if (t.beta == T(0)) {
            for (std::size_t k = 0; k < n; ++k) pd[k] = pg[k] * self.df(px[k], py[k]);
        } else {
            for (std::size_t k = 0; k < n; ++k) pd[k] += pg[k] * self.df(px[k], py[k]);
        }
    }
};

}  // namespace xgrad
