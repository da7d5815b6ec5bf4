// Element-wise ops: forward and backward side by side. Binary ops broadcast (broadcast.hpp) and
// un-broadcast their gradients through sum_to. Loops are plain: xtensor's broadcasting expressions are
// several times slower for the [p×1]-against-[p×m] case that dominates here.
#include "xgrad/ops/elementwise.hpp"

#include <cmath>

#include <fmt/format.h>

#include "xgrad/broadcast.hpp"
#include "xgrad/op.hpp"
#include "xgrad/unary_op.hpp"

namespace xgrad {

namespace {

/// Strides that read a possibly broadcast [r×c] operand at output position (i, j): element
/// p[i * row_step + j * col_step].
struct bcast {
    std::size_t row_step, col_step;
    template <class T>
    static bcast of(const matrix<T>& m) {
        const std::size_t r = m.shape()[0], c = m.shape()[1];
        return {r == 1 ? std::size_t{0} : c, c == 1 ? std::size_t{0} : std::size_t{1}};
    }
};

/// out(i, j) = f(a(i', j'), b(i'', j'')) over the broadcast shape of a and b.
template <class T, class F>
void broadcast_apply(const matrix<T>& a, const matrix<T>& b, matrix<T>& out, F f) {
    const std::size_t r = out.shape()[0], c = out.shape()[1];
    const T* pa = a.data();
    const T* pb = b.data();
    T* po = out.data();
    if (a.shape() == out.shape() && b.shape() == out.shape()) {
        const std::size_t n = r * c;
        for (std::size_t k = 0; k < n; ++k) po[k] = f(pa[k], pb[k]);
        return;
    }
    const bcast sa = bcast::of(a), sb = bcast::of(b);
    for (std::size_t i = 0; i < r; ++i) {
        const T* ra = pa + i * sa.row_step;
        const T* rb = pb + i * sb.row_step;
        T* ro = po + i * c;
        if (sa.col_step == 1 && sb.col_step == 1) {
            for (std::size_t j = 0; j < c; ++j) ro[j] = f(ra[j], rb[j]);
        } else if (sa.col_step == 1) {
            const T vb = rb[0];
            for (std::size_t j = 0; j < c; ++j) ro[j] = f(ra[j], vb);
        } else if (sb.col_step == 1) {
            const T va = ra[0];
            for (std::size_t j = 0; j < c; ++j) ro[j] = f(va, rb[j]);
        } else {
            const T v = f(ra[0], rb[0]);
            for (std::size_t j = 0; j < c; ++j) ro[j] = v;
        }
    }
}

/// Delivers dX_i = sum_to(g(i, j)) for input `which` of a binary broadcasting op, where g is the
/// gradient at full (output) shape.
template <class T, class G>
void deliver_sum_to(backward_context<T>& ctx, std::size_t which, const shape2& full, G g) {
    gradient_target<T> t = ctx.target(which);
    sum_to(t.buffer, t.beta, full, g);
}

/// Reads an operand at output position (i, j), honouring broadcasting.
template <class T>
struct reader {
    const T* p;
    bcast s;
    explicit reader(const matrix<T>& m) : p(m.data()), s(bcast::of(m)) {}
    T operator()(std::size_t i, std::size_t j) const { return p[i * s.row_step + j * s.col_step]; }
};

// ------------------------------------------------------------------ add, sub, mul, div

template <class T>
struct add_op final : op<T> {
    std::string_view name() const override { return "add"; }
    std::string_view rule() const override { return "d{x0} = sum_to(d{y}),  d{x1} = sum_to(d{y})"; }
    void forward(forward_context<T>& ctx) override {
        // Y = A + B
        broadcast_apply(ctx.input(0), ctx.input(1), ctx.output(ctx.expect_broadcast(0, 1)),
                        [](T a, T b) { return a + b; });
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& dy = ctx.grad_output();
        const shape2 full = shape_of(dy);
        const std::size_t c = full[1];
        auto g = [p = dy.data(), c](std::size_t i, std::size_t j) { return p[i * c + j]; };
        if (ctx.needs_grad(0)) deliver_sum_to(ctx, 0, full, g);  // dA = sum_to(dY)
        if (ctx.needs_grad(1)) deliver_sum_to(ctx, 1, full, g);  // dB = sum_to(dY)
    }
};

template <class T>
struct sub_op final : op<T> {
    std::string_view name() const override { return "sub"; }
    std::string_view rule() const override { return "d{x0} = sum_to(d{y}),  d{x1} = −sum_to(d{y})"; }
    void forward(forward_context<T>& ctx) override {
        // Y = A − B
        broadcast_apply(ctx.input(0), ctx.input(1), ctx.output(ctx.expect_broadcast(0, 1)),
                        [](T a, T b) { return a - b; });
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& dy = ctx.grad_output();
        const shape2 full = shape_of(dy);
        const std::size_t c = full[1];
        const T* p = dy.data();
        if (ctx.needs_grad(0))
            deliver_sum_to(ctx, 0, full, [p, c](std::size_t i, std::size_t j) { return p[i * c + j]; });
        if (ctx.needs_grad(1))
            deliver_sum_to(ctx, 1, full, [p, c](std::size_t i, std::size_t j) { return -p[i * c + j]; });
    }
};

template <class T>
struct mul_op final : op<T> {
    std::string_view name() const override { return "mul"; }
    std::string_view rule() const override {
        return "d{x0} = sum_to(d{y} ⊙ {x1}),  d{x1} = sum_to(d{y} ⊙ {x0})";
    }
    void forward(forward_context<T>& ctx) override {
        // Y = A ⊙ B
        broadcast_apply(ctx.input(0), ctx.input(1), ctx.output(ctx.expect_broadcast(0, 1)),
                        [](T a, T b) { return a * b; });
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& dy = ctx.grad_output();
        const shape2 full = shape_of(dy);
        const std::size_t c = full[1];
        const T* p = dy.data();
        const reader<T> a(ctx.input(0)), b(ctx.input(1));
        if (ctx.needs_grad(0)) {
            deliver_sum_to(ctx, 0, full,
                           [&](std::size_t i, std::size_t j) { return p[i * c + j] * b(i, j); });
        }
        if (ctx.needs_grad(1)) {
            deliver_sum_to(ctx, 1, full,
                           [&](std::size_t i, std::size_t j) { return p[i * c + j] * a(i, j); });
        }
    }
};

template <class T>
struct div_op final : op<T> {
    std::string_view name() const override { return "div"; }
    std::string_view rule() const override {
        return "d{x0} = sum_to(d{y} ⊘ {x1}),  d{x1} = −sum_to(d{y} ⊙ {y} ⊘ {x1})";
    }
    void forward(forward_context<T>& ctx) override {
        // Y = A ⊘ B
        broadcast_apply(ctx.input(0), ctx.input(1), ctx.output(ctx.expect_broadcast(0, 1)),
                        [](T a, T b) { return a / b; });
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& dy = ctx.grad_output();
        const shape2 full = shape_of(dy);
        const std::size_t c = full[1];
        const T* p = dy.data();
        const T* y = ctx.output().data();
        const reader<T> b(ctx.input(1));
        if (ctx.needs_grad(0)) {
            deliver_sum_to(ctx, 0, full,
                           [&](std::size_t i, std::size_t j) { return p[i * c + j] / b(i, j); });
        }
        if (ctx.needs_grad(1)) {  // ∂(a/b)/∂b = −a/b² = −y/b
            deliver_sum_to(ctx, 1, full, [&](std::size_t i, std::size_t j) {
                return -p[i * c + j] * y[i * c + j] / b(i, j);
            });
        }
    }
};

// ------------------------------------------------------------------ unary and scalar forms

template <class T>
struct neg_op final : unary_op<T, neg_op<T>> {
    std::string_view name() const override { return "neg"; }
    std::string_view rule() const override { return "d{x0} = −d{y}"; }
    T f(T x) const { return -x; }       // Y = −X
    T df(T, T) const { return T(-1); }  // dX = −dY
};

template <class T>
struct add_scalar_op final : unary_op<T, add_scalar_op<T>> {
    T s;
    explicit add_scalar_op(T s_) : s(s_) {}
    std::string_view name() const override { return "add_scalar"; }
    std::string_view rule() const override { return "d{x0} = d{y}"; }
    T f(T x) const { return x + s; }   // Y = X + s
    T df(T, T) const { return T(1); }  // dX = dY
};

template <class T>
struct mul_scalar_op final : unary_op<T, mul_scalar_op<T>> {
    T s;
    explicit mul_scalar_op(T s_) : s(s_) {}
    std::string_view name() const override { return "mul_scalar"; }
    std::string_view rule() const override { return "d{x0} = s·d{y}"; }
    T f(T x) const { return s * x; }  // Y = s·X
    T df(T, T) const { return s; }    // dX = s·dY
};

template <class T>
struct rsub_scalar_op final : unary_op<T, rsub_scalar_op<T>> {
    T s;
    explicit rsub_scalar_op(T s_) : s(s_) {}
    std::string_view name() const override { return "rsub_scalar"; }
    std::string_view rule() const override { return "d{x0} = −d{y}"; }
    T f(T x) const { return s - x; }    // Y = s − X
    T df(T, T) const { return T(-1); }  // dX = −dY
};

template <class T>
struct rdiv_scalar_op final : unary_op<T, rdiv_scalar_op<T>> {
    T s;
    explicit rdiv_scalar_op(T s_) : s(s_) {}
    std::string_view name() const override { return "rdiv_scalar"; }
    std::string_view rule() const override { return "d{x0} = −d{y} ⊙ {y} ⊘ {x0}"; }
    T f(T x) const { return s / x; }         // Y = s ⊘ X
    T df(T x, T y) const { return -y / x; }  // dX = −dY ⊙ s/X² = −dY ⊙ Y ⊘ X
};

template <class T>
struct exp_op final : unary_op<T, exp_op<T>> {
    std::string_view name() const override { return "exp"; }
    std::string_view rule() const override { return "d{x0} = d{y} ⊙ {y}"; }
    T f(T x) const { return std::exp(x); }  // Y = e^X
    T df(T, T y) const { return y; }        // dX = dY ⊙ Y   (the saved output is the derivative)
};

template <class T>
struct log_op final : unary_op<T, log_op<T>> {
    std::string_view name() const override { return "log"; }
    std::string_view rule() const override { return "d{x0} = d{y} ⊘ {x0}"; }
    T f(T x) const { return std::log(x); }   // Y = ln X
    T df(T x, T) const { return T(1) / x; }  // dX = dY ⊘ X
};

template <class T>
struct square_op final : unary_op<T, square_op<T>> {
    std::string_view name() const override { return "square"; }
    std::string_view rule() const override { return "d{x0} = 2·{x0} ⊙ d{y}"; }
    T f(T x) const { return x * x; }         // Y = X²
    T df(T x, T) const { return T(2) * x; }  // dX = 2X ⊙ dY
};

template <class T>
struct pow_op final : unary_op<T, pow_op<T>> {
    T p;
    explicit pow_op(T p_) : p(p_) {}
    std::string_view name() const override { return "pow"; }
    std::string_view rule() const override { return "d{x0} = p·{x0}^(p−1) ⊙ d{y}"; }
    T f(T x) const { return std::pow(x, p); }                                    // Y = X^p
    T df(T x, T) const { return p == T(0) ? T(0) : p * std::pow(x, p - T(1)); }  // dX = p·X^(p−1) ⊙ dY
};

template <class T>
struct xlogy_op final : op<T> {
    std::string_view name() const override { return "xlogy"; }
    std::string_view rule() const override { return "d{x0} = d{y} ⊙ log {x1},  d{x1} = d{y} ⊙ {x0} ⊘ {x1}"; }
    void forward(forward_context<T>& ctx) override {
        ctx.expect_same_shape(0, 1);
        const matrix<T>& x = ctx.input(0);
        const matrix<T>& y = ctx.input(1);
        matrix<T>& z = ctx.output(shape_of(x));
        // Z = X ⊙ log Y, with 0·log 0 = 0
        for (std::size_t k = 0; k < x.size(); ++k) {
            const T xk = x.data()[k];
            z.data()[k] = xk == T(0) ? T(0) : xk * std::log(y.data()[k]);
        }
    }
    void backward(backward_context<T>& ctx) override {
        const T* g = ctx.grad_output().data();
        const T* x = ctx.input(0).data();
        const T* y = ctx.input(1).data();
        if (ctx.needs_grad(0))
            write_gradient(ctx.target(0), [&](std::size_t k) { return g[k] * std::log(y[k]); });
        if (ctx.needs_grad(1)) {  // dY = dZ ⊙ X ⊘ Y, exactly 0 where X = 0 (also at Y = 0)
            write_gradient(ctx.target(1),
                           [&](std::size_t k) { return x[k] == T(0) ? T(0) : g[k] * x[k] / y[k]; });
        }
    }
};

}  // namespace

template <class T>
var<T> xlogy(const var<T>& x, const var<T>& y, std::source_location loc) {
    return apply<xlogy_op<T>>({x, y}, loc);
}

template <class T>
var<T> add(const var<T>& a, const var<T>& b, std::source_location loc) {
    return apply<add_op<T>>({a, b}, loc);
}
template <class T>
var<T> sub(const var<T>& a, const var<T>& b, std::source_location loc) {
    return apply<sub_op<T>>({a, b}, loc);
}
template <class T>
var<T> mul(const var<T>& a, const var<T>& b, std::source_location loc) {
    return apply<mul_op<T>>({a, b}, loc);
}
template <class T>
var<T> div(const var<T>& a, const var<T>& b, std::source_location loc) {
    return apply<div_op<T>>({a, b}, loc);
}
template <class T>
var<T> neg(const var<T>& a, std::source_location loc) {
    return apply<neg_op<T>>({a}, loc);
}
template <class T>
var<T> add_scalar(const var<T>& a, std::type_identity_t<T> s, std::source_location loc) {
    return apply<add_scalar_op<T>>({a}, loc, s);
}
template <class T>
var<T> mul_scalar(const var<T>& a, std::type_identity_t<T> s, std::source_location loc) {
    return apply<mul_scalar_op<T>>({a}, loc, s);
}
template <class T>
var<T> rsub_scalar(const var<T>& a, std::type_identity_t<T> s, std::source_location loc) {
    return apply<rsub_scalar_op<T>>({a}, loc, s);
}
template <class T>
var<T> rdiv_scalar(const var<T>& a, std::type_identity_t<T> s, std::source_location loc) {
    return apply<rdiv_scalar_op<T>>({a}, loc, s);
}
template <class T>
var<T> exp(const var<T>& a, std::source_location loc) {
    return apply<exp_op<T>>({a}, loc);
}
template <class T>
var<T> log(const var<T>& a, std::source_location loc) {
    return apply<log_op<T>>({a}, loc);
}
template <class T>
var<T> square(const var<T>& a, std::source_location loc) {
    return apply<square_op<T>>({a}, loc);
}
template <class T>
var<T> pow(const var<T>& a, std::type_identity_t<T> p, std::source_location loc) {
    return apply<pow_op<T>>({a}, loc, p);
}

#define XGRAD_INSTANTIATE(T)                                                                   \
    template var<T> add(const var<T>&, const var<T>&, std::source_location);                   \
    template var<T> sub(const var<T>&, const var<T>&, std::source_location);                   \
    template var<T> mul(const var<T>&, const var<T>&, std::source_location);                   \
    template var<T> div(const var<T>&, const var<T>&, std::source_location);                   \
    template var<T> neg(const var<T>&, std::source_location);                                  \
    template var<T> add_scalar(const var<T>&, std::type_identity_t<T>, std::source_location);  \
    template var<T> mul_scalar(const var<T>&, std::type_identity_t<T>, std::source_location);  \
    template var<T> rsub_scalar(const var<T>&, std::type_identity_t<T>, std::source_location); \
    template var<T> rdiv_scalar(const var<T>&, std::type_identity_t<T>, std::source_location); \
    template var<T> exp(const var<T>&, std::source_location);                                  \
    template var<T> log(const var<T>&, std::source_location);                                  \
    template var<T> square(const var<T>&, std::source_location);                               \
    template var<T> xlogy(const var<T>&, const var<T>&, std::source_location);                 \
    template var<T> pow(const var<T>&, std::type_identity_t<T>, std::source_location);

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad
