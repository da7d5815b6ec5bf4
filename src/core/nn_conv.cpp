#include "xgrad/nn_conv.hpp"

#include <fmt/format.h>

namespace xgrad::nn {

namespace {
std::string shapes(std::string_view name, const image_shape& in, const image_shape& out, const window2d* w) {
    return fmt::format("{}({} → {}{}{})", name, to_string(in), to_string(out), w ? ", " : "",
                       w ? to_string(*w) : std::string());
}
}  // namespace

// ---------------------------------------------------------------- window_module

template <class T>
window_module<T>::window_module(const image_shape& in, const window2d& window, std::size_t out_channels)
    : m_in(in), m_out(window_output(in, window, out_channels)), m_window(window) {}

template <class T>
std::string window_module<T>::describe_as(std::string_view name) const {
    return shapes(name, m_in, m_out, &m_window);
}

// ---------------------------------------------------------------- conv2d

template <class T>
conv2d<T>::conv2d(const image_shape& in, std::size_t out_channels, const window2d& window, rng& g,
                  init_scheme scheme)
    : window_module<T>(in, window, out_channels) {
    if (out_channels == 0)
        throw argument_error("conv2d: the number of output channels must be positive, not 0");
    const shape2 ws{out_channels, in.channels * window.kernel_h * window.kernel_w};
    if (!detail::element_count(ws, sizeof(T))) {
        throw argument_error(fmt::format("conv2d: {} filters over {}: the weight matrix W {}", out_channels,
                                         to_string(in), detail::too_large(ws, sizeof(T))));
    }
    matrix<T> w(ws);
    initialize(w, scheme, g);
    m_weight = &this->add_parameter("weight", std::move(w));
    m_bias = &this->add_parameter("bias", matrix<T>({out_channels, 1}, T(0)));
}

template <class T>
var<T> conv2d<T>::forward(const var<T>& h) {
    // A = W·im2col(H) + b : [K×C·kh·kw]·[C·kh·kw×Ho·Wo·m] → [K·Ho·Wo×m]
    // W's leaf before b's (argument evaluation order is unspecified, so node ids would vary by compiler)
    const var<T> w = this->use(h, *m_weight);
    const var<T> b = this->use(h, *m_bias);
    return xgrad::conv2d(w, h, b, this->m_in, this->m_window);
}

template <class T>
std::string conv2d<T>::describe() const {
    return this->describe_as("conv2d");
}

// ---------------------------------------------------------------- pooling

template <class T>
var<T> max_pool2d<T>::forward(const var<T>& h) {
    return xgrad::max_pool2d(h, this->m_in, this->m_window);
}

template <class T>
std::string max_pool2d<T>::describe() const {
    return this->describe_as("max_pool2d");
}

template <class T>
var<T> relu_max_pool2d<T>::forward(const var<T>& h) {
    return xgrad::relu_max_pool2d(h, this->m_in, this->m_window);
}

template <class T>
std::string relu_max_pool2d<T>::describe() const {
    return this->describe_as("relu_max_pool2d");
}

template <class T>
std::string fused_into_next<T>::describe() const {
    return fmt::format("{} (in the next layer's {})", m_what, m_by);
}

template <class T>
var<T> avg_pool2d<T>::forward(const var<T>& h) {
    return xgrad::avg_pool2d(h, this->m_in, this->m_window);
}

template <class T>
std::string avg_pool2d<T>::describe() const {
    return this->describe_as("avg_pool2d");
}

template <class T>
global_avg_pool<T>::global_avg_pool(const image_shape& in) : m_in(in) {
    window_output(in, window2d{in.height, in.width}, in.channels);  // throws for an empty shape
}

template <class T>
var<T> global_avg_pool<T>::forward(const var<T>& h) {
    return xgrad::global_avg_pool(h, m_in);
}

template <class T>
std::string global_avg_pool<T>::describe() const {
    return shapes("global_avg_pool", m_in, output_shape(), nullptr);
}

template class window_module<float>;
template class window_module<double>;
template class conv2d<float>;
template class conv2d<double>;
template class max_pool2d<float>;
template class max_pool2d<double>;
template class relu_max_pool2d<float>;
template class relu_max_pool2d<double>;
template class fused_into_next<float>;
template class fused_into_next<double>;
template class avg_pool2d<float>;
template class avg_pool2d<double>;
template class global_avg_pool<float>;
template class global_avg_pool<double>;

}  // namespace xgrad::nn
