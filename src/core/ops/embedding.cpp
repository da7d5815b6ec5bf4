// Embedding: ids pick columns of a table (lecture 4's learned feature vectors). The rule beside the code.
#include "xgrad/ops/embedding.hpp"

#include <cmath>

#include <fmt/format.h>

#include "xgrad/op.hpp"
#include "xgrad/op_registry.hpp"

namespace xgrad {

namespace {

template <class T>
struct embedding_op final : op<T> {
    static constexpr op_rule rule{.name = "embedding",
                                  .forward = "{x0}·onehot({x1:any})",
                                  .binds = binding::product,
                                  .gradients = {{0, "{dy}·onehot({x1:any})ᵀ"}}};
    static constexpr op_doc doc{
        .inputs = {"E", "ids"},
        .input_shapes = {"d×V", "1×m"},
        .output_shape = "d×m",
        .definition = ": [d×V], [1×m] → [d×m], column j = E[:, idⱼ]",
        .note =
            "a scatter-add, no one-hot matrix: column j of dY is added to column idⱼ of dE, so repeated "
            "ids sum; ids: integers in [0, V), no gradient"};
    static var<double> example(example_inputs& in) {
        // 5 symbols of 3 features; 7 ids with repeats (3 twice, 1 three times), 4 never used.
        matrix<double> ids({1, 7});
        const double v[] = {3, 1, 0, 1, 3, 2, 1};
        for (std::size_t j = 0; j < 7; ++j) ids(0, j) = v[j];
        return embedding(in.variable(3, 5), in.constant(ids));
    }
    const op_rule* describe() const override { return &rule; }
    void forward(forward_context<T>& ctx) override {
        const shape2 e = ctx.input_shape(0), ids = ctx.input_shape(1);
        if (ids[0] != 1) {
            ctx.fail(
                fmt::format("the ids {} are {} but must be a [1×m] row, one symbol per example (for the "
                            "table {} of shape {})",
                            ctx.input_name(1), to_string(ids), ctx.input_name(0), to_string(e)));
        }
        if (ctx.needs_grad(1))
            ctx.fail("the ids cannot require a gradient (they are integers: make the id row a constant)");
        const std::size_t d = e[0], vocab = e[1], m = ids[1];
        const T* pid = ctx.input(1).data();
        for (std::size_t j = 0; j < m; ++j) {
            const T v = pid[j];
            if (!(v >= T(0)) || !(v < static_cast<T>(vocab)) || v != std::floor(v)) {
                ctx.fail(
                    fmt::format("id {} at position {} of {} is not an integer in [0, V) for the table {} "
                                "of shape {} (V = {} symbols)",
                                v, j, ctx.input_name(1), ctx.input_name(0), to_string(e), vocab));
            }
        }
        // Y[:, j] = E[:, idⱼ]
        const T* pe = ctx.input(0).data();
        T* py = ctx.output({d, m}).data();
        for (std::size_t i = 0; i < d; ++i) {
            const T* row = pe + i * vocab;
            T* out = py + i * m;
            for (std::size_t j = 0; j < m; ++j) out[j] = row[static_cast<std::size_t>(pid[j])];
        }
    }
    void backward(backward_context<T>& ctx) override {
        // dE[:, idⱼ] += dY[:, j]: repeated ids sum, unused columns get 0
        const gradient_target<T> t = ctx.target(0);
        const std::size_t d = t.buffer.shape()[0], vocab = t.buffer.shape()[1];
        const std::size_t m = ctx.grad_output().shape()[1];
        T* pd = t.buffer.data();
        if (t.beta == T(0)) {
            for (std::size_t k = 0, n = d * vocab; k < n; ++k) pd[k] = T(0);
        }
        const T* pid = ctx.input(1).data();
        const T* pg = ctx.grad_output().data();
        for (std::size_t i = 0; i < d; ++i) {
            T* row = pd + i * vocab;
            const T* g = pg + i * m;
            for (std::size_t j = 0; j < m; ++j) row[static_cast<std::size_t>(pid[j])] += g[j];
        }
    }
};

}  // namespace

XGRAD_OP_FUNCTION(embedding, (const var<T>& table, const var<T>& ids),
                  apply<embedding_op<T>>({table, ids}, loc))

namespace detail {
void register_embedding_ops(op_registry& r) {
    r.add_ops<embedding_op>("embedding");
}
}  // namespace detail

}  // namespace xgrad
