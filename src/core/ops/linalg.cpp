// Linear-algebra ops: forward and backward side by side, with shape traces.
#include "xgrad/ops/linalg.hpp"

#include <fmt/format.h>

#include "xgrad/blas.hpp"
#include "xgrad/broadcast.hpp"
#include "xgrad/op.hpp"

namespace xgrad {

namespace {

template <class T>
struct matmul_op final : op<T> {
    std::string_view name() const override { return "matmul"; }
    std::string_view rule() const override { return "d{x0} = d{y}·{x1}ᵀ,  d{x1} = {x0}ᵀ·d{y}"; }
    void forward(forward_context<T>& ctx) override {
        const shape2 a = ctx.input_shape(0), b = ctx.input_shape(1);
        if (a[1] != b[0]) {
            ctx.fail(fmt::format("inner dimensions differ: {} is {} and {} is {} ({} ≠ {})",
                                 ctx.input_name(0), to_string(a), ctx.input_name(1), to_string(b), a[1],
                                 b[0]));
        }
        // Y = A·B : [p×n]·[n×m] → [p×m]
        gemm<T>(false, false, T(1), ctx.input(0), ctx.input(1), T(0), ctx.output({a[0], b[1]}));
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& dy = ctx.grad_output();
        if (ctx.needs_grad(0)) {
            // dA = dY·Bᵀ : [p×m]·[m×n] → [p×n]
            gradient_target<T> t = ctx.target(0);
            gemm<T>(false, true, T(1), dy, ctx.input(1), t.beta, t.buffer);
        }
        if (ctx.needs_grad(1)) {
            // dB = Aᵀ·dY : [n×p]·[p×m] → [n×m]
            gradient_target<T> t = ctx.target(1);
            gemm<T>(true, false, T(1), ctx.input(0), dy, t.beta, t.buffer);
        }
    }
};

template <class T>
struct transpose_op final : op<T> {
    std::string_view name() const override { return "transpose"; }
    std::string_view rule() const override { return "d{x0} = d{y}ᵀ"; }
    void forward(forward_context<T>& ctx) override {
        // Y = Aᵀ : [p×m] → [m×p]
        const matrix<T>& a = ctx.input(0);
        const std::size_t r = a.shape()[0], c = a.shape()[1];
        matrix<T>& y = ctx.output({c, r});
        for (std::size_t i = 0; i < r; ++i) {
            for (std::size_t j = 0; j < c; ++j) y(j, i) = a(i, j);
        }
    }
    void backward(backward_context<T>& ctx) override {
        // dA = dYᵀ : [m×p] → [p×m]
        const matrix<T>& dy = ctx.grad_output();
        const gradient_target<T> t = ctx.target(0);
        const std::size_t c = t.buffer.shape()[1];
        const std::size_t r = t.buffer.shape()[0];
        write_gradient(t, [&](std::size_t k) { return dy.data()[(k % c) * r + k / c]; });
    }
};

template <class T>
struct add_bias_op final : op<T> {
    std::string_view name() const override { return "add_bias"; }
    std::string_view rule() const override { return "d{x0} = d{y},  d{x1} = Σ_columns d{y}"; }
    void forward(forward_context<T>& ctx) override {
        const shape2 a = ctx.input_shape(0), b = ctx.input_shape(1);
        if (b[0] != a[0] || b[1] != 1) {
            ctx.fail(
                fmt::format("the bias {} is {} but must be [{}×1] for {} of shape {} (one bias per row/unit)",
                            ctx.input_name(1), to_string(b), a[0], ctx.input_name(0), to_string(a)));
        }
        // Y = A + b·1ᵀ : [p×m] + [p×1] → [p×m]
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
        if (ctx.needs_grad(0)) ctx.accumulate(0, dy);  // dA = dY
        if (ctx.needs_grad(1)) {
            // db = Σ_columns dY : [p×m] → [p×1]
            gradient_target<T> t = ctx.target(1);
            sum_to(dy, t.buffer, t.beta);
        }
    }
};

template <class T>
struct linear_op final : op<T> {
    std::string_view name() const override { return "linear"; }
    std::string_view rule() const override {
        return "d{x0} = d{y}·{x1}ᵀ,  d{x1} = {x0}ᵀ·d{y},  d{x2} = Σ_columns d{y}";
    }
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
        // Y = W·H : [p×n]·[n×m] → [p×m], then Y += b·1ᵀ in place
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
            // dW = dY·Hᵀ : [p×m]·[m×n] → [p×n]
            gradient_target<T> t = ctx.target(0);
            gemm<T>(false, true, T(1), dy, ctx.input(1), t.beta, t.buffer);
        }
        if (ctx.needs_grad(1)) {
            // dH = Wᵀ·dY : [n×p]·[p×m] → [n×m]
            gradient_target<T> t = ctx.target(1);
            gemm<T>(true, false, T(1), ctx.input(0), dy, t.beta, t.buffer);
        }
        if (ctx.needs_grad(2)) {
            // db = Σ_columns dY : [p×m] → [p×1]
            gradient_target<T> t = ctx.target(2);
            sum_to(dy, t.buffer, t.beta);
        }
    }
};

}  // namespace

template <class T>
var<T> linear(const var<T>& w, const var<T>& h, const var<T>& b, std::source_location loc) {
    return apply<linear_op<T>>({w, h, b}, loc);
}

template <class T>
var<T> matmul(const var<T>& a, const var<T>& b, std::source_location loc) {
    return apply<matmul_op<T>>({a, b}, loc);
}
template <class T>
var<T> transpose(const var<T>& a, std::source_location loc) {
    return apply<transpose_op<T>>({a}, loc);
}
template <class T>
var<T> add_bias(const var<T>& a, const var<T>& b, std::source_location loc) {
    return apply<add_bias_op<T>>({a, b}, loc);
}

#define XGRAD_INSTANTIATE(T)                                                      \
    template var<T> matmul(const var<T>&, const var<T>&, std::source_location);   \
    template var<T> transpose(const var<T>&, std::source_location);               \
    template var<T> add_bias(const var<T>&, const var<T>&, std::source_location); \
    template var<T> linear(const var<T>&, const var<T>&, const var<T>&, std::source_location);

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad
