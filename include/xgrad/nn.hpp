/// @file nn.hpp
/// @brief Modules: layers that own named parameters and record their computation on a graph.
///
/// A module's parameters outlive graphs. Each training step records a fresh graph (or clears and
/// re-records one) by calling the module on a var; backward accumulates into the parameters.
///
///   struct two_layer : xgrad::nn::module<double> {
///       xgrad::nn::linear<double> l1, l2;
///       two_layer(xgrad::rng& g) : l1(2, 8, g), l2(8, 1, g) { add_module("l1", l1); add_module("l2", l2); }
///       xgrad::var<double> forward(const xgrad::var<double>& x) override { return l2(xgrad::tanh(l1(x))); }
///   };
///
/// More layers (embedding, dropout, batch_norm, layer_norm) are in xgrad/layers.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xgrad/graph.hpp"
#include "xgrad/init.hpp"

namespace xgrad::nn {

/// Base class of every layer and model.
template <class T>
class module {
public:
    using value_type = T;
    module() = default;
    virtual ~module() = default;
    module(const module&) = delete;  // parameters are referenced by address from graphs and optimizers
    module& operator=(const module&) = delete;

    /// Records the module's computation on x's graph and returns its output.
    virtual var<T> forward(const var<T>& x) = 0;
    /// forward(x); an op that fails inside names `loc` (the caller's line) besides its own.
    var<T> operator()(const var<T>& x, std::source_location loc = std::source_location::current()) {
        const detail::call_site_scope scope(loc);
        return forward(x);
    }

    /// Every parameter with its dotted name ("0.weight", "l1.bias"), children first in registration order.
    std::vector<std::pair<std::string, parameter<T>*>> named_parameters();
    std::vector<parameter<T>*> parameters();
    /// Every buffer — state that is saved with the model but not trained, such as batch_norm's running
    /// statistics — with its dotted name ("1.running_mean"), children first. Optimizers never see them.
    std::vector<std::pair<std::string, parameter<T>*>> named_buffers();
    /// What a checkpoint holds: named_parameters() followed by named_buffers().
    std::vector<std::pair<std::string, parameter<T>*>> named_state();

    /// Training (true, the default) or evaluation mode, set on this module and every child: dropout drops
    /// only in training, batch_norm uses the batch's statistics in training and the running ones in
    /// evaluation. train::fit trains in training mode and train::evaluate evaluates in evaluation mode.
    void train(bool on = true);
    /// train(false).
    void eval() { train(false); }
    bool is_training() const noexcept { return m_training; }
    /// Marks every parameter's gradient zero.
    void zero_grad();
    /// Total number of scalar parameters.
    std::size_t parameter_count();
    /// One line describing the module ("linear(784 → 256)").
    virtual std::string describe() const { return "module"; }

protected:
    /// Creates a parameter owned by this module (its address never changes).
    parameter<T>& add_parameter(std::string name, matrix<T> value);
    /// Creates a buffer owned by this module: saved in checkpoints, never trained (no gradient is asked of
    /// it).
    parameter<T>& add_buffer(std::string name, matrix<T> value);
    /// Registers a child whose parameters are listed as "name.<param>"; the child must outlive this module
    /// (typically a member).
    void add_module(std::string name, module<T>& child);
    /// The parameter leaf of `p` on x's graph.
    static var<T> use(const var<T>& x, parameter<T>& p) { return x.owner().param(p); }

private:
    std::vector<std::pair<std::string, std::unique_ptr<parameter<T>>>> m_params;
    std::vector<std::pair<std::string, std::unique_ptr<parameter<T>>>> m_buffers;
    std::vector<std::pair<std::string, module<T>*>> m_children;
    bool m_training = true;
};

/// Weight initialization schemes for linear layers.
enum class init_scheme { xavier_uniform, xavier_normal, he_uniform, he_normal, zeros };

/// Fills a weight matrix W [fan_out × fan_in] by `scheme` from `g` (init.hpp's initializers).
template <class T>
void initialize(matrix<T>& w, init_scheme scheme, rng& g);

/// A = W·H + b with W [out × in] and b [out × 1] (the lecture's layout). Parameters "weight" and "bias".
/// W is initialized with `scheme` from `g`; b starts at zero.
template <class T>
class linear : public module<T> {
public:
    linear(std::size_t in, std::size_t out, rng& g, init_scheme scheme = init_scheme::he_uniform);
    /// A = W·H + b : [out×in]·[in×m] + [out×1] → [out×m]
    var<T> forward(const var<T>& h) override;
    std::string describe() const override;
    parameter<T>& weight() noexcept { return *m_weight; }
    parameter<T>& bias() noexcept { return *m_bias; }
    std::size_t in_features() const noexcept { return m_in; }
    std::size_t out_features() const noexcept { return m_out; }

private:
    std::size_t m_in, m_out;
    parameter<T>* m_weight;
    parameter<T>* m_bias;
};

/// The activation functions of ops/activation.hpp.
enum class activation_kind { sigmoid, tanh, relu, leaky_relu, elu, selu };

/// One activation and its name.
struct activation_entry {
    activation_kind kind;
    std::string_view name;
};

/// Every activation and its name, in declaration order: the one list that parse_activation, to_string,
/// the xgrad command's --activation choices and its help text all read.
inline constexpr std::array<activation_entry, 6> activations{{{activation_kind::sigmoid, "sigmoid"},
                                                              {activation_kind::tanh, "tanh"},
                                                              {activation_kind::relu, "relu"},
                                                              {activation_kind::leaky_relu, "leaky_relu"},
                                                              {activation_kind::elu, "elu"},
                                                              {activation_kind::selu, "selu"}}};

/// "relu" → activation_kind::relu; throws argument_error listing the valid names otherwise.
activation_kind parse_activation(std::string_view name);
/// activation_kind::relu → "relu" (the name in `activations`).
std::string_view to_string(activation_kind k);

/// H = act(A), element-wise. `param` is leaky_relu's slope f (0 ≤ f < 1, default 0.01) or elu's α (α > 0,
/// default 1); the other activations take none. An invalid or unexpected param throws argument_error with
/// the op's message when the module is constructed.
template <class T>
class activation : public module<T> {
public:
    explicit activation(activation_kind kind, std::optional<T> param = std::nullopt);
    var<T> forward(const var<T>& a) override;
    std::string describe() const override;
    activation_kind kind() const noexcept { return m_kind; }

private:
    activation_kind m_kind;
    T m_param = T(0);
};

/// Modules applied in order; children are named "0", "1", … (so parameters are "0.weight", "2.bias").
template <class T>
class sequential : public module<T> {
public:
    sequential() = default;
    /// Constructs a module of type M from `args` at the end of the sequence and returns it:
    ///   seq.emplace<linear<float>>(784, 256, g);  seq.emplace<activation<float>>(activation_kind::relu);
    template <class M, class... Args>
    M& emplace(Args&&... args) {
        auto owned = std::make_unique<M>(std::forward<Args>(args)...);
        M& ref = *owned;
        push(std::move(owned));
        return ref;
    }
    /// Appends an already-allocated module.
    module<T>& push(std::unique_ptr<module<T>> m);
    var<T> forward(const var<T>& x) override;
    std::string describe() const override;
    std::size_t size() const noexcept { return m_layers.size(); }
    module<T>& operator[](std::size_t i) { return *m_layers[i]; }

private:
    std::vector<std::unique_ptr<module<T>>> m_layers;
};

/// A multilayer perceptron: linear layers of the given sizes (sizes[0] inputs … sizes.back() outputs)
/// with `act` between them (not after the last). Weights: He-uniform for ReLU-family, Xavier otherwise.
template <class T>
std::unique_ptr<sequential<T>> mlp(const std::vector<std::size_t>& sizes, activation_kind act, rng& g);

}  // namespace xgrad::nn

#include "xgrad/nn_conv.hpp"  // convolution and pooling modules (after module, linear, sequential)
