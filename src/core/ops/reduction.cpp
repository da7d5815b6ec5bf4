// Reductions: the rules beside forward and backward. Plain loops (xt::sum over an axis runs at scalar speed).
#include "xgrad/ops/reduction.hpp"

#include <fmt/format.h>

#include "xgrad/broadcast.hpp"
#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"

namespace xgrad {

namespace {

/// axis −1: everything → [1×1]; axis 0: over rows → [1×c]; axis 1: over columns → [r×1].
/// Y = scale · Σ_axis A with scale 1 for sum, 1/n for mean (n the number of elements reduced).
template <class T, bool is_mean>
struct reduce_op final : op<T> {
    int axis;  // −1 after construction means "everything"
    int user_axis;
    reduce_op(bool all, int axis_) : axis(all ? -1 : (axis_ == -1 ? -2 : axis_)), user_axis(axis_) {}
    static constexpr op_rule sum_rule{.name = "sum", .gradients = {{0, "{dy} broadcast back"}}};
    static constexpr op_rule mean_rule{.name = "mean", .gradients = {{0, "{dy}/n broadcast back"}}};
    static constexpr const op_rule& rule = is_mean ? mean_rule : sum_rule;
    static constexpr op_doc doc{
        .calls = is_mean ? "`mean(A)`, `mean(A, axis)`" : "`sum(A)`, `sum(A, axis)`",
        .definition = is_mean ? "= the sum ÷ n, the number of elements reduced"
                              : "= Σ A → [1×1]; axis 0: Σ over rows → [1×c]; axis 1: Σ over columns → [r×1]"};
    static var<double> example(example_inputs& in) {
        return is_mean ? mean(in.variable(3, 4), 0) : sum(in.variable(3, 4), 1);
    }
    const op_rule* describe() const override { return &rule; }
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
        // sum_to is exactly this reduction
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
using sum_op = reduce_op<T, false>;
template <class T>
using mean_op = reduce_op<T, true>;

XGRAD_OP_FUNCTION(sum, (const var<T>& a), apply<sum_op<T>>({a}, loc, true, 0))
XGRAD_OP_FUNCTION(sum, (const var<T>& a, int axis), apply<sum_op<T>>({a}, loc, false, axis))
XGRAD_OP_FUNCTION(mean, (const var<T>& a), apply<mean_op<T>>({a}, loc, true, 0))
XGRAD_OP_FUNCTION(mean, (const var<T>& a, int axis), apply<mean_op<T>>({a}, loc, false, axis))

namespace detail {
void register_reduction_ops(op_registry& r) {
    r.add_ops<sum_op, mean_op>("reduction");
}
}  // namespace detail

}  // namespace xgrad
