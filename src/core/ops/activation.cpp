// Activations: each op's rule beside its forward and derivative; each derivative is written in the cheapest
// saved form.
#include "xgrad/ops/activation.hpp"

#include <cmath>

#include <fmt/format.h>

#include "relu.hpp"
#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"
#include "xgrad/unary_op.hpp"

namespace xgrad {

namespace {

template <class T>
struct sigmoid_op final : unary_op<T, sigmoid_op<T>> {
    static constexpr op_rule rule{
        .name = "sigmoid", .forward = "σ({x0:any})", .gradients = {{0, "{dy} ⊙ {y}(1 − {y})"}}};
    static constexpr op_doc doc{.output = "H",
                                .definition = "= 1/(1 + e^(−{x0})), without overflow for any {x0}",
                                .saves = "— (uses H)"};
    static var<double> example(example_inputs& in) { return sigmoid(in.variable(3, 4, -6.0, 6.0)); }
    // σ(A) from e = e^(−|A|) ∈ (0, 1], which never overflows: σ(A) = 1/(1 + e) for A ≥ 0 and
    // e/(1 + e) for A < 0 (no cancellation either way). One exp, and a select instead of a branch on the
    // sign, which random-sign inputs would mispredict half the time.
    T f(T x) const {
        const T e = std::exp(-std::abs(x));
        const T r = T(1) / (T(1) + e);
        const T m = static_cast<T>(x >= T(0));  // 1 or 0; m + (1 − m)·e is exactly 1 or exactly e
        return r * (m + (T(1) - m) * e);
    }
    T df(T, T y) const { return y * (T(1) - y); }
    // f in two passes, the same arithmetic: the exps (library calls) first, into the output, then the rest
    // in a loop GCC vectorises (r·(m + (1 − m)·e) is r or r·e exactly, a select), instead of a division, a
    // compare and three multiplications per element in scalar code between the calls.
    void forward(forward_context<T>& ctx) override {
        const matrix<T>& x = ctx.input(0);
        matrix<T>& y = ctx.output(shape_of(x));
        const T* __restrict px = x.data();
        T* __restrict py = y.data();
        const std::size_t n = x.size();
        for (std::size_t k = 0; k < n; ++k) py[k] = std::exp(-std::abs(px[k]));
        for (std::size_t k = 0; k < n; ++k) {
            const T e = py[k];
            const T r = T(1) / (T(1) + e);
            py[k] = px[k] >= T(0) ? r : r * e;
        }
    }
};

template <class T>
struct tanh_op final : unary_op<T, tanh_op<T>> {
    static constexpr op_rule rule{.name = "tanh", .gradients = {{0, "{dy} ⊙ (1 − {y}²)"}}};
    static constexpr op_doc doc{.output = "H", .saves = "— (uses H)"};
    static var<double> example(example_inputs& in) { return tanh(in.variable(3, 4, -3.0, 3.0)); }
    T f(T x) const { return std::tanh(x); }
    T df(T, T y) const { return T(1) - y * y; }
};

template <class T>
struct relu_op final : unary_op<T, relu_op<T>> {
    static constexpr op_rule rule{.name = "relu", .gradients = {{0, "{dy} ⊙ [{x0} > 0]"}}};
    static constexpr op_doc doc{.output = "H", .definition = "= max(0, {x0})", .note = "relu′(0) = 0"};
    static var<double> example(example_inputs& in) { return relu(in.variable(3, 4)); }
    T f(T x) const { return detail::relu_value(x); }
    T df(T x, T) const { return detail::relu_slope(x); }
};

template <class T>
struct leaky_relu_op final : unary_op<T, leaky_relu_op<T>> {
    T slope;
    explicit leaky_relu_op(T f_) : slope(f_) {}
    static constexpr op_rule rule{.name = "leaky_relu", .gradients = {{0, "{dy} ⊙ ({x0} > 0 ? 1 : f)"}}};
    static constexpr op_doc doc{
        .calls = "`leaky_relu(A, f = 0.01)`", .output = "H", .definition = "= max(f·{x0}, {x0}), 0 ≤ f < 1"};
    static var<double> example(example_inputs& in) { return leaky_relu(in.variable(3, 4), 0.1); }
    // Branch-free: [A > 0]·(1 − f) + f is 1 or f.
    T f(T x) const { return x * (static_cast<T>(x > T(0)) * (T(1) - slope) + slope); }
    T df(T x, T) const { return static_cast<T>(x > T(0)) * (T(1) - slope) + slope; }
};

template <class T>
struct elu_op final : unary_op<T, elu_op<T>> {
    T alpha;
    explicit elu_op(T a) : alpha(a) {}
    static constexpr op_rule rule{.name = "elu", .gradients = {{0, "{dy} ⊙ ({x0} > 0 ? 1 : {y} + α)"}}};
    static constexpr op_doc doc{.calls = "`elu(A, α = 1)`",
                                .output = "H",
                                .definition = "= {x0} if {x0} > 0, α(e^{x0} − 1) otherwise",
                                .note = "elu′(0) = α",
                                .saves = "— (uses H)"};
    static var<double> example(example_inputs& in) { return elu(in.variable(3, 4, -2.0, 2.0), 0.7); }
    T f(T x) const { return x > T(0) ? x : alpha * std::expm1(x); }
    T df(T x, T y) const { return x > T(0) ? T(1) : y + alpha; }  // α·e^A = H + α
};

template <class T>
struct selu_op final : unary_op<T, selu_op<T>> {
    static constexpr T lambda = T(selu_lambda);
    static constexpr T alpha = T(selu_alpha);
    static constexpr op_rule rule{.name = "selu", .gradients = {{0, "{dy} ⊙ ({x0} > 0 ? λ : {y} + λα)"}}};
    static constexpr op_doc doc{.output = "H",
                                .definition = "= λ·elu({x0}, α), λ ≈ 1.0507, α ≈ 1.6733",
                                .note = "selu′(0) = λα",
                                .saves = "— (uses H)"};
    static var<double> example(example_inputs& in) { return selu(in.variable(3, 4, -2.0, 2.0)); }
    T f(T x) const { return x > T(0) ? lambda * x : lambda * alpha * std::expm1(x); }
    T df(T x, T y) const { return x > T(0) ? lambda : y + lambda * alpha; }  // λα·e^A = H + λα
};

/// Rejects parameters outside an activation's domain at record time, naming the op and caller.
template <class Op, class T>
var<T> checked_apply(const var<T>& a, const std::source_location& loc, T p, bool ok, const char* what) {
    if (!ok) {
        throw argument_error(
            detail::op_message(Op::rule.name, fmt::format("{} = {} is invalid", what, p), loc));
    }
    return apply<Op>({a}, loc, p);
}

}  // namespace

XGRAD_OP_FUNCTION(sigmoid, (const var<T>& a), apply<sigmoid_op<T>>({a}, loc))
XGRAD_OP_FUNCTION(tanh, (const var<T>& a), apply<tanh_op<T>>({a}, loc))
XGRAD_OP_FUNCTION(relu, (const var<T>& a), apply<relu_op<T>>({a}, loc))
XGRAD_OP_FUNCTION(leaky_relu, (const var<T>& a, std::type_identity_t<T> f),
                  checked_apply<leaky_relu_op<T>, T>(a, loc, f, f >= T(0) && f < T(1),
                                                     "slope f (needs 0 ≤ f < 1)"))
XGRAD_OP_FUNCTION(elu, (const var<T>& a, std::type_identity_t<T> alpha),
                  checked_apply<elu_op<T>, T>(a, loc, alpha, alpha > T(0), "alpha (needs α > 0)"))
XGRAD_OP_FUNCTION(selu, (const var<T>& a), apply<selu_op<T>>({a}, loc))

namespace detail {
void register_activation_ops(op_registry& r) {
    r.add_ops<sigmoid_op, tanh_op, relu_op, leaky_relu_op, elu_op, selu_op>("activation");
}
}  // namespace detail

}  // namespace xgrad
