// Element-wise ops: each op's rule beside its forward and backward. Binary ops broadcast (broadcast.hpp) and
// un-broadcast their gradients through sum_to. Loops are plain: xtensor's broadcasting expressions are
// several times slower for the [p×1]-against-[p×m] case that dominates here.
#include "xgrad/ops/elementwise.hpp"

#include <cmath>

#include <fmt/format.h>

#include "xgrad/broadcast.hpp"
#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"
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
    static constexpr op_rule rule{.name = "add",
                                  .forward = "{x0:sum} + {x1:product}",
                                  .binds = binding::sum,
                                  .gradients = {{0, "sum_to({dy})"}, {1, "sum_to({dy})"}}};
    static constexpr op_doc doc{.calls = "`add(A, B)`, `A + B`"};
    static var<double> example(example_inputs& in) { return add(in.variable(3, 4), in.variable(3, 1)); }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        broadcast_apply(ctx.input(0), ctx.input(1), ctx.output(ctx.expect_broadcast(0, 1)),
                        [](T a, T b) { return a + b; });
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& dy = ctx.grad_output();
        const shape2 full = shape_of(dy);
        const std::size_t c = full[1];
        auto g = [p = dy.data(), c](std::size_t i, std::size_t j) { return p[i * c + j]; };
        if (ctx.needs_grad(0)) deliver_sum_to(ctx, 0, full, g);
        if (ctx.needs_grad(1)) deliver_sum_to(ctx, 1, full, g);
    }
};

template <class T>
struct sub_op final : op<T> {
    static constexpr op_rule rule{.name = "sub",
                                  .forward = "{x0:sum} − {x1:product}",
                                  .binds = binding::sum,
                                  .gradients = {{0, "sum_to({dy})"}, {1, "−sum_to({dy})"}}};
    static constexpr op_doc doc{.calls = "`sub(A, B)`, `A − B`"};
    static var<double> example(example_inputs& in) { return sub(in.variable(1, 4), in.variable(3, 4)); }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
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
    static constexpr op_rule rule{.name = "mul",
                                  .forward = "{x0:product} ⊙ {x1}",
                                  .binds = binding::product,
                                  .gradients = {{0, "sum_to({dy} ⊙ {x1})"}, {1, "sum_to({dy} ⊙ {x0})"}}};
    static constexpr op_doc doc{.calls = "`mul(A, B)`, `A * B`"};
    static var<double> example(example_inputs& in) { return mul(in.variable(3, 4), in.variable(3, 1)); }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
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
    static constexpr op_rule rule{
        .name = "div",
        .forward = "{x0:product} ⊘ {x1}",
        .binds = binding::product,
        .gradients = {{0, "sum_to({dy} ⊘ {x1})"}, {1, "−sum_to({dy} ⊙ {y} ⊘ {x1})"}}};
    static constexpr op_doc doc{.calls = "`div(A, B)`, `A / B`"};
    static var<double> example(example_inputs& in) {
        return div(in.variable(3, 4), in.variable(1, 4, 0.5, 2.0));
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
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
        if (ctx.needs_grad(1)) {  // ∂(a/b)/∂b = −a/b² = −y/b: no square, no second read of a
            deliver_sum_to(ctx, 1, full, [&](std::size_t i, std::size_t j) {
                return -p[i * c + j] * y[i * c + j] / b(i, j);
            });
        }
    }
};

// ------------------------------------------------------------------ unary and scalar forms

template <class T>
struct neg_op final : unary_op<T, neg_op<T>> {
    static constexpr op_rule rule{
        .name = "neg", .forward = "−{x0}", .binds = binding::sum, .gradients = {{0, "−{dy}"}}};
    static constexpr op_doc doc{.calls = "`neg(A)`, `−A`"};
    static var<double> example(example_inputs& in) { return neg(in.variable(3, 4)); }
    T f(T x) const { return -x; }
    T df(T, T) const { return T(-1); }
};

template <class T>
struct add_scalar_op final : unary_op<T, add_scalar_op<T>> {
    T s;
    explicit add_scalar_op(T s_) : s(s_) {}
    static constexpr op_rule rule{
        .name = "add_scalar", .forward = "{x0:sum} + s", .binds = binding::sum, .gradients = {{0, "{dy}"}}};
    static constexpr op_doc doc{.calls = "`add_scalar(A, s)`, `A + s`, `A − s`"};
    static var<double> example(example_inputs& in) { return add_scalar(in.variable(3, 4), 0.5); }
    T f(T x) const { return x + s; }
    T df(T, T) const { return T(1); }
};

template <class T>
struct mul_scalar_op final : unary_op<T, mul_scalar_op<T>> {
    T s;
    explicit mul_scalar_op(T s_) : s(s_) {}
    static constexpr op_rule rule{
        .name = "mul_scalar", .forward = "s·{x0}", .binds = binding::product, .gradients = {{0, "s·{dy}"}}};
    static constexpr op_doc doc{.calls = "`mul_scalar(A, s)`, `s * A`, `A / s`"};
    static var<double> example(example_inputs& in) { return mul_scalar(in.variable(3, 4), -1.5); }
    T f(T x) const { return s * x; }
    T df(T, T) const { return s; }
};

template <class T>
struct rsub_scalar_op final : unary_op<T, rsub_scalar_op<T>> {
    T s;
    explicit rsub_scalar_op(T s_) : s(s_) {}
    static constexpr op_rule rule{.name = "rsub_scalar",
                                  .forward = "s − {x0:product}",
                                  .binds = binding::sum,
                                  .gradients = {{0, "−{dy}"}}};
    static constexpr op_doc doc{.calls = "`rsub_scalar(A, s)`, `s − A`"};
    static var<double> example(example_inputs& in) { return rsub_scalar(in.variable(3, 4), 2.0); }
    T f(T x) const { return s - x; }
    T df(T, T) const { return T(-1); }
};

template <class T>
struct rdiv_scalar_op final : unary_op<T, rdiv_scalar_op<T>> {
    T s;
    explicit rdiv_scalar_op(T s_) : s(s_) {}
    static constexpr op_rule rule{.name = "rdiv_scalar",
                                  .forward = "s ⊘ {x0}",
                                  .binds = binding::product,
                                  .gradients = {{0, "−{dy} ⊙ {y} ⊘ {x0}"}}};
    static constexpr op_doc doc{.calls = "`rdiv_scalar(A, s)`, `s / A`", .note = "s ⊘ A² = Y ⊘ A"};
    static var<double> example(example_inputs& in) { return rdiv_scalar(in.variable(3, 4, 0.5, 2.0), 3.0); }
    T f(T x) const { return s / x; }
    T df(T x, T y) const { return -y / x; }
};

template <class T>
struct exp_op final : unary_op<T, exp_op<T>> {
    static constexpr op_rule rule{.name = "exp", .gradients = {{0, "{dy} ⊙ {y}"}}};
    static constexpr op_doc doc{.definition = "= e^{x0}", .saves = "— (uses Y)"};
    static var<double> example(example_inputs& in) { return exp(in.variable(3, 4)); }
    T f(T x) const { return std::exp(x); }
    T df(T, T y) const { return y; }  // the output is the derivative
};

template <class T>
struct log_op final : unary_op<T, log_op<T>> {
    static constexpr op_rule rule{.name = "log", .gradients = {{0, "{dy} ⊘ {x0}"}}};
    static constexpr op_doc doc{.definition = "= ln {x0} (ln 0 = −∞)"};
    static var<double> example(example_inputs& in) { return log(in.variable(3, 4, 0.5, 3.0)); }
    T f(T x) const { return std::log(x); }
    T df(T x, T) const { return T(1) / x; }
};

template <class T>
struct square_op final : unary_op<T, square_op<T>> {
    static constexpr op_rule rule{.name = "square", .forward = "{x0}²", .gradients = {{0, "2·{x0} ⊙ {dy}"}}};
    static var<double> example(example_inputs& in) { return square(in.variable(3, 4)); }
    T f(T x) const { return x * x; }
    T df(T x, T) const { return T(2) * x; }
};

template <class T>
struct pow_op final : unary_op<T, pow_op<T>> {
    T p;
    explicit pow_op(T p_) : p(p_) {}
    static constexpr op_rule rule{
        .name = "pow", .forward = "{x0}^p", .gradients = {{0, "p·{x0}^(p−1) ⊙ {dy}"}}};
    static constexpr op_doc doc{.calls = "`pow(A, p)`", .definition = "(element-wise, p a constant)"};
    static var<double> example(example_inputs& in) { return pow(in.variable(3, 4, 0.5, 2.0), 2.5); }
    T f(T x) const { return std::pow(x, p); }
    T df(T x, T) const { return p == T(0) ? T(0) : p * std::pow(x, p - T(1)); }
};

template <class T>
struct xlogy_op final : op<T> {
    static constexpr op_rule rule{.name = "xlogy",
                                  .gradients = {{0, "{dy} ⊙ log {x1}"}, {1, "{dy} ⊙ {x0} ⊘ {x1}"}}};
    static constexpr op_doc doc{.inputs = {"X", "Y"},
                                .output = "Z",
                                .definition = "= {x0} ⊙ log {x1}, with 0·log 0 = 0 (same shapes)",
                                .note = "d{x1} is 0 where {x0} = 0"};
    static var<double> example(example_inputs& in) {
        return xlogy(in.variable(3, 4), in.variable(3, 4, 0.2, 1.0));
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        ctx.expect_same_shape(0, 1);
        const matrix<T>& x = ctx.input(0);
        const matrix<T>& y = ctx.input(1);
        matrix<T>& z = ctx.output(shape_of(x));
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
        if (ctx.needs_grad(1)) {  // exactly 0 where X = 0 (also at Y = 0)
            write_gradient(ctx.target(1),
                           [&](std::size_t k) { return x[k] == T(0) ? T(0) : g[k] * x[k] / y[k]; });
        }
    }
};

}  // namespace

XGRAD_OP_FUNCTION(add, (const var<T>& a, const var<T>& b), apply<add_op<T>>({a, b}, loc))
XGRAD_OP_FUNCTION(sub, (const var<T>& a, const var<T>& b), apply<sub_op<T>>({a, b}, loc))
XGRAD_OP_FUNCTION(mul, (const var<T>& a, const var<T>& b), apply<mul_op<T>>({a, b}, loc))
XGRAD_OP_FUNCTION(div, (const var<T>& a, const var<T>& b), apply<div_op<T>>({a, b}, loc))
XGRAD_OP_FUNCTION(neg, (const var<T>& a), apply<neg_op<T>>({a}, loc))
XGRAD_OP_FUNCTION(add_scalar, (const var<T>& a, std::type_identity_t<T> s),
                  apply<add_scalar_op<T>>({a}, loc, s))
XGRAD_OP_FUNCTION(mul_scalar, (const var<T>& a, std::type_identity_t<T> s),
                  apply<mul_scalar_op<T>>({a}, loc, s))
XGRAD_OP_FUNCTION(rsub_scalar, (const var<T>& a, std::type_identity_t<T> s),
                  apply<rsub_scalar_op<T>>({a}, loc, s))
XGRAD_OP_FUNCTION(rdiv_scalar, (const var<T>& a, std::type_identity_t<T> s),
                  apply<rdiv_scalar_op<T>>({a}, loc, s))
XGRAD_OP_FUNCTION(exp, (const var<T>& a), apply<exp_op<T>>({a}, loc))
XGRAD_OP_FUNCTION(log, (const var<T>& a), apply<log_op<T>>({a}, loc))
XGRAD_OP_FUNCTION(xlogy, (const var<T>& x, const var<T>& y), apply<xlogy_op<T>>({x, y}, loc))
XGRAD_OP_FUNCTION(square, (const var<T>& a), apply<square_op<T>>({a}, loc))
XGRAD_OP_FUNCTION(pow, (const var<T>& a, std::type_identity_t<T> p), apply<pow_op<T>>({a}, loc, p))

namespace detail {
void register_elementwise_ops(op_registry& r) {
    r.add_ops<add_op, sub_op, mul_op, div_op, neg_op, add_scalar_op, mul_scalar_op, rsub_scalar_op,
              rdiv_scalar_op, exp_op, log_op, xlogy_op, square_op, pow_op>("elementwise");
}
}  // namespace detail

}  // namespace xgrad
