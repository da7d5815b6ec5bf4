/// @file layers.hpp
/// @brief Modules beyond the dense layer: embedding, dropout, batch_norm and layer_norm (nn.hpp has module,
/// linear, activation, sequential). They compose with nn::linear in nn::sequential and in user modules;
/// dropout and batch_norm behave differently in training and evaluation (module::train / module::eval).
///
///   xgrad::nn::sequential<float> net;
///   net.emplace<xgrad::nn::linear<float>>(784, 256, g);
///   net.emplace<xgrad::nn::batch_norm<float>>(256);
///   net.emplace<xgrad::nn::activation<float>>(xgrad::nn::activation_kind::relu);
///   net.emplace<xgrad::nn::dropout<float>>(0.2, g);
///   net.emplace<xgrad::nn::linear<float>>(256, 10, g);
#pragma once

#include <cstddef>
#include <string>

#include "xgrad/init.hpp"
#include "xgrad/nn.hpp"

namespace xgrad::nn {

/// A table of learned feature vectors, one column per symbol (lecture 4): ids [1×m] → E[:, ids] [d×m].
/// Parameter "weight" E [d × V], initialised N(0, stddev²).
template <class T>
class embedding : public module<T> {
public:
    embedding(std::size_t symbols, std::size_t features, rng& g, double stddev = 1.0);
    /// Y = E[:, ids] : [1×m] → [d×m] (ids: integers in [0, V), a constant)
    var<T> forward(const var<T>& ids) override;
    std::string describe() const override;
    parameter<T>& weight() noexcept { return *m_weight; }
    std::size_t symbols() const noexcept { return m_symbols; }
    std::size_t features() const noexcept { return m_features; }

private:
    std::size_t m_symbols, m_features;
    parameter<T>* m_weight;
};

/// Inverted dropout with probability p (0 ≤ p < 1) in training; the identity in evaluation. The mask is drawn
/// from `g`, which must outlive the module (the project's one generator: seed it for reproducible runs).
template <class T>
class dropout : public module<T> {
public:
    dropout(double p, rng& g);
    /// Training: Y = X ⊙ M/(1 − p); evaluation: Y = X.
    var<T> forward(const var<T>& x) override;
    std::string describe() const override;
    double p() const noexcept { return m_p; }

private:
    double m_p;
    rng* m_rng;
};

/// What batch_norm normalises over: each row (the features of a dense layer), or each channel of an image
/// batch (C·H·W × m, channel-major).
enum class norm_axis { features, channels };

/// Batch normalisation. Parameters "weight" γ (ones) and "bias" β (zeros), [count × 1]; buffers
/// "running_mean" (zeros) and "running_var" (ones), saved in checkpoints. Training: the batch's statistics,
/// and the running ones move by `momentum`; evaluation: the running statistics.
template <class T>
class batch_norm : public module<T> {
public:
    /// `count` features (axis features: X has `count` rows) or channels (axis channels: X has count·H·W
    /// rows).
    explicit batch_norm(std::size_t count, norm_axis axis = norm_axis::features, double momentum = 0.1,
                        double eps = 1e-5);
    var<T> forward(const var<T>& x) override;
    std::string describe() const override;
    parameter<T>& weight() noexcept { return *m_gamma; }
    parameter<T>& bias() noexcept { return *m_beta; }
    parameter<T>& running_mean() noexcept { return *m_mean; }
    parameter<T>& running_var() noexcept { return *m_var; }

private:
    std::size_t m_count;
    norm_axis m_axis;
    double m_momentum, m_eps;
    parameter<T>* m_gamma;
    parameter<T>* m_beta;
    parameter<T>* m_mean;
    parameter<T>* m_var;
};

/// Layer normalisation over each example's `features` rows. Parameters "weight" γ (ones) and "bias" β
/// (zeros), [features × 1]. The same in training and evaluation.
template <class T>
class layer_norm : public module<T> {
public:
    explicit layer_norm(std::size_t features, double eps = 1e-5);
    var<T> forward(const var<T>& x) override;
    std::string describe() const override;
    parameter<T>& weight() noexcept { return *m_gamma; }
    parameter<T>& bias() noexcept { return *m_beta; }

private:
    std::size_t m_features;
    double m_eps;
    parameter<T>* m_gamma;
    parameter<T>* m_beta;
};

}  // namespace xgrad::nn
