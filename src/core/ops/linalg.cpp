// Linear-algebra ops: each op's rule beside its forward and backward.
#include "xgrad/ops/linalg.hpp"

#include <fmt/format.h>

#include "xgrad/blas.hpp"
#include "xgrad/broadcast.hpp"
#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"

namespace xgrad {

namespace {

template <class T>
struct matmul_op final : op<T> {
    static constexpr op_rule rule{
        .name = "matmul",
        .forward = "{x0:product}·{x1}",
        .binds = binding::product,
        .gradients = {{0, "{dy}·{x1}ᵀ", "{y}·{x1ᵀ} → {x0}"}, {1, "{x0}ᵀ·{dy}", "{x0ᵀ}·{y} → {x1}"}}};
    static constexpr op_doc doc{.input_shapes = {"p×n", "n×m"},
                                .output_shape = "p×m",
                                .definition = ": [p×n]·[n×m] → [p×m]",
                                .note = "gemm with transpose flags, no transposed copies"};
    static var<double> example(example_inputs& in) { return matmul(in.variable(3, 4), in.variable(4, 5)); }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const shape2 a = ctx.input_shape(0), b = ctx.input_shape(1);
        if (a[1] != b[0]) {
            ctx.fail(fmt::format("inner dimensions differ: {} is {} and {} is {} ({} ≠ {})",
                                 ctx.input_name(0), to_string(a), ctx.input_name(1), to_string(b), a[1],
                                 b[0]));
        }
        gemm<T>(false, false, T(1), ctx.input(0), ctx.input(1), T(0), ctx.output({a[0], b[1]}));
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& dy = ctx.grad_output();
        if (ctx.needs_grad(0)) {
            gradient_target<T> t = ctx.target(0);
            gemm<T>(false, true, T(1), dy, ctx.input(1), t.beta, t.buffer);
        }
        if (ctx.needs_grad(1)) {
            gradient_target<T> t = ctx.target(1);
            gemm<T>(true, false, T(1), ctx.input(0), dy, t.beta, t.buffer);
        }
    }
};

template <class T>
struct transpose_op final : op<T> {
    static constexpr op_rule rule{.name = "transpose", .forward = "{x0}ᵀ", .gradients = {{0, "{dy}ᵀ"}}};
    static var<double> example(example_inputs& in) { return transpose(in.variable(3, 4)); }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const matrix<T>& a = ctx.input(0);
        const std::size_t r = a.shape()[0], c = a.shape()[1];
        matrix<T>& y = ctx.output({c, r});
        for (std::size_t i = 0; i < r; ++i) {
            for (std::size_t j = 0; j < c; ++j) y(j, i) = a(i, j);
        }
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& dy = ctx.grad_output();
        const gradient_target<T> t = ctx.target(0);
        const std::size_t c = t.buffer.shape()[1];
        const std::size_t r = t.buffer.shape()[0];
        write_gradient(t, [&](std::size_t k) { return dy.data()[(k % c) * r + k / c]; });
    }
};

template <class T>
struct add_bias_op final : op<T> {
    static constexpr op_rule rule{.name = "add_bias",
                                  .forward = "{x0:sum} + {x1:product}",
                                  .binds = binding::sum,
                                  .gradients = {{0, "{dy}"}, {1, "Σ_columns {dy}"}}};
    static constexpr op_doc doc{.inputs = {"A", "b"},
                                .definition = "with b [p×1] added to every column (b·1ᵀ)"};
    static var<double> example(example_inputs& in) { return add_bias(in.variable(3, 4), in.variable(3, 1)); }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const shape2 a = ctx.input_shape(0), b = ctx.input_shape(1);
        if (b[0] != a[0] || b[1] != 1) {
            ctx.fail(
                fmt::format("the bias {} is {} but must be [{}×1] for {} of shape {} (one bias per row/unit)",
                            ctx.input_name(1), to_string(b), a[0], ctx.input_name(0), to_string(a)));
        }
        const matrix<T>& x = ctx.input(0);
        const T* pb = ctx.input(1).data();
        matrix<T>& y = ctx.output(a);
        const std::size_t m = a[1];
        for (std::size_t i = 0; i < a[0]; ++i) {
            const T bi = pb[i];
            const T* px = x.data() + i * m;
            T* py = y.data() + i * m;
            for (std::size_t j = 0; j < m; ++j) py[j] = px[j] + bi;
        }
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& dy = ctx.grad_output();
        if (ctx.needs_grad(0)) ctx.accumulate(0, dy);
        if (ctx.needs_grad(1)) {
            gradient_target<T> t = ctx.target(1);
            sum_to(dy, t.buffer, t.beta);
        }
    }
};

template <class T>
struct linear_op final : op<T> {
    static constexpr op_rule rule{.name = "linear",
                                  .forward = "{x0:product}·{x1} + {x2:product}",
                                  .binds = binding::sum,
                                  .gradients = {{0, "{dy}·{x1}ᵀ", "{y}·{x1ᵀ} → {x0}"},
                                                {1, "{x0}ᵀ·{dy}", "{x0ᵀ}·{y} → {x1}"},
                                                {2, "Σ_columns {dy}"}}};
    static constexpr op_doc doc{
        .inputs = {"W", "H", "b"},
        .input_shapes = {"p×n", "n×m", "p×1"},
        .output_shape = "p×m",
        .definition = ": [p×n]·[n×m] + [p×1] → [p×m] (b to every column), in one node with no copies",
        .note = "as add_bias(matmul(W, H), b)"};
    static var<double> example(example_inputs& in) {
        return linear(in.variable(3, 4), in.variable(4, 5), in.variable(3, 1));
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const shape2 w = ctx.input_shape(0), h = ctx.input_shape(1), b = ctx.input_shape(2);
        if (w[1] != h[0]) {
            ctx.fail(fmt::format("inner dimensions differ: {} is {} and {} is {} ({} ≠ {})",
                                 ctx.input_name(0), to_string(w), ctx.input_name(1), to_string(h), w[1],
                                 h[0]));
        }
        if (b[0] != w[0] || b[1] != 1) {
            ctx.fail(
                fmt::format("the bias {} is {} but must be [{}×1] for {} of shape {} (one bias per unit)",
                            ctx.input_name(2), to_string(b), w[0], ctx.input_name(0), to_string(w)));
        }
        // W·H, then + b·1ᵀ in place
        matrix<T>& y = ctx.output({w[0], h[1]});
        gemm<T>(false, false, T(1), ctx.input(0), ctx.input(1), T(0), y);
        const T* pb = ctx.input(2).data();
        const std::size_t m = h[1];
        for (std::size_t i = 0; i < w[0]; ++i) {
            const T bi = pb[i];
            T* row = y.data() + i * m;
            for (std::size_t j = 0; j < m; ++j) row[j] += bi;
        }
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& dy = ctx.grad_output();
        if (ctx.needs_grad(0)) {
            gradient_target<T> t = ctx.target(0);
            gemm<T>(false, true, T(1), dy, ctx.input(1), t.beta, t.buffer);
        }
        if (ctx.needs_grad(1)) {
            gradient_target<T> t = ctx.target(1);
            gemm<T>(true, false, T(1), ctx.input(0), dy, t.beta, t.buffer);
        }
        if (ctx.needs_grad(2)) {
            gradient_target<T> t = ctx.target(2);
            sum_to(dy, t.buffer, t.beta);
        }
    }
};

}  // namespace

XGRAD_OP_FUNCTION(matmul, (const var<T>& a, const var<T>& b), apply<matmul_op<T>>({a, b}, loc))
XGRAD_OP_FUNCTION(transpose, (const var<T>& a), apply<transpose_op<T>>({a}, loc))
XGRAD_OP_FUNCTION(add_bias, (const var<T>& a, const var<T>& b), apply<add_bias_op<T>>({a, b}, loc))
XGRAD_OP_FUNCTION(linear, (const var<T>& w, const var<T>& h, const var<T>& b),
                  apply<linear_op<T>>({w, h, b}, loc))

namespace detail {
void register_linalg_ops(op_registry& r) {
    r.add_ops<matmul_op, transpose_op, add_bias_op, linear_op>("linalg");
}
}  // namespace detail

}  // namespace xgrad
