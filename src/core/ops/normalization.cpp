// Batch and layer normalisation: each op's rule beside its forward and backward. Statistics are computed in
// two passes (mean, then Σ(x − μ)²) and accumulated in double, for float too.
#include "xgrad/ops/normalization.hpp"

#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "xgrad/error.hpp"
#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"

namespace xgrad {

namespace {

/// The groups of batch_norm: `count` channels, each a contiguous block of `size` values (per feature: one
/// row of m values; per channel: H·W rows of m values).
struct bn_groups {
    std::size_t count = 0, size = 0;
};

/// Checks X (not empty), ε (positive), γ and β (one per group) and returns the groups of batch_norm; with
/// channels = 0 the groups are X's rows, as layer_norm's γ and β are. Fails naming the geometry.
template <class T>
bn_groups check_norm_inputs(forward_context<T>& ctx, std::size_t channels, double eps) {
    const shape2 x = ctx.input_shape(0), g = ctx.input_shape(1), b = ctx.input_shape(2);
    if (x[0] == 0 || x[1] == 0) ctx.fail(fmt::format("{} is {}: empty", ctx.input_name(0), to_string(x)));
    if (!(eps > 0.0)) ctx.fail(fmt::format("ε = {} must be positive", eps));
    bn_groups r;
    if (channels == 0) {
        r = {x[0], x[1]};
    } else {
        if (x[0] % channels != 0) {
            ctx.fail(
                fmt::format("{} is {} but an image batch of {} channels needs C·H·W rows, a multiple of {} "
                            "(channel c in rows [c·H·W, (c + 1)·H·W))",
                            ctx.input_name(0), to_string(x), channels, channels));
        }
        r = {channels, x[0] / channels * x[1]};
    }
    const shape2 want{r.count, 1};
    const char* what = channels == 0 ? "feature (row)" : "channel";
    if (g != want || b != want) {
        ctx.fail(fmt::format("γ {} is {} and β {} is {} but both must be {}, one per {} of {} {}",
                             ctx.input_name(1), to_string(g), ctx.input_name(2), to_string(b),
                             to_string(want), what, ctx.input_name(0), to_string(x)));
    }
    return r;
}

/// Scratch of n doubles (statistics accumulate in double for float too), zeroed. One buffer per thread and
/// slot, kept between calls: a steady training step allocates nothing here.
double* scratch(std::size_t slot, std::size_t n) {
    thread_local std::vector<double> buffers[2];
    std::vector<double>& b = buffers[slot];
    b.assign(n, 0.0);
    return b.data();
}

/// Mean and (biased) variance of n values, in two passes.
template <class T>
void mean_variance(const T* p, std::size_t n, double& mean, double& var) {
    double s = 0;
    for (std::size_t k = 0; k < n; ++k) s += static_cast<double>(p[k]);
    mean = s / static_cast<double>(n);
    double q = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const double d = static_cast<double>(p[k]) - mean;
        q += d * d;
    }
    var = q / static_cast<double>(n);
}

/// Y = γ ⊙ (X − μ)·inv + β per group, from saved rows (μ, 1/√(σ² + ε)) of `stats` [C×2].
template <class T>
void normalize_groups(const matrix<T>& x, const matrix<T>& gamma, const matrix<T>& beta,
                      const matrix<T>& stats, const bn_groups& gr, matrix<T>& y) {
    for (std::size_t c = 0; c < gr.count; ++c) {
        const T mu = stats(c, 0), inv = stats(c, 1);
        const T a = gamma.data()[c] * inv, b0 = beta.data()[c];
        const T* px = x.data() + c * gr.size;
        T* py = y.data() + c * gr.size;
        for (std::size_t k = 0; k < gr.size; ++k) py[k] = a * (px[k] - mu) + b0;
    }
}

/// What batch_norm's backward (training and evaluation) starts from: the groups and, per group, Σ dY and
/// Σ dY ⊙ X̂ (sums[2c], sums[2c + 1]; scratch, valid until the next call).
struct affine_sums {
    bn_groups groups;
    const double* sums;
};

/// dγ = Σ dY ⊙ X̂ and dβ = Σ dY per group (into targets 1 and 2 when wanted), from the saved rows
/// (μ, 1/√(σ² + ε)) of `stats` [C×2]; returns the groups and the sums, for dX.
template <class T>
affine_sums affine_gradients(backward_context<T>& ctx, const matrix<T>& stats) {
    const bn_groups gr{stats.shape()[0], ctx.input(0).size() / stats.shape()[0]};
    double* sums = scratch(0, 2 * gr.count);
    const T* px = ctx.input(0).data();
    const T* pg = ctx.grad_output().data();
    double* s = sums;  // [2·C]: Σ dY, Σ dY ⊙ X̂ per group
    for (std::size_t c = 0; c < gr.count; ++c) {
        const double mu = stats(c, 0), inv = stats(c, 1);
        double sdy = 0, sdyx = 0;
        const T* x = px + c * gr.size;
        const T* g = pg + c * gr.size;
        for (std::size_t k = 0; k < gr.size; ++k) {
            sdy += g[k];
            sdyx += g[k] * ((static_cast<double>(x[k]) - mu) * inv);
        }
        s[2 * c] = sdy;
        s[2 * c + 1] = sdyx;
    }
    if (ctx.needs_grad(1))
        write_gradient(ctx.target(1), [&](std::size_t c) { return static_cast<T>(s[2 * c + 1]); });
    if (ctx.needs_grad(2))
        write_gradient(ctx.target(2), [&](std::size_t c) { return static_cast<T>(s[2 * c]); });
    return {gr, sums};
}

template <class T>
struct batch_norm_op final : op<T> {
    std::size_t channels;
    double eps, momentum;
    matrix<T>* running_mean;
    matrix<T>* running_var;
    batch_norm_op(std::size_t c, double e, double mo, matrix<T>* rm, matrix<T>* rv)
        : channels(c), eps(e), momentum(mo), running_mean(rm), running_var(rv) {}

    static constexpr op_rule rule{
        .name = "batch_norm",
        .forward = "{x1:product} ⊙ X̂ + {x2:product}, X̂ = ({x0:sum} − μ)/√(σ² + ε)",
        .binds = binding::sum,
        .gradients = {{0, "{x1:product}/√(σ² + ε) ⊙ ({dy:sum} − mean {dy} − X̂ ⊙ mean({dy} ⊙ X̂))"},
                      {1, "Σ {dy} ⊙ X̂", "{y} → {x1}"},
                      {2, "Σ {dy}", "{y} → {x2}"}}};
    static constexpr op_doc doc{
        .calls = "`batch_norm(X, γ, β, …)` (training)",
        .inputs = {"X", "γ", "β"},
        .input_shapes = {"n×m", "C×1", "C×1"},
        .output_shape = "n×m",
        .definition =
            "with μ, σ² the batch's mean and variance per feature (C = n rows, over the m columns) or "
            "per channel (n = C·H·W rows, over H·W·m values); means and Σ over those values",
        .note = "a group of one value (m = 1) is refused; running statistics updated with momentum",
        .saves = "μ and 1/√(σ² + ε) per group [C×2]"};
    static var<double> example(example_inputs& in) {
        return batch_norm(in.variable(4, 5, -2.0, 3.0), in.variable(4, 1, 0.5, 1.5), in.variable(4, 1),
                          nullptr, nullptr);
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const bn_groups gr = check_norm_inputs(ctx, channels, eps);
        if (gr.size < 2) {
            ctx.fail(fmt::format(
                "training needs at least 2 values per {} for batch statistics, but {} is {} "
                "(m = 1: use evaluation mode, which normalises with the running statistics)",
                channels == 0 ? "feature" : "channel", ctx.input_name(0), to_string(ctx.input_shape(0))));
        }
        const shape2 want{gr.count, 1};
        for (matrix<T>* r : {running_mean, running_var}) {
            if (r != nullptr && shape_of(*r) != want)
                ctx.fail(fmt::format("a running statistic is {} but must be {}", to_string(shape_of(*r)),
                                     to_string(want)));
        }
        if (!(momentum >= 0.0 && momentum <= 1.0))
            ctx.fail(fmt::format("momentum = {} must be in [0, 1]", momentum));
        const matrix<T>& x = ctx.input(0);
        // μ and 1/√(σ² + ε) per group, in two passes; the running statistics move towards the batch's
        matrix<T>& stats = ctx.save(0, {gr.count, 2});
        for (std::size_t c = 0; c < gr.count; ++c) {
            double mean = 0, var = 0;
            mean_variance(x.data() + c * gr.size, gr.size, mean, var);
            stats(c, 0) = static_cast<T>(mean);
            stats(c, 1) = static_cast<T>(1.0 / std::sqrt(var + eps));
            if (running_mean != nullptr) {
                T& r = running_mean->data()[c];
                r = static_cast<T>((1.0 - momentum) * static_cast<double>(r) + momentum * mean);
            }
            if (running_var != nullptr) {
                const double unbiased = var * static_cast<double>(gr.size) / static_cast<double>(gr.size - 1);
                T& r = running_var->data()[c];
                r = static_cast<T>((1.0 - momentum) * static_cast<double>(r) + momentum * unbiased);
            }
        }
        normalize_groups(x, ctx.input(1), ctx.input(2), stats, gr, ctx.output(shape_of(x)));
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& stats = ctx.saved(0);
        const affine_sums a = affine_gradients(ctx, stats);
        const bn_groups gr = a.groups;
        const double* sums = a.sums;
        if (!ctx.needs_grad(0)) return;
        // dX = γ/√(σ² + ε) ⊙ (dY − mean dY − X̂ ⊙ mean(dY ⊙ X̂)), per group
        const gradient_target<T> t = ctx.target(0);
        const T* px = ctx.input(0).data();
        const T* pg = ctx.grad_output().data();
        const T* pgamma = ctx.input(1).data();
        T* pd = t.buffer.data();
        const double n = static_cast<double>(gr.size);
        for (std::size_t c = 0; c < gr.count; ++c) {
            const double mu = stats(c, 0), inv = stats(c, 1);
            const double mean_dy = sums[2 * c] / n, mean_dyx = sums[2 * c + 1] / n;
            const double a = static_cast<double>(pgamma[c]) * inv;
            const std::size_t off = c * gr.size;
            for (std::size_t k = 0; k < gr.size; ++k) {
                const double xhat = (static_cast<double>(px[off + k]) - mu) * inv;
                const T v =
                    static_cast<T>(a * (static_cast<double>(pg[off + k]) - mean_dy - xhat * mean_dyx));
                if (t.beta == T(0)) {
                    pd[off + k] = v;
                } else {
                    pd[off + k] += v;
                }
            }
        }
    }
};

template <class T>
struct batch_norm_eval_op final : op<T> {
    std::size_t channels;
    double eps;
    batch_norm_eval_op(std::size_t c, double e) : channels(c), eps(e) {}

    static constexpr op_rule rule{
        .name = "batch_norm_eval",
        .forward = "{x1:product} ⊙ ({x0:sum} − {x3:sum})/√({x4:sum} + ε) + {x2:product}",
        .binds = binding::sum,
        .gradients = {{0, "{x1:product}/√({x4:sum} + ε) ⊙ {dy}"},
                      {1, "Σ {dy} ⊙ ({x0:sum} − {x3:sum})/√({x4:sum} + ε)", "{y} → {x1}"},
                      {2, "Σ {dy}", "{y} → {x2}"}}};
    static constexpr op_doc doc{
        .calls = "`batch_norm(X, γ, β, …)` (evaluation)",
        .inputs = {"X", "γ", "β", "r_μ", "r_σ²"},
        .input_shapes = {"n×m", "C×1", "C×1", "C×1", "C×1"},
        .output_shape = "n×m",
        .definition = "per feature or channel as batch_norm, with the running statistics (constants)",
        .note = "each column's output depends on that column only",
        .saves = "r_μ and 1/√(r_σ² + ε) per group [C×2]"};
    static var<double> example(example_inputs& in) {
        // static: the graph reads the running statistics in place (as a module's buffers)
        static matrix<double> rm{{0.3}, {-0.2}, {0.1}}, rv{{0.5}, {1.5}, {2.0}};
        batch_norm_options o;
        o.channels = 3;  // a 3-channel batch of 2×1 images: 6 rows
        o.training = false;
        return batch_norm(in.variable(6, 4, -2.0, 2.0), in.variable(3, 1, 0.5, 1.5), in.variable(3, 1), &rm,
                          &rv, o);
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const bn_groups gr = check_norm_inputs(ctx, channels, eps);
        const shape2 want{gr.count, 1};
        if (ctx.input_shape(3) != want || ctx.input_shape(4) != want) {
            ctx.fail(fmt::format("the running statistics are {} and {} but must be {}",
                                 to_string(ctx.input_shape(3)), to_string(ctx.input_shape(4)),
                                 to_string(want)));
        }
        if (ctx.needs_grad(3) || ctx.needs_grad(4))
            ctx.fail("the running statistics cannot require a gradient (they are buffers, not parameters)");
        const T* rv = ctx.input(4).data();
        for (std::size_t c = 0; c < gr.count; ++c) {
            if (!(rv[c] >= T(0)))
                ctx.fail(
                    fmt::format("running variance {} of group {} is not a non-negative number", rv[c], c));
        }
        matrix<T>& stats = ctx.save(0, {gr.count, 2});
        for (std::size_t c = 0; c < gr.count; ++c) {
            stats(c, 0) = ctx.input(3).data()[c];
            stats(c, 1) = static_cast<T>(1.0 / std::sqrt(static_cast<double>(rv[c]) + eps));
        }
        normalize_groups(ctx.input(0), ctx.input(1), ctx.input(2), stats, gr, ctx.output(ctx.input_shape(0)));
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& stats = ctx.saved(0);
        const bn_groups gr = affine_gradients(ctx, stats).groups;
        if (!ctx.needs_grad(0)) return;
        // dX = γ/√(r_σ² + ε) ⊙ dY
        const T* pg = ctx.grad_output().data();
        const T* pgamma = ctx.input(1).data();
        write_gradient(ctx.target(0), [&](std::size_t k) {
            const std::size_t c = k / gr.size;
            return pgamma[c] * stats(c, 1) * pg[k];
        });
    }
};

template <class T>
struct layer_norm_op final : op<T> {
    double eps;
    explicit layer_norm_op(double e) : eps(e) {}

    static constexpr op_rule rule{
        .name = "layer_norm",
        .forward = "{x1:product} ⊙ X̂ + {x2:product}, X̂ = ({x0:sum} − μ)/√(σ² + ε)",
        .binds = binding::sum,
        .gradients = {{0, "1/√(σ² + ε) ⊙ (G − mean G − X̂ ⊙ mean(G ⊙ X̂)), G = {dy} ⊙ {x1}"},
                      {1, "Σ_columns {dy} ⊙ X̂", "{y} → {x1}"},
                      {2, "Σ_columns {dy}", "{y} → {x2}"}}};
    static constexpr op_doc doc{.inputs = {"X", "γ", "β"},
                                .input_shapes = {"d×m", "d×1", "d×1"},
                                .output_shape = "d×m",
                                .definition =
                                    "with μ, σ² the mean and variance of each column (example) over its d "
                                    "rows; γ, β per row; means in dX over the rows",
                                .note = "m = 1 is fine; d = 1 gives Y = β",
                                .saves = "μ and 1/√(σ² + ε) per column [2×m]"};
    static var<double> example(example_inputs& in) {
        return layer_norm(in.variable(5, 3, -2.0, 3.0), in.variable(5, 1, 0.5, 1.5), in.variable(5, 1));
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        check_norm_inputs(ctx, 0, eps);  // γ and β one per row, as batch_norm's per feature
        const shape2 x = ctx.input_shape(0);
        const std::size_t d = x[0], m = x[1];
        const T* px = ctx.input(0).data();
        // per column, two passes over the rows (row by row: the memory is row-major): μ, then Σ(x − μ)²
        double* mean = scratch(0, m);
        double* sq = scratch(1, m);
        for (std::size_t i = 0; i < d; ++i) {
            for (std::size_t j = 0; j < m; ++j) mean[j] += static_cast<double>(px[i * m + j]);
        }
        for (std::size_t j = 0; j < m; ++j) mean[j] /= static_cast<double>(d);
        for (std::size_t i = 0; i < d; ++i) {
            for (std::size_t j = 0; j < m; ++j) {
                const double t = static_cast<double>(px[i * m + j]) - mean[j];
                sq[j] += t * t;
            }
        }
        matrix<T>& stats = ctx.save(0, {2, m});
        for (std::size_t j = 0; j < m; ++j) {
            stats(0, j) = static_cast<T>(mean[j]);
            stats(1, j) = static_cast<T>(1.0 / std::sqrt(sq[j] / static_cast<double>(d) + eps));
        }
        const T* pgamma = ctx.input(1).data();
        const T* pbeta = ctx.input(2).data();
        T* py = ctx.output(x).data();
        for (std::size_t i = 0; i < d; ++i) {
            for (std::size_t j = 0; j < m; ++j)
                py[i * m + j] = pgamma[i] * (px[i * m + j] - stats(0, j)) * stats(1, j) + pbeta[i];
        }
    }
    void backward(backward_context<T>& ctx) override {
        const matrix<T>& stats = ctx.saved(0);
        const matrix<T>& x = ctx.input(0);
        const std::size_t d = x.shape()[0], m = x.shape()[1];
        const T* px = x.data();
        const T* pg = ctx.grad_output().data();
        const T* pgamma = ctx.input(1).data();
        auto xhat = [&](std::size_t i, std::size_t j) {
            return (static_cast<double>(px[i * m + j]) - static_cast<double>(stats(0, j))) *
                   static_cast<double>(stats(1, j));
        };
        if (ctx.needs_grad(1)) {
            write_gradient(ctx.target(1), [&](std::size_t i) {
                double s = 0;
                for (std::size_t j = 0; j < m; ++j) s += static_cast<double>(pg[i * m + j]) * xhat(i, j);
                return static_cast<T>(s);
            });
        }
        if (ctx.needs_grad(2)) {
            write_gradient(ctx.target(2), [&](std::size_t i) {
                double s = 0;
                for (std::size_t j = 0; j < m; ++j) s += static_cast<double>(pg[i * m + j]);
                return static_cast<T>(s);
            });
        }
        if (!ctx.needs_grad(0)) return;
        // G = dY ⊙ γ; dX = 1/√(σ² + ε) ⊙ (G − mean G − X̂ ⊙ mean(G ⊙ X̂)), means over each column's rows
        double* mg = scratch(0, m);
        double* mgx = scratch(1, m);
        for (std::size_t i = 0; i < d; ++i) {
            for (std::size_t j = 0; j < m; ++j) {
                const double gij = static_cast<double>(pg[i * m + j]) * static_cast<double>(pgamma[i]);
                mg[j] += gij;
                mgx[j] += gij * xhat(i, j);
            }
        }
        for (std::size_t j = 0; j < m; ++j) {
            mg[j] /= static_cast<double>(d);
            mgx[j] /= static_cast<double>(d);
        }
        write_gradient(ctx.target(0), [&](std::size_t k) {
            const std::size_t i = k / m, j = k % m;
            const double gij = static_cast<double>(pg[k]) * static_cast<double>(pgamma[i]);
            return static_cast<T>(static_cast<double>(stats(1, j)) * (gij - mg[j] - xhat(i, j) * mgx[j]));
        });
    }
};

}  // namespace

template <class T>
var<T> batch_norm(const var<T>& x, const var<T>& gamma, const var<T>& beta,
                  std::type_identity_t<matrix<T>>* running_mean, std::type_identity_t<matrix<T>>* running_var,
                  const batch_norm_options& o, std::source_location loc) {
    if (o.training) {
        return apply<batch_norm_op<T>>({x, gamma, beta}, loc, o.channels, o.eps, o.momentum, running_mean,
                                       running_var);
    }
    if (running_mean == nullptr || running_var == nullptr) {
        throw argument_error(detail::op_message(
            "batch_norm_eval", "evaluation needs the running mean and variance (got a null pointer)", loc));
    }
    graph<T>& g = x.owner();
    return apply<batch_norm_eval_op<T>>(
        {x, gamma, beta, g.borrow(*running_mean, "r_μ"), g.borrow(*running_var, "r_σ²")}, loc, o.channels,
        o.eps);
}

template var<float> batch_norm(const var<float>&, const var<float>&, const var<float>&, matrix<float>*,
                               matrix<float>*, const batch_norm_options&, std::source_location);
template var<double> batch_norm(const var<double>&, const var<double>&, const var<double>&, matrix<double>*,
                                matrix<double>*, const batch_norm_options&, std::source_location);

XGRAD_OP_FUNCTION(layer_norm, (const var<T>& x, const var<T>& gamma, const var<T>& beta, double eps),
                  apply<layer_norm_op<T>>({x, gamma, beta}, loc, eps))

namespace detail {
void register_normalization_ops(op_registry& r) {
    r.add_ops<batch_norm_op, batch_norm_eval_op, layer_norm_op>("normalization");
}
}  // namespace detail

}  // namespace xgrad
