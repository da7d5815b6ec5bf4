#include "xgrad/nn.hpp"

#include <fmt/format.h>

#include "xgrad/ops/activation.hpp"
#include "xgrad/ops/linalg.hpp"

namespace xgrad::nn {

// ---------------------------------------------------------------- module

namespace {

template <class T>
using owned_list = std::vector<std::pair<std::string, std::unique_ptr<parameter<T>>>>;
template <class T>
using named_list = std::vector<std::pair<std::string, parameter<T>*>>;

/// The children's tensors of one kind (listed by `of`, as "child.name"), then the module's own `list`.
template <class T, class Children>
named_list<T> collect(const Children& children, owned_list<T>& list, named_list<T> (module<T>::*of)()) {
    named_list<T> out;
    for (auto& [name, child] : children) {
        for (auto& [sub, p] : (child->*of)()) out.emplace_back(name + "." + sub, p);
    }
    for (auto& [name, p] : list) out.emplace_back(name, p.get());
    return out;
}

/// Adds a tensor named `name` to `list` (a module's parameters or buffers: `kind`), whose address never
/// changes; a name already in the list is an error.
template <class T>
parameter<T>& add_named(owned_list<T>& list, const char* kind, std::string name, matrix<T> value) {
    for (auto& entry : list) {
        if (entry.first == name)
            throw argument_error(fmt::format("module: a {} named '{}' already exists", kind, name));
    }
    auto p = std::make_unique<parameter<T>>(std::move(value), name);
    parameter<T>& ref = *p;
    list.emplace_back(std::move(name), std::move(p));
    return ref;
}

}  // namespace

template <class T>
std::vector<std::pair<std::string, parameter<T>*>> module<T>::named_parameters() {
    return collect<T>(m_children, m_params, &module<T>::named_parameters);
}

template <class T>
std::vector<parameter<T>*> module<T>::parameters() {
    std::vector<parameter<T>*> out;
    for (auto& np : named_parameters()) out.push_back(np.second);
    return out;
}

template <class T>
std::vector<std::pair<std::string, parameter<T>*>> module<T>::named_buffers() {
    return collect<T>(m_children, m_buffers, &module<T>::named_buffers);
}

template <class T>
std::vector<std::pair<std::string, parameter<T>*>> module<T>::named_state() {
    auto out = named_parameters();
    for (auto& nb : named_buffers()) out.push_back(std::move(nb));
    return out;
}

template <class T>
void module<T>::train(bool on) {
    m_training = on;
    for (auto& c : m_children) c.second->train(on);
}

template <class T>
void module<T>::zero_grad() {
    for (auto* p : parameters()) p->zero_grad();
}

template <class T>
std::size_t module<T>::parameter_count() {
    std::size_t n = 0;
    for (auto* p : parameters()) n += p->value().size();
    return n;
}

template <class T>
parameter<T>& module<T>::add_parameter(std::string name, matrix<T> value) {
    return add_named(m_params, "parameter", std::move(name), std::move(value));
}

template <class T>
parameter<T>& module<T>::add_buffer(std::string name, matrix<T> value) {
    return add_named(m_buffers, "buffer", std::move(name), std::move(value));
}

template <class T>
void module<T>::add_module(std::string name, module<T>& child) {
    for (auto& c : m_children) {
        if (c.first == name)
            throw argument_error(fmt::format("module: a child named '{}' already exists", name));
    }
    // Parameters carry their full dotted name ("0.weight", "encoder.0.bias"), so traces, pictures and
    // error messages can tell the layers apart.
    for (auto& [sub, p] : child.named_parameters()) p->set_name(name + "." + sub);
    for (auto& [sub, p] : child.named_buffers()) p->set_name(name + "." + sub);
    child.train(m_training);
    m_children.emplace_back(std::move(name), &child);
}

// ---------------------------------------------------------------- linear

template <class T>
void initialize(matrix<T>& w, init_scheme scheme, rng& g) {
    switch (scheme) {
        case init_scheme::xavier_uniform:
            init::xavier_uniform(w, g);
            break;
        case init_scheme::xavier_normal:
            init::xavier_normal(w, g);
            break;
        case init_scheme::he_uniform:
            init::he_uniform(w, g);
            break;
        case init_scheme::he_normal:
            init::he_normal(w, g);
            break;
        case init_scheme::zeros:
            init::zeros(w);
            break;
    }
}

template <class T>
linear<T>::linear(std::size_t in, std::size_t out, rng& g, init_scheme scheme) : m_in(in), m_out(out) {
    if (in == 0 || out == 0)
        throw argument_error(fmt::format("linear: sizes must be positive, not {} → {}", in, out));
    if (!detail::element_count({out, in}, sizeof(T))) {
        throw argument_error(fmt::format("linear: {} → {}: the weight matrix W {}", in, out,
                                         detail::too_large({out, in}, sizeof(T))));
    }
    matrix<T> w({out, in});
    initialize(w, scheme, g);
    m_weight = &this->add_parameter("weight", std::move(w));
    m_bias = &this->add_parameter("bias", matrix<T>({out, 1}, T(0)));
}

template <class T>
var<T> linear<T>::forward(const var<T>& h) {
    // A = W·H + b : [out×in]·[in×m] + [out×1] → [out×m]
    // W's leaf before b's: function arguments are evaluated in an unspecified order, so the node order (and
    // the node ids a trace or a picture shows) would differ between compilers.
    graph<T>& g = h.owner();  // looked up once for both leaves
    const var<T> w = g.param(*m_weight);
    const var<T> b = g.param(*m_bias);
    return xgrad::linear(w, h, b);
}

template <class T>
std::string linear<T>::describe() const {
    return fmt::format("linear({} → {})", m_in, m_out);
}

// ---------------------------------------------------------------- activation

activation_kind parse_activation(std::string_view name) {
    std::string names;
    for (const activation_entry& a : activations) {
        if (a.name == name) return a.kind;
        names += fmt::format("{}{}", names.empty() ? "" : ", ", a.name);
    }
    throw argument_error(fmt::format("unknown activation '{}' (one of {})", name, names));
}

std::string_view to_string(activation_kind k) {
    for (const activation_entry& a : activations) {
        if (a.kind == k) return a.name;
    }
    return "?";
}

template <class T>
activation<T>::activation(activation_kind kind, std::optional<T> param) : m_kind(kind) {
    // The same checks and messages as the ops (leaky_relu, elu in ops/activation.cpp), at construction.
    const auto invalid = [&](const char* what) {
        throw argument_error(fmt::format("{}: {} = {} is invalid", to_string(kind), what, *param));
    };
    switch (kind) {
        case activation_kind::leaky_relu:
            m_param = param.value_or(T(0.01));
            if (param && !(*param >= T(0) && *param < T(1))) invalid("slope f (needs 0 ≤ f < 1)");
            break;
        case activation_kind::elu:
            m_param = param.value_or(T(1));
            if (param && !(*param > T(0))) invalid("alpha (needs α > 0)");
            break;
        default:
            if (param) {
                throw argument_error(
                    fmt::format("{}: takes no parameter, but {} was given (only leaky_relu and "
                                "elu have one)",
                                to_string(kind), *param));
            }
    }
}

template <class T>
var<T> activation<T>::forward(const var<T>& a) {
    switch (m_kind) {
        case activation_kind::sigmoid:
            return xgrad::sigmoid(a);
        case activation_kind::tanh:
            return xgrad::tanh(a);
        case activation_kind::relu:
            return xgrad::relu(a);
        case activation_kind::leaky_relu:
            return xgrad::leaky_relu(a, m_param);
        case activation_kind::elu:
            return xgrad::elu(a, m_param);
        case activation_kind::selu:
            return xgrad::selu(a);
    }
    return a;
}

template <class T>
std::string activation<T>::describe() const {
    return std::string(to_string(m_kind));
}

// ---------------------------------------------------------------- sequential

template <class T>
module<T>& sequential<T>::push(std::unique_ptr<module<T>> m) {
    module<T>& ref = *m;
    this->add_module(std::to_string(m_layers.size()), ref);
    m_layers.push_back(std::move(m));
    return ref;
}

template <class T>
var<T> sequential<T>::forward(const var<T>& x) {
    var<T> h = x;
    for (auto& layer : m_layers) h = layer->forward(h);
    return h;
}

template <class T>
std::string sequential<T>::describe() const {
    std::string s;
    for (std::size_t i = 0; i < m_layers.size(); ++i) s += (i ? " → " : "") + m_layers[i]->describe();
    return s;
}

template <class T>
std::unique_ptr<sequential<T>> mlp(const std::vector<std::size_t>& sizes, activation_kind act, rng& g) {
    if (sizes.size() < 2) throw argument_error("mlp: needs at least an input and an output size");
    const bool relu_family = act == activation_kind::relu || act == activation_kind::leaky_relu ||
                             act == activation_kind::elu || act == activation_kind::selu;
    auto net = std::make_unique<sequential<T>>();
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
        net->template emplace<linear<T>>(sizes[l], sizes[l + 1], g,
                                         relu_family ? init_scheme::he_uniform : init_scheme::xavier_uniform);
        if (l + 2 < sizes.size()) net->template emplace<activation<T>>(act);
    }
    return net;
}

#define XGRAD_INSTANTIATE(T)                                 \
    template void initialize(matrix<T>&, init_scheme, rng&); \
    template class module<T>;                                \
    template class linear<T>;                                \
    template class activation<T>;                            \
    template class sequential<T>;                            \
    template std::unique_ptr<sequential<T>> mlp(const std::vector<std::size_t>&, activation_kind, rng&);

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad::nn
