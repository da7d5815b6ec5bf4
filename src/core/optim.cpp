#include "xgrad/optim.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "xgrad/detail/clones.hpp"

namespace xgrad::optim {

template <class T>
optimizer<T>::optimizer(std::vector<parameter<T>*> params, T lr) : m_params(std::move(params)), m_lr(lr) {
    set_learning_rate(lr);
    m_offsets.reserve(m_params.size() + 1);
    m_offsets.push_back(0);
    for (auto* p : m_params) m_offsets.push_back(m_offsets.back() + p->value().size());
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

template <class T>
void optimizer<T>::check_sizes() const {
    for (std::size_t k = 0; k < m_params.size(); ++k) {
        const std::size_t n = m_params[k]->value().size(), had = m_offsets[k + 1] - m_offsets[k];
        if (n != had) {
            throw argument_error(fmt::format(
                "{}: parameter '{}' has {} elements but had {} when the optimizer was made (make a new "
                "optimizer after changing a parameter's shape)",
                name(), m_params[k]->name(), n, had));
        }
    }
}

template <class T>
void optimizer<T>::update(std::size_t, std::size_t) {
    throw argument_error(fmt::format("{}: this optimizer cannot update its parameters in parts", name()));
}

namespace {

// The update kernels: one plain loop per parameter over restrict-qualified arrays, so GCC vectorises them
// (division and square root are correctly rounded in SIMD as in scalar code, and the library is built for
// baseline x86-64, without FMA: the results are those of the scalar formulas, bit for bit).

template <class T>
void sgd_plain(T* __restrict w, const T* __restrict g, std::size_t n, T lr, T wd) {
    if (wd == T(0)) {
        for (std::size_t i = 0; i < n; ++i) w[i] -= lr * g[i];  // W = W − α·dW
    } else {
        for (std::size_t i = 0; i < n; ++i) w[i] -= lr * (g[i] + wd * w[i]);  // W = W − α(dW + λW)
    }
}

template <class T, bool Nesterov>
void sgd_momentum(T* __restrict w, const T* __restrict g, T* __restrict v, std::size_t n, T lr, T mu, T wd) {
    for (std::size_t i = 0; i < n; ++i) {
        const T gi = g[i] + wd * w[i];
        const T vi = mu * v[i] + gi;  // v = μv + g
        v[i] = vi;
        if constexpr (Nesterov) {
            w[i] -= lr * (gi + mu * vi);  // W = W − α(g + μv)
        } else {
            w[i] -= lr * vi;  // W = W − αv
        }
    }
}

// Adam's loop is bound by its square root and division per element; an AVX2 copy does twice the lanes per
// instruction and is chosen at load time on CPUs that have AVX2. "avx2" brings no FMA, so both copies round
// alike. Measured for the main job's 203,530 parameters (one step, hot caches, GCC 12 -O3, AMD EPYC Zen 4):
// the formula with three divisions, (m/c₁)/(√(v/c₂) + ε), took 1.13–1.22 ns per parameter in SSE2 and
// 0.63 in AVX2; the form below (as PyTorch writes it: one square root, one division) 0.84–0.90 and 0.42. An
// AVX-512 copy was no faster (0.43–0.45: Zen 4 splits 512-bit divisions and square roots in two).
// (XGRAD_AVX2_CLONE: detail/clones.hpp.)

/// 1 − βᵗ in double.
template <class T>
double adam_correction(T beta, std::size_t t) {
    return 1.0 - std::pow(static_cast<double>(beta), static_cast<double>(t));
}

/// One Adam step over n elements, with the bias corrections hoisted out of the loop (as PyTorch does):
/// step = α/(1 − β₁ᵗ) and r₂ = 1/√(1 − β₂ᵗ), so that
///     W = W − step · m / (√v · r₂ + ε)   =   W − α m̂/(√v̂ + ε),  m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
/// (the same formula; it rounds differently from computing m̂ and v̂ first).
template <class T, bool Decoupled>
XGRAD_AVX2_CLONE void adam_update(T* __restrict w, const T* __restrict g, T* __restrict m, T* __restrict v,
                                  std::size_t n, T lr, T b1, T b2, T eps, T wd, T step, T r2) {
    const T a1 = T(1) - b1, a2 = T(1) - b2;
    for (std::size_t i = 0; i < n; ++i) {
        T wi = w[i];
        if constexpr (Decoupled) wi -= lr * wd * wi;  // AdamW: W = W − αλW
        T gi = g[i];
        if constexpr (!Decoupled) gi = gi + wd * wi;  // Adam: g = dW + λW
        const T mi = b1 * m[i] + a1 * gi;             // m = β₁m + (1 − β₁)g
        const T vi = b2 * v[i] + a2 * gi * gi;        // v = β₂v + (1 − β₂)g²
        m[i] = mi;
        v[i] = vi;
        const T denom = std::sqrt(vi) * r2 + eps;  // √v̂ + ε
        w[i] = wi - step * mi / denom;             // W = W − α m̂/(√v̂ + ε)
    }
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
    if (momentum > T(0)) m_velocity.assign(this->m_offsets.back(), T(0));
}

template <class T>
std::string_view sgd<T>::name() const {
    return m_nesterov ? "nesterov" : m_momentum > T(0) ? "momentum" : "sgd";
}

template <class T>
void sgd<T>::step() {
    if (m_momentum != T(0) || m_weight_decay != T(0)) return update(0, this->m_offsets.back());
    // Plain SGD, W = W − α·dW, parameter by parameter: update()'s arithmetic without its ranges (for tiny
    // nets, where the bookkeeping per parameter costs more than the update itself). The sizes are checked
    // for all parameters before any is written.
    const std::size_t count = this->m_params.size();
    parameter<T>* const* params = this->m_params.data();
    const std::size_t* offsets = this->m_offsets.data();
    for (std::size_t k = 0; k < count; ++k) {
        if (params[k]->value().size() != offsets[k + 1] - offsets[k]) [[unlikely]]
            this->check_sizes();  // throws, naming the parameter
    }
    const T lr = this->m_lr;
    for (std::size_t k = 0; k < count; ++k) {
        parameter<T>& p = *params[k];
        if (!p.has_grad()) continue;  // no gradient reached it (as PyTorch skips grad None)
        sgd_plain(p.value().data(), p.grad().data(), offsets[k + 1] - offsets[k], lr, T(0));
    }
}

template <class T>
void sgd<T>::update(std::size_t begin, std::size_t end) {
    this->check_sizes();
    const T lr = this->m_lr, mu = m_momentum, wd = m_weight_decay;
    for (std::size_t k = 0; k < this->m_params.size(); ++k) {
        const std::size_t lo = std::max(begin, this->m_offsets[k]),
                          hi = std::min(end, this->m_offsets[k + 1]);
        if (lo >= hi) continue;
        parameter<T>& p = *this->m_params[k];
        if (!p.has_grad()) continue;  // no gradient reached it: nothing to do (as PyTorch skips grad None)
        const std::size_t n = hi - lo, at = lo - this->m_offsets[k];
        T* w = p.value().data() + at;
        const T* g = p.grad().data() + at;
        if (mu == T(0)) {
            sgd_plain(w, g, n, lr, wd);
        } else {
            T* v = m_velocity.data() + lo;
            if (m_nesterov) {
                sgd_momentum<T, true>(w, g, v, n, lr, mu, wd);
            } else {
                sgd_momentum<T, false>(w, g, v, n, lr, mu, wd);
            }
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
    m_m.assign(this->m_offsets.back(), T(0));
    m_v.assign(this->m_offsets.back(), T(0));
}

template <class T>
void adam<T>::step() {
    update(0, this->m_offsets.back());
    end_step();
}

template <class T>
void adam<T>::update(std::size_t begin, std::size_t end) {
    this->check_sizes();
    const std::size_t t = m_t + 1;  // this step's number
    const T lr = this->m_lr, b1 = m_beta1, b2 = m_beta2, eps = m_eps, wd = m_weight_decay;
    // The bias corrections, in double and rounded once to T: step = α/(1 − β₁ᵗ), r₂ = 1/√(1 − β₂ᵗ).
    const T step = static_cast<T>(static_cast<double>(lr) / adam_correction(b1, t));
    const T r2 = static_cast<T>(1.0 / std::sqrt(adam_correction(b2, t)));
    for (std::size_t k = 0; k < this->m_params.size(); ++k) {
        const std::size_t lo = std::max(begin, this->m_offsets[k]),
                          hi = std::min(end, this->m_offsets[k + 1]);
        if (lo >= hi) continue;
        parameter<T>& p = *this->m_params[k];
        if (!p.has_grad()) continue;
        const std::size_t n = hi - lo, at = lo - this->m_offsets[k];
        T* w = p.value().data() + at;
        const T* g = p.grad().data() + at;
        T* m = m_m.data() + lo;
        T* v = m_v.data() + lo;
        if (m_decoupled) {
            adam_update<T, true>(w, g, m, v, n, lr, b1, b2, eps, wd, step, r2);
        } else {
            adam_update<T, false>(w, g, m, v, n, lr, b1, b2, eps, wd, step, r2);
        }
    }
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
