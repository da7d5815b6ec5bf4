/// @file loss_op.hpp
/// @brief A base for losses over scores and integer labels: write one example's loss and its gradient, get
/// the validation, the mean over the m examples and backward.
///
///   template <class T> struct hinge_op final : xgrad::label_loss_op<T, hinge_op<T>> {
///       static constexpr xgrad::op_rule rule{.name = "multiclass_hinge", .gradients = {{0, "…"}}};
///       T loss(xgrad::column_view<const T> z, std::size_t label, xgrad::column_view<T> dz) const { … }
///   };
///
/// Inputs: scores Z [c×m] (examples as columns) and labels [1×m], integers in [0, c) stored in T. forward
/// checks both (shape_error naming the op, the shapes, the first bad label and the caller's file:line) and
/// computes C = (1/m) Σⱼ loss(Z[:, j], label j, dZ[:, j]), where `loss` adds ∂Lⱼ/∂Z[:, j] into dz (zeroed
/// before); backward delivers dC/m times those. The labels never get a gradient (asking for one is an error).
/// No per-element virtual call. See docs/extending.md.
#pragma once

#include <cstddef>

#include "xgrad/op.hpp"

namespace xgrad {

namespace detail {
/// Throws shape_error (through ctx.fail) unless input 0 is a non-empty [c×m] and input 1 a [1×m] row of
/// class indices in [0, c) that does not require a gradient.
template <class T>
void check_scores_and_labels(forward_context<T>& ctx);
}  // namespace detail

/// One column (example) of a row-major [c×m] matrix: c entries, m apart.
template <class T>
class column_view {
public:
    column_view(T* first, std::size_t rows, std::size_t stride)
        : m_p(first), m_rows(rows), m_stride(stride) {}
    T& operator[](std::size_t i) const { return m_p[i * m_stride]; }
    std::size_t size() const noexcept { return m_rows; }

private:
    T* m_p;
    std::size_t m_rows, m_stride;
};

/// Loss C = (1/m) Σⱼ Lⱼ over scores Z [c×m] and a [1×m] row of labels; Derived writes
/// `T loss(column_view<const T> z, std::size_t label, column_view<T> dz) const` (Lⱼ, adding ∂Lⱼ/∂zᵢ to dz[i])
/// and a static `rule` (op_rule) with a clause for input 0 only.
template <class T, class Derived>
struct label_loss_op : op<T> {
    const op_rule* describe() const override {
        if constexpr (requires { Derived::rule; }) {
            return &Derived::rule;
        } else {
            return nullptr;
        }
    }

    void forward(forward_context<T>& ctx) override {
        detail::check_scores_and_labels(ctx);
        const shape2 z = ctx.input_shape(0);
        const std::size_t c = z[0], m = z[1];
        const T* labels = ctx.input(1).data();
        matrix<T>& g = ctx.save(0, z);  // ∂Lⱼ/∂Z, column by column
        T* pg = g.data();
        for (std::size_t k = 0, n = c * m; k < n; ++k) pg[k] = T(0);
        const T* pz = ctx.input(0).data();
        const auto& self = static_cast<const Derived&>(*this);
        T total = 0;
        for (std::size_t j = 0; j < m; ++j) {
            total += self.loss(column_view<const T>(pz + j, c, m), static_cast<std::size_t>(labels[j]),
                               column_view<T>(pg + j, c, m));
        }
        ctx.output({1, 1})(0, 0) = total / static_cast<T>(m);
    }

    void backward(backward_context<T>& ctx) override {
        const T k = ctx.grad_output()(0, 0) / static_cast<T>(ctx.input(0).shape()[1]);
        const T* g = ctx.saved(0).data();
        write_gradient(ctx.target(0), [&](std::size_t n) { return k * g[n]; });
    }
};

}  // namespace xgrad
