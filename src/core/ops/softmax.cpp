// Softmax family over the class axis (rows), per column. Loops run row by row over contiguous memory,
// keeping one running value per column (the layout is row-major, examples are columns).
#include "xgrad/ops/softmax.hpp"

#include <cmath>

#include <fmt/format.h>

#include "softmax_kernels.hpp"
#include "xgrad/op.hpp"

namespace xgrad {

namespace {

template <class T>
struct softmax_op final : op<T> {
    std::string_view name() const override { return "softmax"; }
    std::string_view rule() const override { return "d{x0} = {y} ⊙ (d{y} − Σ_classes d{y} ⊙ {y})"; }
    void forward(forward_context<T>& ctx) override {
        const matrix<T>& z = ctx.input(0);
        const shape2 s = shape_of(z);
        if (s[0] == 0) ctx.fail("softmax over 0 classes (the input has no rows)");
        // Y = e^(Z − max) / Σ e^(Z − max), per column
        matrix<T>& col = ctx.save(0, {detail::softmax_scratch_rows, s[1]});
        detail::log_softmax_columns(z, ctx.output(s), col, /*want_log=*/false);
    }
    void backward(backward_context<T>& ctx) override {
        // dZ = Y ⊙ (dY − Σ_classes dY ⊙ Y)    : [c×m]
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
    std::string_view name() const override { return "log_softmax"; }
    std::string_view rule() const override { return "d{x0} = d{y} − softmax({x0}) ⊙ Σ_classes d{y}"; }
    void forward(forward_context<T>& ctx) override {
        const matrix<T>& z = ctx.input(0);
        const shape2 s = shape_of(z);
        if (s[0] == 0) ctx.fail("log_softmax over 0 classes (the input has no rows)");
        // Y = (Z − max) − log Σ e^(Z − max), per column (in this order: see softmax_kernels.hpp)
        matrix<T>& col = ctx.save(0, {detail::softmax_scratch_rows, s[1]});
        detail::log_softmax_columns(z, ctx.output(s), col, /*want_log=*/true);
    }
    void backward(backward_context<T>& ctx) override {
        // dZ = dY − e^Y ⊙ Σ_classes dY    : [c×m]   (e^Y is the softmax)
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

template <class T>
var<T> softmax(const var<T>& z, std::source_location loc) {
    return apply<softmax_op<T>>({z}, loc);
}
template <class T>
var<T> log_softmax(const var<T>& z, std::source_location loc) {
    return apply<log_softmax_op<T>>({z}, loc);
}

template var<float> softmax(const var<float>&, std::source_location);
template var<double> softmax(const var<double>&, std::source_location);
template var<float> log_softmax(const var<float>&, std::source_location);
template var<double> log_softmax(const var<double>&, std::source_location);

}  // namespace xgrad
