/// @file optim.hpp
/// @brief Optimizers that update parameters in place from their accumulated gradients, and learning-rate
/// schedules. An update is one pass of plain, vectorisable loops over the parameters; the optimizer's state
/// (velocity, moments) is one flat buffer per quantity, allocated when the optimizer is made, so step()
/// never allocates.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
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

    /// A step in parts, for threads that update one optimizer's parameters together (fit_threads):
    /// update(begin, end) makes step()'s change to the flat elements [begin, end) (numbered as in
    /// state_offset), as the next step would; end_step() ends the step once every element is updated. step()
    /// is update(0, state_offset(params().size())) then end_step(), with the same results bit for bit.
    /// Parts of one step may run at once on different threads when they do not overlap.
    /// can_update_in_parts() says whether the optimizer has them (sgd and adam do; the default update
    /// throws).
    virtual bool can_update_in_parts() const noexcept { return false; }
    virtual void update(std::size_t begin, std::size_t end);
    virtual void end_step() {}
    T learning_rate() const noexcept { return m_lr; }
    void set_learning_rate(T lr);
    const std::vector<parameter<T>*>& params() const noexcept { return m_params; }
    /// Where parameter k's elements start in the flat state buffers (velocity, moments): element i of
    /// params()[k] is entry state_offset(k) + i; state_offset(params().size()) is the total.
    std::size_t state_offset(std::size_t k) const noexcept { return m_offsets[k]; }

protected:
    /// Throws argument_error naming a parameter whose size differs from the one it had when the optimizer
    /// was made (the state buffers are laid out for those sizes).
    void check_sizes() const;

    std::vector<parameter<T>*> m_params;
    std::vector<std::size_t> m_offsets;  // params().size() + 1 prefix sums of the parameters' sizes
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
    bool can_update_in_parts() const noexcept override { return true; }
    void update(std::size_t begin, std::size_t end) override;
    std::string_view name() const override;
    /// The velocity v of every parameter, one flat buffer (see state_offset); empty without momentum.
    std::span<const T> velocity() const noexcept { return m_velocity; }
    std::span<T> velocity() noexcept { return m_velocity; }

private:
    T m_momentum, m_weight_decay;
    bool m_nesterov;
    std::vector<T> m_velocity;
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
    bool can_update_in_parts() const noexcept override { return true; }
    void update(std::size_t begin, std::size_t end) override;
    void end_step() override { ++m_t; }
    std::string_view name() const override { return m_decoupled ? "adamw" : "adam"; }
    std::size_t steps() const noexcept { return m_t; }   ///< t, the number of updates made so far
    void set_steps(std::size_t t) noexcept { m_t = t; }  ///< for resuming from saved state
    /// The first moment m of every parameter, one flat buffer (see state_offset).
    std::span<const T> first_moment() const noexcept { return m_m; }
    std::span<T> first_moment() noexcept { return m_m; }
    /// The second moment v of every parameter, one flat buffer (see state_offset).
    std::span<const T> second_moment() const noexcept { return m_v; }
    std::span<T> second_moment() noexcept { return m_v; }

private:
    T m_beta1, m_beta2, m_eps, m_weight_decay;
    bool m_decoupled;
    std::size_t m_t = 0;
    std::vector<T> m_m, m_v;
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
