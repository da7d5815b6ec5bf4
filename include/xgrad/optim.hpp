/// @file optim.hpp
/// @brief Optimizers that update parameters in place from their accumulated gradients, and learning-rate
/// schedules. Updates are plain loops over each parameter (no allocation after the first step).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "xgrad/graph.hpp"

namespace xgrad::optim {

/// Base class: holds the parameters and the learning rate α.
template <class T>
class optimizer {
public:
    optimizer(std::vector<parameter<T>*> params, T lr);
    virtual ~optimizer() = default;
    /// Applies one update to every parameter from its current gradient.
    virtual void step() = 0;
    virtual std::string_view name() const = 0;
    /// Marks every parameter's gradient zero.
    void zero_grad();
    T learning_rate() const noexcept { return m_lr; }
    void set_learning_rate(T lr);
    const std::vector<parameter<T>*>& params() const noexcept { return m_params; }
    /// The optimizer's own state, for saving a run and resuming it bit for bit: its buffers by name
    /// (momentum: "velocity.<k>"; Adam: "m.<k>", "v.<k>"; k the parameter's position), allocated as zeros
    /// when no step has run yet. Plain SGD has none.
    virtual std::vector<std::pair<std::string, matrix<T>*>> state() { return {}; }
    /// The number of steps taken, where the update depends on it (Adam's bias correction 1 − βᵗ); else 0.
    virtual std::size_t step_count() const noexcept { return 0; }
    /// Restores step_count() (with state(), the optimizer continues exactly where it was saved).
    virtual void set_step_count(std::size_t) {}

protected:
    std::vector<parameter<T>*> m_params;
    T m_lr;
};

/// Stochastic gradient descent, the slide's W = W − α·dW, with optional momentum, Nesterov momentum
/// and (L2) weight decay λ:
///   g = dW + λ·W;   v = μ·v + g;   W = W − α·(nesterov ? g + μ·v : (μ > 0 ? v : g))
/// (PyTorch's formulation: with μ = 0 it is exactly W = W − α·(dW + λW).)
template <class T>
class sgd : public optimizer<T> {
public:
    sgd(std::vector<parameter<T>*> params, T lr, T momentum = T(0), bool nesterov = false,
        T weight_decay = T(0));
    void step() override;
    std::string_view name() const override;
    std::vector<std::pair<std::string, matrix<T>*>> state() override;

private:
    T m_momentum, m_weight_decay;
    bool m_nesterov;
    std::vector<matrix<T>> m_velocity;
};

/// Adam (Kingma & Ba 2015), and AdamW (Loshchilov & Hutter 2019) when `decoupled` is true:
///   g = dW (+ λ·W for Adam);  m = β₁m + (1 − β₁)g;  v = β₂v + (1 − β₂)g²;
///   m̂ = m/(1 − β₁ᵗ);  v̂ = v/(1 − β₂ᵗ);  W = W − α·m̂/(√v̂ + ε)  (− α·λ·W first, for AdamW)
template <class T>
class adam : public optimizer<T> {
public:
    adam(std::vector<parameter<T>*> params, T lr = T(1e-3), T beta1 = T(0.9), T beta2 = T(0.999),
         T eps = T(1e-8), T weight_decay = T(0), bool decoupled = false);
    void step() override;
    std::string_view name() const override { return m_decoupled ? "adamw" : "adam"; }
    std::size_t steps() const noexcept { return m_t; }
    std::vector<std::pair<std::string, matrix<T>*>> state() override;
    std::size_t step_count() const noexcept override { return m_t; }
    void set_step_count(std::size_t t) override { m_t = t; }

private:
    T m_beta1, m_beta2, m_eps, m_weight_decay;
    bool m_decoupled;
    std::size_t m_t = 0;
    std::vector<matrix<T>> m_m, m_v;
};

/// AdamW: Adam with decoupled weight decay (default λ = 0.01).
template <class T>
class adamw : public adam<T> {
public:
    adamw(std::vector<parameter<T>*> params, T lr = T(1e-3), T weight_decay = T(0.01), T beta1 = T(0.9),
          T beta2 = T(0.999), T eps = T(1e-8))
        : adam<T>(std::move(params), lr, beta1, beta2, eps, weight_decay, true) {}
};

/// α_e = α₀·γ^⌊e/k⌋: multiply by γ every k epochs (e counts from 0).
struct step_schedule {
    double base, gamma;
    int every;
    double operator()(int epoch) const;
};

/// α_e = α_min + ½(α₀ − α_min)(1 + cos(π·e/E)) for e in [0, E]: from α₀ down to α_min over E epochs.
struct cosine_schedule {
    double base, min;
    int total;
    double operator()(int epoch) const;
};

}  // namespace xgrad::optim
