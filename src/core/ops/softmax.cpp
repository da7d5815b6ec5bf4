// Softmax family over the class axis (rows), per column. Loops run row by row over contiguous memory,
// keeping one running value per column (the layout is row-major, examples are columns).
#include "xgrad/ops/softmax.hpp"

#include <cmath>

#include <fmt/format.h>

#include "softmax_kernels.hpp"
#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"

namespace xgrad {

namespace {

template <class T>
struct softmax_op final : op<T> {
    static constexpr op_rule rule{.name = "softmax",
                                  .gradients = {{0, "{y} ⊙ ({dy} − Σ_classes {dy} ⊙ {y})"}}};
    static constexpr op_doc doc{.inputs = {"Z"},
                                .definition = "= e^(Z − max)/Σ e^(Z − max) per column",
                                .note = "the full Jacobian-vector product",
                                .saves = "column max/sum scratch"};
    static var<double> example(example_inputs& in) { return softmax(in.variable(3, 4, -3.0, 3.0)); }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const matrix<T>& z = ctx.input(0);
        const shape2 s = shape_of(z);
        if (s[0] == 0) ctx.fail("softmax over 0 classes (the input has no rows)");
        // Y = e^(Z − max) / Σ e^(Z − max), per column
        matrix<T>& col = ctx.save(0, {detail::softmax_scratch_rows, s[1]});
        detail::log_softmax_columns(z, ctx.output(s), col, /*want_log=*/false);
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& y = ctx.output();
        const matrix<T>& dy = ctx.grad_output();
        const std::size_t c = y.shape()[0], m = y.shape()[1];
        matrix<T>& dot = ctx.workspace(1, {1, m});
        T* pd = dot.data();
        for (std::size_t j = 0; j < m; ++j) pd[j] = T(0);
        for (std::size_t i = 0; i < c; ++i) {
            const T* py = y.data() + i * m;
            const T* pg = dy.data() + i * m;
            for (std::size_t j = 0; j < m; ++j) pd[j] += py[j] * pg[j];
        }
        const T* py = y.data();
        const T* pg = dy.data();
        write_gradient(ctx.target(0), [&](std::size_t k) { return py[k] * (pg[k] - pd[k % m]); });
    }
};

template <class T>
struct log_softmax_op final : op<T> {
    static constexpr op_rule rule{.name = "log_softmax",
                                  .gradients = {{0, "{dy} − softmax({x0:any}) ⊙ Σ_classes {dy}"}}};
    static constexpr op_doc doc{
        .inputs = {"Z"}, .definition = "= Z − max − log Σ e^(Z − max) per column", .saves = "column scratch"};
    static var<double> example(example_inputs& in) { return log_softmax(in.variable(3, 4, -3.0, 3.0)); }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const matrix<T>& z = ctx.input(0);
        const shape2 s = shape_of(z);
        if (s[0] == 0) ctx.fail("log_softmax over 0 classes (the input has no rows)");
        // Y = (Z − max) − log Σ e^(Z − max), per column (in this order: see softmax_kernels.hpp)
        matrix<T>& col = ctx.save(0, {detail::softmax_scratch_rows, s[1]});
        detail::log_softmax_columns(z, ctx.output(s), col, /*want_log=*/true);
    }
    void backward(backward_context<T>& ctx) override {
        // softmax(Z) = e^Y
        const matrix<T>& y = ctx.output();
        const matrix<T>& dy = ctx.grad_output();
        const std::size_t c = y.shape()[0], m = y.shape()[1];
        matrix<T>& tot = ctx.workspace(1, {1, m});
        T* ps = tot.data();
        for (std::size_t j = 0; j < m; ++j) ps[j] = T(0);
        for (std::size_t i = 0; i < c; ++i) {
            const T* pg = dy.data() + i * m;
            for (std::size_t j = 0; j < m; ++j) ps[j] += pg[j];
        }
        const T* py = y.data();
        const T* pg = dy.data();
        write_gradient(ctx.target(0), [&](std::size_t k) { return pg[k] - std::exp(py[k]) * ps[k % m]; });
    }
};

}  // namespace

XGRAD_OP_FUNCTION(softmax, (const var<T>& z), apply<softmax_op<T>>({z}, loc))
XGRAD_OP_FUNCTION(log_softmax, (const var<T>& z), apply<log_softmax_op<T>>({z}, loc))

namespace detail {
void register_softmax_ops(op_registry& r) {
    r.add_ops<softmax_op, log_softmax_op>("softmax");
}
}  // namespace detail

}  // namespace xgrad
