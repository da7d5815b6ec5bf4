// Losses: each op's rule beside its forward and backward. Each returns a 1×1 mean over the m examples
// (columns).
#include "xgrad/ops/loss.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "softmax_kernels.hpp"
#include "xgrad/loss_op.hpp"
#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/reduction.hpp"

namespace xgrad {

namespace {

/// Checks that targets fit predictions: same shape, or (when labels are allowed) a [1×m] label row.
/// Returns true when the targets are labels.
template <class T>
bool check_targets(forward_context<T>& ctx, bool labels_allowed) {
    const shape2 p = ctx.input_shape(0), t = ctx.input_shape(1);
    if (p[1] == 0)
        ctx.fail(fmt::format("empty batch: the predictions {} have no columns (examples)", to_string(p)));
    if (t == p) return false;
    if (labels_allowed && t[0] == 1 && t[1] == p[1]) return true;
    ctx.fail(fmt::format(
        "the targets {} are {} but the predictions {} are {}{}", ctx.input_name(1), to_string(t),
        ctx.input_name(0), to_string(p),
        labels_allowed ? fmt::format(" (targets must be {} or a [1×{}] row of labels)", to_string(p), p[1])
                       : std::string()));
}

/// Label of column j, validated: an integer in [0, classes).
template <class T>
std::size_t label_at(forward_context<T>& ctx, const matrix<T>& labels, std::size_t j, std::size_t classes) {
    const T v = labels.data()[j];
    if (!(v >= T(0)) || !(v < static_cast<T>(classes)) || v != std::floor(v)) {
        ctx.fail(fmt::format("label {} of example {} is not a class index in [0, {})", v, j, classes));
    }
    return static_cast<std::size_t>(v);
}

template <class T>
struct softmax_cross_entropy_op final : op<T> {
    bool labels = false;
    static constexpr op_rule rule{
        .name = "softmax_cross_entropy",
        .gradients = {{0, "(softmax({x0:any}) − {x1:product})/m"}, {1, "−log softmax({x0:any})/m"}}};
    static constexpr op_doc doc{
        .inputs = {"Z", "T"},
        .output = "C",
        .definition =
            "= −(1/m) Σ T ⊙ log softmax(Z), log softmax(Z) = (Z − max) − log Σ e^(Z − max): finite for "
            "any Z",
        .note =
            "T: [c×m] columns summing to 1 — one-hot or distributions — or a [1×m] row of integer "
            "labels, which get no gradient",
        .saves = "softmax(Z), max and log-sum per column"};
    static var<double> example(example_inputs& in) {
        return softmax_cross_entropy(in.variable(3, 4, -3.0, 3.0), in.variable(in.distributions(3, 4)));
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        labels = check_targets(ctx, /*labels_allowed=*/ctx.input_shape(0)[0] != 1);
        const matrix<T>& z = ctx.input(0);
        const matrix<T>& t = ctx.input(1);
        const std::size_t c = z.shape()[0], m = z.shape()[1];
        if (c == 0) ctx.fail("softmax over 0 classes (the logits have no rows)");
        if (labels) {
            if (ctx.needs_grad(1))
                ctx.fail("integer labels cannot require a gradient (make the label row a constant)");
            for (std::size_t j = 0; j < m; ++j) label_at(ctx, t, j, c);
        }
        // Y = softmax(Z) (saved for dZ); col rows 0 and 1 = max and log s per column, so
        // log Y = (Z − max) − log s (in this order: see softmax_kernels.hpp).
        matrix<T>& y = ctx.save(0, {c, m});
        matrix<T>& col = ctx.save(1, {detail::softmax_scratch_rows, m});
        detail::log_softmax_columns(z, y, col, /*want_log=*/false);
        const T* mx = col.data();
        const T* logs = col.data() + m;
        // C = −(1/m) Σⱼ Σᵢ Tᵢⱼ ((Zᵢⱼ − maxⱼ) − log sⱼ)
        T total = 0;
        if (labels) {
            for (std::size_t j = 0; j < m; ++j) {
                const std::size_t k = static_cast<std::size_t>(t.data()[j]);
                total += (z(k, j) - mx[j]) - logs[j];
            }
        } else {
            for (std::size_t i = 0; i < c; ++i) {
                for (std::size_t j = 0; j < m; ++j) {
                    const T ti = t(i, j);
                    if (ti != T(0)) total += ti * ((z(i, j) - mx[j]) - logs[j]);
                }
            }
        }
        ctx.output({1, 1})(0, 0) = -total / static_cast<T>(m);
    }
    void backward(backward_context<T>& ctx) override {
        const T g = ctx.grad_output()(0, 0);
        const matrix<T>& y = ctx.saved(0);
        const matrix<T>& t = ctx.input(1);
        const std::size_t m = y.shape()[1];
        const T k = g / static_cast<T>(m);
        if (ctx.needs_grad(0)) {
            const gradient_target<T> d = ctx.target(0);
            const T* py = y.data();
            if (labels) {  // T is one-hot: subtract k at each column's label row
                write_gradient(d, [&](std::size_t n) { return k * py[n]; });
                for (std::size_t j = 0; j < m; ++j)
                    d.buffer.data()[static_cast<std::size_t>(t.data()[j]) * m + j] -= k;
            } else {
                const T* pt = t.data();
                write_gradient(d, [&](std::size_t n) { return k * (py[n] - pt[n]); });
            }
        }
        if (ctx.needs_grad(1)) {
            if (labels) ctx.fail("integer labels cannot receive a gradient (make the label row a constant)");
            // dT = −log Y/m · dC = −((Z − max) − log s)/m · dC : [c×m]
            const matrix<T>& z = ctx.input(0);
            const T* mx = ctx.saved(1).data();
            const T* logs = mx + m;
            write_gradient(ctx.target(1),
                           [&](std::size_t n) { return -k * ((z.data()[n] - mx[n % m]) - logs[n % m]); });
        }
    }
};

template <class T>
struct bce_with_logits_op final : op<T> {
    static constexpr op_rule rule{.name = "bce_with_logits",
                                  .gradients = {{0, "(σ({x0:any}) − {x1:product})/m"}, {1, "−{x0}/m"}}};
    static constexpr op_doc doc{
        .inputs = {"Z", "Y"},
        .output = "C",
        .definition = "= (1/m) Σ max(Z, 0) − Z ⊙ Y + log(1 + e^(−|Z|)), stable for any Z",
        .saves = "e^(−|Z|) (when dZ is needed)"};
    static var<double> example(example_inputs& in) {
        return bce_with_logits(in.variable(2, 5, -3.0, 3.0), in.variable(2, 5, 0.0, 1.0));
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        check_targets(ctx, false);
        const matrix<T>& z = ctx.input(0);
        const matrix<T>& y = ctx.input(1);
        const std::size_t m = z.shape()[1];
        // C = (1/m) Σ max(Z, 0) − Z ⊙ Y + log(1 + e^(−|Z|))   (softplus(Z) − Z·Y, without overflow)
        // e^(−|Z|) is saved when dZ will be wanted: backward's σ(Z) needs it again.
        T* saved_e = ctx.needs_grad(0) ? ctx.save(0, shape_of(z)).data() : nullptr;
        T total = 0;
        for (std::size_t n = 0; n < z.size(); ++n) {
            const T zi = z.data()[n];
            const T e = std::exp(-std::abs(zi));
            if (saved_e != nullptr) saved_e[n] = e;
            total += std::max(zi, T(0)) - zi * y.data()[n] + std::log1p(e);
        }
        ctx.output({1, 1})(0, 0) = total / static_cast<T>(m);
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& z = ctx.input(0);
        const matrix<T>& y = ctx.input(1);
        const T k = ctx.grad_output()(0, 0) / static_cast<T>(z.shape()[1]);
        if (ctx.needs_grad(0)) {
            const T* saved_e = ctx.saved(0).data();  // e^(−|Z|), from forward
            write_gradient(ctx.target(0), [&](std::size_t n) {
                const T zi = z.data()[n];
                const T e = saved_e[n], r = T(1) / (T(1) + e);
                const T mz = static_cast<T>(zi >= T(0));
                const T s = r * (mz + (T(1) - mz) * e);  // σ(z) without overflow or a branch on the sign
                return k * (s - y.data()[n]);
            });
        }
        if (ctx.needs_grad(1)) {
            write_gradient(ctx.target(1), [&](std::size_t n) { return -k * z.data()[n]; });
        }
    }
};

template <class T>
struct binary_cross_entropy_op final : op<T> {
    static T clamped_log(T x) { return std::max(std::log(x), T(-100)); }
    static constexpr op_rule rule{
        .name = "binary_cross_entropy",
        .gradients = {{0, "({x0:sum} − {x1:product})/(m·max({x0}(1 − {x0}), 10⁻¹²))"},
                      {1, "(log(1 − {x0:any}) − log {x0})/m"}}};
    static constexpr op_doc doc{.inputs = {"P", "Y"},
                                .output = "C",
                                .definition = "= −(1/m) Σ Y ⊙ log P + (1 − Y) ⊙ log(1 − P)",
                                .note =
                                    "each log is clamped at −100, as PyTorch does: P = 0 or 1 gives a large "
                                    "finite loss"};
    static var<double> example(example_inputs& in) {
        return binary_cross_entropy(in.variable(2, 5, 0.1, 0.9), in.variable(2, 5, 0.0, 1.0));
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        check_targets(ctx, false);
        const matrix<T>& p = ctx.input(0);
        const matrix<T>& y = ctx.input(1);
        const std::size_t m = p.shape()[1], cols = m;
        // C = −(1/m) Σ Y log P + (1 − Y) log(1 − P), logs clamped at −100
        T total = 0;
        for (std::size_t n = 0; n < p.size(); ++n) {
            const T pi = p.data()[n], yi = y.data()[n];
            if (!(pi >= T(0) && pi <= T(1))) {
                ctx.fail(fmt::format(
                    "probability {} at ({}, {}) is outside [0, 1] (pass logits to bce_with_logits)", pi,
                    n / cols, n % cols));
            }
            total += yi * clamped_log(pi) + (T(1) - yi) * clamped_log(T(1) - pi);
        }
        ctx.output({1, 1})(0, 0) = -total / static_cast<T>(m);
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& p = ctx.input(0);
        const matrix<T>& y = ctx.input(1);
        const T k = ctx.grad_output()(0, 0) / static_cast<T>(p.shape()[1]);
        if (ctx.needs_grad(0)) {
            write_gradient(ctx.target(0), [&](std::size_t n) {
                const T pi = p.data()[n];
                return k * (pi - y.data()[n]) / std::max(pi * (T(1) - pi), T(1e-12));
            });
        }
        if (ctx.needs_grad(1)) {
            write_gradient(ctx.target(1), [&](std::size_t n) {
                const T pi = p.data()[n];
                return -k * (clamped_log(pi) - clamped_log(T(1) - pi));
            });
        }
    }
};

template <class T>
struct mse_op final : op<T> {
    static constexpr op_rule rule{
        .name = "mse", .gradients = {{0, "({x0:sum} − {x1:product})/m"}, {1, "({x1:sum} − {x0:product})/m"}}};
    static constexpr op_doc doc{.inputs = {"H", "Y"},
                                .output = "C",
                                .definition =
                                    "= (1/(2m)) Σ (H − Y)², the lecture's scaling (PyTorch's MSELoss has "
                                    "no ½ and divides by every element)"};
    static var<double> example(example_inputs& in) { return mse(in.variable(2, 5), in.variable(2, 5)); }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        check_targets(ctx, false);
        const matrix<T>& h = ctx.input(0);
        const matrix<T>& y = ctx.input(1);
        // C = (1/(2m)) Σ (H − Y)²
        T total = 0;
        for (std::size_t n = 0; n < h.size(); ++n) {
            const T e = h.data()[n] - y.data()[n];
            total += e * e;
        }
        ctx.output({1, 1})(0, 0) = total / (T(2) * static_cast<T>(h.shape()[1]));
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& h = ctx.input(0);
        const matrix<T>& y = ctx.input(1);
        const T k = ctx.grad_output()(0, 0) / static_cast<T>(h.shape()[1]);
        for (std::size_t which = 0; which < 2; ++which) {
            if (!ctx.needs_grad(which)) continue;
            const T s = which == 0 ? k : -k;
            write_gradient(ctx.target(which), [&](std::size_t n) { return s * (h.data()[n] - y.data()[n]); });
        }
    }
};

}  // namespace

XGRAD_OP_FUNCTION(softmax_cross_entropy, (const var<T>& logits, const var<T>& targets),
                  apply<softmax_cross_entropy_op<T>>({logits, targets}, loc))
XGRAD_OP_FUNCTION(bce_with_logits, (const var<T>& logits, const var<T>& targets),
                  apply<bce_with_logits_op<T>>({logits, targets}, loc))
XGRAD_OP_FUNCTION(binary_cross_entropy, (const var<T>& probs, const var<T>& targets),
                  apply<binary_cross_entropy_op<T>>({probs, targets}, loc))
XGRAD_OP_FUNCTION(mse, (const var<T>& pred, const var<T>& targets), apply<mse_op<T>>({pred, targets}, loc))

template <class T>
var<T> cross_entropy(const var<T>& probs, const var<T>& targets, std::source_location loc) {
    // Composed from ops, so it needs no backward of its own: C = −(1/m)·Σ T ⊙ log P.
    const shape2 p = probs.shape(), t = targets.shape();
    const bool labels = t != p && p[0] != 1 && t[0] == 1 && t[1] == p[1];
    if (t != p && !labels) {
        throw shape_error(detail::op_message("cross_entropy",
                                             fmt::format("the targets are {} but the probabilities are {} "
                                                         "(targets must be {} or a [1×{}] row of labels)",
                                                         to_string(t), to_string(p), to_string(p), p[1]),
                                             loc));
    }
    if (labels && targets.requires_grad()) {
        throw shape_error(
            detail::op_message("cross_entropy", "integer labels cannot require a gradient", loc));
    }
    if (p[1] == 0)
        throw shape_error(detail::op_message("cross_entropy", "empty batch: no columns (examples)", loc));
    // Probabilities only, as binary_cross_entropy: logits here would give NaN (log of a negative number) or a
    // made-up loss (values above 1), silently.
    const matrix<T>& pv = probs.value();
    for (std::size_t n = 0; n < pv.size(); ++n) {
        const T v = pv.data()[n];
        if (!(v >= T(0) && v <= T(1))) {
            throw shape_error(detail::op_message(
                "cross_entropy",
                fmt::format("probability {} at ({}, {}){} is outside [0, 1] (pass logits to "
                            "softmax_cross_entropy, or apply softmax first)",
                            v, n / p[1], n % p[1],
                            probs.name().empty() ? std::string() : fmt::format(" of '{}'", probs.name())),
                loc));
        }
    }
    var<T> onehot = targets;
    if (labels) {
        try {
            onehot = probs.owner().constant(one_hot(targets.value(), p[0]), "one_hot");
        } catch (const graph_error& e) {
            throw shape_error(detail::op_message("cross_entropy", e.what(), loc));
        }
    }
    // xlogy: 0·log 0 = 0, so a probability of exactly 0 where the target is 0 costs nothing (value and
    // gradient); where the target is positive it is +∞, the true cross-entropy.
    return mul_scalar(sum(xlogy(onehot, probs, loc), loc), T(-1) / static_cast<T>(p[1]), loc);
}

template <class T>
matrix<T> one_hot(const matrix<T>& labels, std::size_t classes) {
    if (labels.shape()[0] != 1) {
        throw graph_error(
            fmt::format("one_hot: labels must be a [1×m] row, not {}", to_string(shape_of(labels))));
    }
    const std::size_t m = labels.shape()[1];
    if (!detail::element_count({classes, m}, sizeof(T))) {
        throw argument_error(fmt::format("one_hot: {} classes for {} labels: the one-hot matrix {}", classes,
                                         m, detail::too_large({classes, m}, sizeof(T))));
    }
    matrix<T> out({classes, m}, T(0));
    for (std::size_t j = 0; j < m; ++j) {
        const T v = labels.data()[j];
        if (!(v >= T(0)) || !(v < static_cast<T>(classes)) || v != std::floor(v)) {
            throw graph_error(fmt::format("one_hot: label {} of example {} is not a class index in [0, {})",
                                          v, j, classes));
        }
        out(static_cast<std::size_t>(v), j) = T(1);
    }
    return out;
}

#define XGRAD_INSTANTIATE(T)                                                           \
    template var<T> cross_entropy(const var<T>&, const var<T>&, std::source_location); \
    template matrix<T> one_hot(const matrix<T>&, std::size_t);                         \
    template void detail::check_scores_and_labels(forward_context<T>&);

template <class T>
void detail::check_scores_and_labels(forward_context<T>& ctx) {
    const shape2 z = ctx.input_shape(0), y = ctx.input_shape(1);
    if (z[0] == 0 || z[1] == 0)
        ctx.fail(fmt::format("the scores {} are {}: empty", ctx.input_name(0), to_string(z)));
    if (y[0] != 1 || y[1] != z[1]) {
        ctx.fail(
            fmt::format("the labels {} are {} but must be a [1×{}] row, one class index per example of {} {}",
                        ctx.input_name(1), to_string(y), z[1], ctx.input_name(0), to_string(z)));
    }
    if (ctx.needs_grad(1))
        ctx.fail("integer labels cannot require a gradient (make the label row a constant)");
    for (std::size_t j = 0; j < z[1]; ++j) label_at(ctx, ctx.input(1), j, z[0]);
}

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

namespace detail {
void register_loss_ops(op_registry& r) {
    r.add_ops<softmax_cross_entropy_op>("loss");
    r.add({.name = "cross_entropy",
           .family = "loss",
           .doc = {.calls = "`cross_entropy(P, T)`",
                   .inputs = {"P", "T"},
                   .output = "C",
                   .definition =
                       "= −(1/m) Σ T ⊙ log P, composed: xlogy, sum, mul_scalar (0·log 0 = 0); T as for "
                       "softmax_cross_entropy; P must lie in [0, 1] (logits are refused: use "
                       "softmax_cross_entropy)"},
           .example = [](example_inputs& in) {
               return cross_entropy(in.variable(3, 4, 0.1, 1.0), in.variable(3, 4, 0.0, 1.0));
           }});
    r.add_ops<bce_with_logits_op, binary_cross_entropy_op, mse_op>("loss");
}
}  // namespace detail

}  // namespace xgrad
