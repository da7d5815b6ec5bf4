#include "xgrad/optim.hpp"

#include <cmath>
#include <numbers>

#include <fmt/format.h>

namespace xgrad::optim {

template <class T>
optimizer<T>::optimizer(std::vector<parameter<T>*> params, T lr) : m_params(std::move(params)), m_lr(lr) {
    set_learning_rate(lr);
}

template <class T>
void optimizer<T>::set_learning_rate(T lr) {
    if (!(lr > T(0)) || !std::isfinite(lr)) {
        throw argument_error(
            fmt::format("optimizer: the learning rate must be a positive number, not {}", lr));
    }
    m_lr = lr;
}

template <class T>
void optimizer<T>::zero_grad() {
    for (auto* p : m_params) p->zero_grad();
}

namespace {
template <class T>
void ensure_state(std::vector<matrix<T>>& state, const std::vector<parameter<T>*>& params) {
    if (state.size() == params.size()) return;
    state.clear();
    for (auto* p : params) state.emplace_back(p->shape(), T(0));
}
}  // namespace

template <class T>
sgd<T>::sgd(std::vector<parameter<T>*> params, T lr, T momentum, bool nesterov, T weight_decay)
    : optimizer<T>(std::move(params), lr),
      m_momentum(momentum),
      m_weight_decay(weight_decay),
      m_nesterov(nesterov) {
    if (momentum < T(0) || momentum >= T(1))
        throw argument_error(fmt::format("sgd: momentum must be in [0, 1), not {}", momentum));
    if (nesterov && momentum == T(0)) throw argument_error("sgd: Nesterov momentum needs momentum > 0");
    if (weight_decay < T(0))
        throw argument_error(fmt::format("sgd: weight decay must be ≥ 0, not {}", weight_decay));
}

template <class T>
std::string_view sgd<T>::name() const {
    return m_nesterov ? "nesterov" : m_momentum > T(0) ? "momentum" : "sgd";
}

template <class T>
void sgd<T>::step() {
    const T lr = this->m_lr, mu = m_momentum, wd = m_weight_decay;
    if (mu > T(0)) ensure_state(m_velocity, this->m_params);
    for (std::size_t k = 0; k < this->m_params.size(); ++k) {
        parameter<T>& p = *this->m_params[k];
        if (!p.has_grad()) continue;  // no gradient reached it: nothing to do (as PyTorch skips grad None)
        T* w = p.value().data();
        const T* g = p.grad().data();
        const std::size_t n = p.value().size();
        if (mu == T(0)) {
            if (wd == T(0)) {
                for (std::size_t i = 0; i < n; ++i) w[i] -= lr * g[i];  // W = W − α·dW
            } else {
                for (std::size_t i = 0; i < n; ++i) w[i] -= lr * (g[i] + wd * w[i]);  // W = W − α(dW + λW)
            }
            continue;
        }
        T* v = m_velocity[k].data();
        for (std::size_t i = 0; i < n; ++i) {
            const T gi = g[i] + wd * w[i];
            v[i] = mu * v[i] + gi;                              // v = μv + g
            w[i] -= lr * (m_nesterov ? gi + mu * v[i] : v[i]);  // W = W − α(g + μv) or − αv
        }
    }
}

template <class T>
adam<T>::adam(std::vector<parameter<T>*> params, T lr, T beta1, T beta2, T eps, T weight_decay,
              bool decoupled)
    : optimizer<T>(std::move(params), lr),
      m_beta1(beta1),
      m_beta2(beta2),
      m_eps(eps),
      m_weight_decay(weight_decay),
      m_decoupled(decoupled) {
    if (beta1 < T(0) || beta1 >= T(1) || beta2 < T(0) || beta2 >= T(1)) {
        throw argument_error(fmt::format("adam: β₁ and β₂ must be in [0, 1), not {} and {}", beta1, beta2));
    }
    if (!(eps > T(0))) throw argument_error(fmt::format("adam: ε must be > 0, not {}", eps));
    if (weight_decay < T(0))
        throw argument_error(fmt::format("adam: weight decay must be ≥ 0, not {}", weight_decay));
}

template <class T>
void adam<T>::step() {
    ensure_state(m_m, this->m_params);
    ensure_state(m_v, this->m_params);
    ++m_t;
    const T lr = this->m_lr, b1 = m_beta1, b2 = m_beta2, eps = m_eps, wd = m_weight_decay;
    const T c1 = T(1) - static_cast<T>(std::pow(static_cast<double>(b1), static_cast<double>(m_t)));
    const T c2 = T(1) - static_cast<T>(std::pow(static_cast<double>(b2), static_cast<double>(m_t)));
    for (std::size_t k = 0; k < this->m_params.size(); ++k) {
        parameter<T>& p = *this->m_params[k];
        if (!p.has_grad()) continue;
        T* w = p.value().data();
        const T* g = p.grad().data();
        T* m = m_m[k].data();
        T* v = m_v[k].data();
        const std::size_t n = p.value().size();
        for (std::size_t i = 0; i < n; ++i) {
            if (m_decoupled) w[i] -= lr * wd * w[i];                  // AdamW: W = W − αλW
            const T gi = m_decoupled ? g[i] : g[i] + wd * w[i];       // Adam: g = dW + λW
            m[i] = b1 * m[i] + (T(1) - b1) * gi;                      // m = β₁m + (1 − β₁)g
            v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;                 // v = β₂v + (1 − β₂)g²
            w[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps);  // W = W − α m̂/(√v̂ + ε)
        }
    }
}

template <class T>
std::vector<std::pair<std::string, matrix<T>*>> sgd<T>::state() {
    std::vector<std::pair<std::string, matrix<T>*>> out;
    if (m_momentum == T(0)) return out;
    ensure_state(m_velocity, this->m_params);
    for (std::size_t k = 0; k < m_velocity.size(); ++k)
        out.emplace_back(fmt::format("velocity.{}", k), &m_velocity[k]);
    return out;
}

template <class T>
std::vector<std::pair<std::string, matrix<T>*>> adam<T>::state() {
    ensure_state(m_m, this->m_params);
    ensure_state(m_v, this->m_params);
    std::vector<std::pair<std::string, matrix<T>*>> out;
    for (std::size_t k = 0; k < m_m.size(); ++k) out.emplace_back(fmt::format("m.{}", k), &m_m[k]);
    for (std::size_t k = 0; k < m_v.size(); ++k) out.emplace_back(fmt::format("v.{}", k), &m_v[k]);
    return out;
}

double step_schedule::operator()(int epoch) const {
    return base * std::pow(gamma, epoch / (every > 0 ? every : 1));
}

double cosine_schedule::operator()(int epoch) const {
    if (total <= 0) return base;
    const double t = std::min(1.0, static_cast<double>(epoch) / total);
    return min + 0.5 * (base - min) * (1.0 + std::cos(std::numbers::pi * t));
}

template class optimizer<float>;
template class optimizer<double>;
template class sgd<float>;
template class sgd<double>;
template class adam<float>;
template class adam<double>;

}  // namespace xgrad::optim
