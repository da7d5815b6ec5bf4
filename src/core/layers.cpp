#include "xgrad/layers.hpp"

#include <fmt/format.h>

#include "xgrad/ops/dropout.hpp"
#include "xgrad/ops/embedding.hpp"
#include "xgrad/ops/normalization.hpp"

namespace xgrad::nn {

namespace {
/// Checks a size given to a module's constructor and the shape it implies.
template <class T>
void check_size(const char* module, const char* what, std::size_t n, const shape2& shape) {
    if (n == 0) throw argument_error(fmt::format("{}: the number of {} must be positive", module, what));
    if (!detail::element_count(shape, sizeof(T))) {
        throw argument_error(
            fmt::format("{}: {} {}: {}", module, n, what, detail::too_large(shape, sizeof(T))));
    }
}
}  // namespace

// ---------------------------------------------------------------- embedding

template <class T>
embedding<T>::embedding(std::size_t symbols, std::size_t features, rng& g, double stddev)
    : m_symbols(symbols), m_features(features) {
    check_size<T>("embedding", "symbols", symbols, {features, symbols});
    check_size<T>("embedding", "features", features, {features, symbols});
    if (!(stddev >= 0.0))
        throw argument_error(fmt::format("embedding: stddev = {} must be a non-negative number", stddev));
    matrix<T> e({features, symbols});
    init::normal(e, g, 0.0, stddev);
    m_weight = &this->add_parameter("weight", std::move(e));
}

template <class T>
var<T> embedding<T>::forward(const var<T>& ids) {
    // Y = E[:, ids] : [d×V], [1×m] → [d×m]
    return xgrad::embedding(this->use(ids, *m_weight), ids);
}

template <class T>
std::string embedding<T>::describe() const {
    return fmt::format("embedding({} symbols → {})", m_symbols, m_features);
}

// ---------------------------------------------------------------- dropout

template <class T>
dropout<T>::dropout(double p, rng& g) : m_p(p), m_rng(&g) {
    if (!(p >= 0.0 && p < 1.0))
        throw argument_error(fmt::format("dropout: the drop probability p = {} must be in [0, 1)", p));
}

template <class T>
var<T> dropout<T>::forward(const var<T>& x) {
    return xgrad::dropout(x, m_p, *m_rng, this->is_training());
}

template <class T>
std::string dropout<T>::describe() const {
    return fmt::format("dropout(p = {})", m_p);
}

// ---------------------------------------------------------------- batch_norm

template <class T>
batch_norm<T>::batch_norm(std::size_t count, norm_axis axis, double momentum, double eps)
    : m_count(count), m_axis(axis), m_momentum(momentum), m_eps(eps) {
    check_size<T>("batch_norm", axis == norm_axis::features ? "features" : "channels", count, {count, 1});
    if (!(momentum >= 0.0 && momentum <= 1.0))
        throw argument_error(fmt::format("batch_norm: momentum = {} must be in [0, 1]", momentum));
    if (!(eps > 0.0)) throw argument_error(fmt::format("batch_norm: ε = {} must be positive", eps));
    m_gamma = &this->add_parameter("weight", matrix<T>({count, 1}, T(1)));
    m_beta = &this->add_parameter("bias", matrix<T>({count, 1}, T(0)));
    m_mean = &this->add_buffer("running_mean", matrix<T>({count, 1}, T(0)));
    m_var = &this->add_buffer("running_var", matrix<T>({count, 1}, T(1)));
}

template <class T>
var<T> batch_norm<T>::forward(const var<T>& x) {
    batch_norm_options o;
    o.channels = m_axis == norm_axis::channels ? m_count : 0;
    o.eps = m_eps;
    o.momentum = m_momentum;
    o.training = this->is_training();
    return xgrad::batch_norm(x, this->use(x, *m_gamma), this->use(x, *m_beta), &m_mean->value(),
                             &m_var->value(), o);
}

template <class T>
std::string batch_norm<T>::describe() const {
    return fmt::format("batch_norm({} {})", m_count, m_axis == norm_axis::features ? "features" : "channels");
}

// ---------------------------------------------------------------- layer_norm

template <class T>
layer_norm<T>::layer_norm(std::size_t features, double eps) : m_features(features), m_eps(eps) {
    check_size<T>("layer_norm", "features", features, {features, 1});
    if (!(eps > 0.0)) throw argument_error(fmt::format("layer_norm: ε = {} must be positive", eps));
    m_gamma = &this->add_parameter("weight", matrix<T>({features, 1}, T(1)));
    m_beta = &this->add_parameter("bias", matrix<T>({features, 1}, T(0)));
}

template <class T>
var<T> layer_norm<T>::forward(const var<T>& x) {
    return xgrad::layer_norm(x, this->use(x, *m_gamma), this->use(x, *m_beta), m_eps);
}

template <class T>
std::string layer_norm<T>::describe() const {
    return fmt::format("layer_norm({})", m_features);
}

#define XGRAD_INSTANTIATE(T)      \
    template class embedding<T>;  \
    template class dropout<T>;    \
    template class batch_norm<T>; \
    template class layer_norm<T>;

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad::nn
