// Reductions: forward and backward side by side. Plain loops (xt::sum over an axis runs at scalar speed).
#include "xgrad/ops/reduction.hpp"

#include <fmt/format.h>

#include "xgrad/broadcast.hpp"
#include "xgrad/op.hpp"

namespace xgrad {

namespace {

/// axis −1: everything → [1×1]; axis 0: over rows → [1×c]; axis 1: over columns → [r×1].
/// Y = scale · Σ_axis A,  dA = scale · dY broadcast back.  (scale is 1 for sum, 1/n for mean.)
template <class T>
struct reduce_op final : op<T> {
    int axis;  // −1 after construction means "everything"
    bool is_mean;
    int user_axis;
    reduce_op(bool all, int axis_, bool mean_)
        : axis(all ? -1 : (axis_ == -1 ? -2 : axis_)), is_mean(mean_), user_axis(axis_) {}
    std::string_view name() const override { return is_mean ? "mean" : "sum"; }
    std::string_view rule() const override {
        return is_mean ? "d{x0} = d{y}/n broadcast back" : "d{x0} = d{y} broadcast back";
    }
    T scale(const shape2& s) const {
        if (!is_mean) return T(1);
        const std::size_t n = axis < 0 ? s[0] * s[1] : s[static_cast<std::size_t>(axis)];
        return T(1) / static_cast<T>(n);
    }
    void forward(forward_context<T>& ctx) override {
        if (axis != -1 && axis != 0 && axis != 1) {
            ctx.fail(fmt::format("axis must be 0 (over rows) or 1 (over columns), not {}", user_axis));
        }
        const matrix<T>& a = ctx.input(0);
        const shape2 s = shape_of(a);
        if (is_mean && (axis < 0 ? s[0] * s[1] : s[static_cast<std::size_t>(axis)]) == 0) {
            ctx.fail(fmt::format("mean of an empty extent ({} along axis {})", to_string(s), axis));
        }
        const shape2 out = axis < 0 ? shape2{1, 1} : axis == 0 ? shape2{1, s[1]} : shape2{s[0], 1};
        // Y = scale · Σ_axis A  (sum_to is exactly this reduction)
        matrix<T>& y = ctx.output(out);
        const T k = scale(s);
        const std::size_t c = s[1];
        const T* p = a.data();
        sum_to(y, T(0), s, [p, c](std::size_t i, std::size_t j) { return p[i * c + j]; });
        if (k != T(1)) {
            for (auto& v : y) v *= k;
        }
    }
    void backward(backward_context<T>& ctx) override {
        // dA = scale · dY broadcast back along the reduced axis
        const matrix<T>& dy = ctx.grad_output();
        const T k = scale(shape_of(ctx.input(0)));
        gradient_target<T> t = ctx.target(0);
        const std::size_t r = t.buffer.shape()[0], c = t.buffer.shape()[1];
        const std::size_t rs = dy.shape()[0] == 1 ? 0 : dy.shape()[1];
        const std::size_t cs = dy.shape()[1] == 1 ? 0 : 1;
        const T* g = dy.data();
        T* d = t.buffer.data();
        for (std::size_t i = 0; i < r; ++i) {
            for (std::size_t j = 0; j < c; ++j) {
                const T v = k * g[i * rs + j * cs];
                d[i * c + j] = (t.beta == T(0)) ? v : d[i * c + j] + v;
            }
        }
    }
};

}  // namespace

template <class T>
var<T> sum(const var<T>& a, std::source_location loc) {
    return apply<reduce_op<T>>({a}, loc, true, 0, false);
}
template <class T>
var<T> sum(const var<T>& a, int axis, std::source_location loc) {
    return apply<reduce_op<T>>({a}, loc, false, axis, false);
}
template <class T>
var<T> mean(const var<T>& a, std::source_location loc) {
    return apply<reduce_op<T>>({a}, loc, true, 0, true);
}
template <class T>
var<T> mean(const var<T>& a, int axis, std::source_location loc) {
    return apply<reduce_op<T>>({a}, loc, false, axis, true);
}

#define XGRAD_INSTANTIATE(T)                                       \
    template var<T> sum(const var<T>&, std::source_location);      \
    template var<T> sum(const var<T>&, int, std::source_location); \
    template var<T> mean(const var<T>&, std::source_location);     \
    template var<T> mean(const var<T>&, int, std::source_location);

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad
