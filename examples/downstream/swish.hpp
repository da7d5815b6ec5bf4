// swish.hpp — a user-defined xgrad op: Y = X ⊙ σ(X) (swish, SiLU), written in the user's own project.
#pragma once
#include <cmath>
#include <source_location>

#include <xgrad/op.hpp>

template <class T>
struct swish_op final : xgrad::op<T> {
    // Its name and backward rule, as traces, pictures and checks read them: {y} is the output, {x0} the
    // input, {dy} the gradient arriving at Y; the clause gives dX (input 0).
    static constexpr xgrad::op_rule rule{.name = "swish",
                                         .gradients = {{0, "{dy} ⊙ ({y} + σ({x0})(1 − {y}))"}}};
    const xgrad::op_rule* describe() const override { return &rule; }
    void forward(xgrad::forward_context<T>& ctx) override {
        const xgrad::matrix<T>& x = ctx.input(0);
        xgrad::matrix<T>& y = ctx.output(ctx.input_shape(0));  // shape rule: Y has X's shape
        xgrad::matrix<T>* s = ctx.recording() ? &ctx.save(0, ctx.input_shape(0)) : nullptr;
        for (std::size_t k = 0; k < x.size(); ++k) {
            const T v = x.data()[k], e = std::exp(-std::abs(v));  // σ(v), no overflow, no branch:
            const T sig = (v >= 0 ? T(1) : e) / (1 + e);          // 1/(1 + e^−v) or e^v/(1 + e^v)
            y.data()[k] = v * sig;
            if (s) s->data()[k] = sig;  // S = σ(X), kept for backward
        }
    }
    void backward(xgrad::backward_context<T>& ctx) override {
        const xgrad::matrix<T>&y = ctx.output(), &s = ctx.saved(0);
        ctx.accumulate(0, ctx.grad_output() * (y + s * (1 - y)));  // dX = dY ⊙ (Y + S(1 − Y))
    }
};

template <class T>
xgrad::var<T> swish(const xgrad::var<T>& x, std::source_location loc = std::source_location::current()) {
    return xgrad::apply<swish_op<T>>({x}, loc);
}
