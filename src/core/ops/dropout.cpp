// Inverted dropout: the mask is drawn from xgrad::rng in forward and saved for backward.
#include "xgrad/ops/dropout.hpp"

#include <fmt/format.h>

#include "xgrad/error.hpp"
#include "xgrad/init.hpp"
#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"

namespace xgrad {

namespace {

template <class T>
struct dropout_op final : op<T> {
    double p;
    rng* g;  // read in forward only (backward uses the saved mask)
    dropout_op(double p_, rng* g_) : p(p_), g(g_) {}

    static constexpr op_rule rule{.name = "dropout",
                                  .forward = "{x0:product} ⊙ M/(1 − p)",
                                  .binds = binding::product,
                                  .gradients = {{0, "{dy} ⊙ M/(1 − p)"}}};
    static constexpr op_doc doc{
        .calls = "`dropout(X, p, g)`",
        .inputs = {"X"},
        .definition = "with Mᵢⱼ = [uᵢⱼ ≥ p], uᵢⱼ ~ U[0, 1) from xgrad::rng (training)",
        .note = "inverted: E[Y] = X; evaluation is the identity and records no node",
        .saves = "M/(1 − p)"};
    static var<double> example(example_inputs& in) {
        rng mask_seed(7);  // the same mask every time the example is recorded (gradcheck records it often)
        return dropout(in.variable(3, 4), 0.4, mask_seed);
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        if (!(p >= 0.0 && p < 1.0)) ctx.fail(fmt::format("the drop probability p = {} must be in [0, 1)", p));
        const matrix<T>& x = ctx.input(0);
        const shape2 s = shape_of(x);
        const std::size_t n = s[0] * s[1];
        // M/(1 − p): kept units are scaled so the expected output equals the input
        const T keep = static_cast<T>(1.0 / (1.0 - p));
        matrix<T>* mask = ctx.recording() ? &ctx.save(0, s) : nullptr;
        const T* px = x.data();
        T* py = ctx.output(s).data();
        for (std::size_t k = 0; k < n; ++k) {
            const T mk = g->uniform() >= p ? keep : T(0);
            if (mask != nullptr) mask->data()[k] = mk;
            py[k] = px[k] * mk;
        }
    }
    void backward(backward_context<T>& ctx) override {
        const T* pm = ctx.saved(0).data();
        const T* pg = ctx.grad_output().data();
        write_gradient(ctx.target(0), [&](std::size_t k) { return pg[k] * pm[k]; });
    }
};

}  // namespace

template <class T>
var<T> dropout(const var<T>& x, double p, rng& g, bool training, std::source_location loc) {
    // p is checked in evaluation too, so a bad model fails the same way in both modes
    if (!(p >= 0.0 && p < 1.0)) {
        throw argument_error(detail::op_message(
            "dropout", fmt::format("the drop probability p = {} must be in [0, 1)", p), loc));
    }
    if (!training) return x;  // evaluation: the identity (E[M/(1 − p)] = 1)
    return apply<dropout_op<T>>({x}, loc, p, &g);
}

template var<float> dropout(const var<float>&, double, rng&, bool, std::source_location);
template var<double> dropout(const var<double>&, double, rng&, bool, std::source_location);

namespace detail {
void register_dropout_ops(op_registry& r) {
    r.add_ops<dropout_op>("dropout");
}
}  // namespace detail

}  // namespace xgrad
