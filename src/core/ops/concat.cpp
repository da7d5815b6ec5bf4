// Stacking along the feature axis (rows) and taking rows out again. Row-major: every input of concat, and
// every piece of split, is one contiguous block of the bigger matrix.
#include "xgrad/ops/concat.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "xgrad/error.hpp"
#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"

namespace xgrad {

namespace {

template <class T>
struct concat_op final : op<T> {
    static constexpr op_rule rule{.name = "concat",
                                  .forward = "[{x0:any}; {x1:any}; …]",
                                  .gradients = {{0, "{dy}[rows of {x0:any}]", "{y} → {x0}"},
                                                {1, "{dy}[rows of {x1:any}]", "{y} → {x1}"}}};
    static constexpr op_doc doc{.calls = "`concat({A, B, …})`",
                                .definition = ": [p×m], [q×m], … → [(p + q + …)×m], A's rows above B's",
                                .note = "every input Xₖ likewise gets its own rows of dY"};
    static var<double> example(example_inputs& in) {
        const var<double> a = in.variable(2, 3), b = in.variable(4, 3);
        return concat({a, b});
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const std::size_t n = ctx.num_inputs();
        const std::size_t m = ctx.input_shape(0)[1];
        std::size_t rows = 0;
        for (std::size_t k = 0; k < n; ++k) {
            const shape2 s = ctx.input_shape(k);
            if (s[1] != m) {
                std::string shapes;
                for (std::size_t i = 0; i < n; ++i)
                    shapes += fmt::format("{}{} {}", i ? ", " : "", ctx.input_name(i),
                                          to_string(ctx.input_shape(i)));
                ctx.fail(
                    fmt::format("the parts must have the same number of columns (examples), but {} has {} "
                                "and {} has {} (parts: {})",
                                ctx.input_name(k), s[1], ctx.input_name(0), m, shapes));
            }
            rows += s[0];
        }
        // Y = [X₀; X₁; …]: each part is a contiguous block of Y
        T* py = ctx.output({rows, m}).data();
        for (std::size_t k = 0; k < n; ++k) {
            const matrix<T>& x = ctx.input(k);
            py = std::copy(x.data(), x.data() + x.size(), py);
        }
    }
    void backward(backward_context<T>& ctx) override {
        const T* pg = ctx.grad_output().data();
        for (std::size_t k = 0, n = ctx.num_inputs(); k < n; ++k) {
            const std::size_t size = ctx.input(k).size();
            if (ctx.needs_grad(k)) write_gradient(ctx.target(k), [&](std::size_t i) { return pg[i]; });
            pg += size;
        }
    }
};

template <class T>
struct split_op final : op<T> {
    std::size_t begin, count;
    split_op(std::size_t b, std::size_t c) : begin(b), count(c) {}

    static constexpr op_rule rule{.name = "split",
                                  .forward = "{x0}[rows i…i + p)",
                                  .gradients = {{0, "[0; {dy}; 0] ({dy} in rows i…i + p)", "{y} → {x0}"}}};
    static constexpr op_doc doc{
        .calls = "`split(X, {p, q, …})`, `rows(X, i, p)`",
        .inputs = {"X"},
        .definition = ": [n×m] → [p×m], [q×m], … (p + q + … = n), one split op per piece",
        .note = "the pieces' gradients add up to dX"};
    static var<double> example(example_inputs& in) { return rows(in.variable(5, 3), 1, 2); }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const shape2 s = ctx.input_shape(0);
        if (count == 0 || begin > s[0] || count > s[0] - begin) {
            ctx.fail(fmt::format("rows [{}, {}) are not a non-empty range of the {} rows of {} {}", begin,
                                 begin + count, s[0], ctx.input_name(0), to_string(s)));
        }
        const T* px = ctx.input(0).data() + begin * s[1];
        std::copy(px, px + count * s[1], ctx.output({count, s[1]}).data());
    }
    void backward(backward_context<T>& ctx) override {
        const gradient_target<T> t = ctx.target(0);
        const std::size_t m = t.buffer.shape()[1];
        const std::size_t lo = begin * m, hi = (begin + count) * m;
        const T* pg = ctx.grad_output().data();
        T* pd = t.buffer.data();
        if (t.beta == T(0)) {
            std::fill(pd, pd + lo, T(0));
            std::fill(pd + hi, pd + t.buffer.size(), T(0));
            std::copy(pg, pg + (hi - lo), pd + lo);
        } else {
            for (std::size_t k = lo; k < hi; ++k) pd[k] += pg[k - lo];
        }
    }
};

}  // namespace

template <class T>
var<T> concat(std::span<const var<T>> parts, std::source_location loc) {
    if (parts.empty()) throw argument_error(detail::op_message("concat", "needs at least one part", loc));
    return apply<concat_op<T>>(parts, loc);
}

XGRAD_OP_FUNCTION(rows, (const var<T>& x, std::size_t begin, std::size_t count),
                  apply<split_op<T>>({x}, loc, begin, count))

template <class T>
std::vector<var<T>> split(const var<T>& x, const std::vector<std::size_t>& sizes, std::source_location loc) {
    const std::size_t n = x.rows();
    std::size_t total = 0;
    bool positive = !sizes.empty();
    for (std::size_t s : sizes) {
        positive = positive && s > 0;
        total += s;
    }
    if (!positive || total != n) {
        throw shape_error(detail::op_message(
            "split",
            fmt::format("the sizes {{{}}} must be positive and add up to the {} rows of {} {}",
                        fmt::join(sizes, ", "), n, x.name().empty() ? "X" : x.name(), to_string(x.shape())),
            loc));
    }
    std::vector<var<T>> out;
    out.reserve(sizes.size());
    std::size_t begin = 0;
    for (std::size_t s : sizes) {
        out.push_back(rows(x, begin, s, loc));
        begin += s;
    }
    return out;
}

template var<float> concat(std::span<const var<float>>, std::source_location);
template var<double> concat(std::span<const var<double>>, std::source_location);
template std::vector<var<float>> split(const var<float>&, const std::vector<std::size_t>&,
                                       std::source_location);
template std::vector<var<double>> split(const var<double>&, const std::vector<std::size_t>&,
                                        std::source_location);

namespace detail {
void register_concat_ops(op_registry& r) {
    r.add_ops<concat_op, split_op>("concat");
}
}  // namespace detail

}  // namespace xgrad
