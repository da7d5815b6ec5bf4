// Activations: forward and backward side by side; each derivative is written in the cheapest saved form.
#include "xgrad/ops/activation.hpp"

#include <cmath>

#include <fmt/format.h>

#include "xgrad/op.hpp"
#include "xgrad/unary_op.hpp"

namespace xgrad {

namespace {

template <class T>
struct sigmoid_op final : unary_op<T, sigmoid_op<T>> {
    std::string_view name() const override { return "sigmoid"; }
    std::string_view rule() const override { return "d{x0} = d{y} ⊙ {y}(1 − {y})"; }
    // H = σ(A) from e = e^(−|A|) ∈ (0, 1], which never overflows: σ(A) = 1/(1 + e) for A ≥ 0 and
    // e/(1 + e) for A < 0 (no cancellation either way). One exp, and a select instead of a branch on the
    // sign, which random-sign inputs would mispredict half the time.
    T f(T x) const {
        const T e = std::exp(-std::abs(x));
        const T r = T(1) / (T(1) + e);
        const T m = static_cast<T>(x >= T(0));  // 1 or 0; m + (1 − m)·e is exactly 1 or exactly e
        return r * (m + (T(1) - m) * e);
    }
    T df(T, T y) const { return y * (T(1) - y); }  // dA = dH ⊙ H(1 − H)
};

template <class T>
struct tanh_op final : unary_op<T, tanh_op<T>> {
    std::string_view name() const override { return "tanh"; }
    std::string_view rule() const override { return "d{x0} = d{y} ⊙ (1 − {y}²)"; }
    T f(T x) const { return std::tanh(x); }      // H = tanh A
    T df(T, T y) const { return T(1) - y * y; }  // dA = dH ⊙ (1 − H²)
};

template <class T>
struct relu_op final : unary_op<T, relu_op<T>> {
    std::string_view name() const override { return "relu"; }
    std::string_view rule() const override { return "d{x0} = d{y} ⊙ [{x0} > 0]"; }
    // Branch-free forms (the sign of random activations is unpredictable): max keeps NaN visible.
    T f(T x) const { return std::max(x, T(0)); }             // H = max(0, A)
    T df(T x, T) const { return static_cast<T>(x > T(0)); }  // dA = dH ⊙ [A > 0]; relu′(0) = 0
};

template <class T>
struct leaky_relu_op final : unary_op<T, leaky_relu_op<T>> {
    T slope;
    explicit leaky_relu_op(T f_) : slope(f_) {}
    std::string_view name() const override { return "leaky_relu"; }
    std::string_view rule() const override { return "d{x0} = d{y} ⊙ ({x0} > 0 ? 1 : f)"; }
    // Branch-free: [A > 0]·(1 − f) + f is 1 or f.
    T f(T x) const { return x * (static_cast<T>(x > T(0)) * (T(1) - slope) + slope); }  // H = max(f·A, A)
    T df(T x, T) const {
        return static_cast<T>(x > T(0)) * (T(1) - slope) + slope;
    }  // dA = dH ⊙ (A > 0 ? 1 : f)
};

template <class T>
struct elu_op final : unary_op<T, elu_op<T>> {
    T alpha;
    explicit elu_op(T a) : alpha(a) {}
    std::string_view name() const override { return "elu"; }
    std::string_view rule() const override { return "d{x0} = d{y} ⊙ ({x0} > 0 ? 1 : {y} + α)"; }
    T f(T x) const { return x > T(0) ? x : alpha * std::expm1(x); }  // H = A or α(e^A − 1)
    T df(T x, T y) const { return x > T(0) ? T(1) : y + alpha; }     // α·e^A = H + α
};

template <class T>
struct selu_op final : unary_op<T, selu_op<T>> {
    static constexpr T lambda = T(selu_lambda);
    static constexpr T alpha = T(selu_alpha);
    std::string_view name() const override { return "selu"; }
    std::string_view rule() const override { return "d{x0} = d{y} ⊙ ({x0} > 0 ? λ : {y} + λα)"; }
    T f(T x) const { return x > T(0) ? lambda * x : lambda * alpha * std::expm1(x); }  // H = λ·elu(A, α)
    T df(T x, T y) const { return x > T(0) ? lambda : y + lambda * alpha; }            // λα·e^A = H + λα
};

/// Rejects parameters outside an activation's domain at record time, naming the op and caller.
template <class Op, class T>
var<T> checked_apply(const var<T>& a, const std::source_location& loc, T p, bool ok, const char* what) {
    if (!ok) {
        throw shape_error(detail::op_message(Op(p).name(), fmt::format("{} = {} is invalid", what, p), loc));
    }
    return apply<Op>({a}, loc, p);
}

}  // namespace

template <class T>
var<T> sigmoid(const var<T>& a, std::source_location loc) {
    return apply<sigmoid_op<T>>({a}, loc);
}
template <class T>
var<T> tanh(const var<T>& a, std::source_location loc) {
    return apply<tanh_op<T>>({a}, loc);
}
template <class T>
var<T> relu(const var<T>& a, std::source_location loc) {
    return apply<relu_op<T>>({a}, loc);
}
template <class T>
var<T> leaky_relu(const var<T>& a, std::type_identity_t<T> f, std::source_location loc) {
    return checked_apply<leaky_relu_op<T>, T>(a, loc, f, f >= T(0) && f < T(1), "slope f (needs 0 ≤ f < 1)");
}
template <class T>
var<T> elu(const var<T>& a, std::type_identity_t<T> alpha, std::source_location loc) {
    return checked_apply<elu_op<T>, T>(a, loc, alpha, alpha > T(0), "alpha (needs α > 0)");
}
template <class T>
var<T> selu(const var<T>& a, std::source_location loc) {
    return apply<selu_op<T>>({a}, loc);
}

#define XGRAD_INSTANTIATE(T)                                                                  \
    template var<T> sigmoid(const var<T>&, std::source_location);                             \
    template var<T> tanh(const var<T>&, std::source_location);                                \
    template var<T> relu(const var<T>&, std::source_location);                                \
    template var<T> leaky_relu(const var<T>&, std::type_identity_t<T>, std::source_location); \
    template var<T> elu(const var<T>&, std::type_identity_t<T>, std::source_location);        \
    template var<T> selu(const var<T>&, std::source_location);

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad
