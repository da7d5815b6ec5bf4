/// @file init.hpp
/// @brief A seeded, portable random generator and the standard weight initializers.
///
/// The same seed gives the same numbers on every platform and standard library: uniform and normal
/// variates are computed here from std::mt19937_64's raw output (std::normal_distribution's algorithm is
/// implementation-defined), so training from a seed is bit-identical run to run on one thread.
#pragma once

#include <cstdint>
#include <random>

#include "xgrad/config.hpp"

namespace xgrad {

/// Seeded pseudo-random generator (mt19937_64) with portable uniform and normal variates.
class rng {
public:
    explicit rng(std::uint64_t seed = 0) : m_engine(seed) {}
    /// Uniform on [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(m_engine() >> 11) * 0x1.0p-53; }
    /// Uniform on [lo, hi).
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    /// Standard normal N(0, 1) by the Box–Muller transform (pairs cached).
    double normal();
    /// Integer uniform on [0, n) (n > 0), unbiased.
    std::uint64_t below(std::uint64_t n);
    std::mt19937_64& engine() noexcept { return m_engine; }

private:
    std::mt19937_64 m_engine;
    double m_spare = 0;
    bool m_has_spare = false;
};

/// Weight initializers for a W of shape [fan_out × fan_in] (the lecture's units × inputs).
namespace init {

/// Every element = c.
template <class T>
void constant(matrix<T>& w, T c);
/// Every element = 0.
template <class T>
void zeros(matrix<T>& w);
/// Uniform on [lo, hi).
template <class T>
void uniform(matrix<T>& w, rng& g, double lo, double hi);
/// Normal with the given mean and standard deviation.
template <class T>
void normal(matrix<T>& w, rng& g, double mean, double stddev);
/// Xavier/Glorot uniform: U(−a, a), a = gain·√(6/(fan_in + fan_out)).
template <class T>
void xavier_uniform(matrix<T>& w, rng& g, double gain = 1.0);
/// Xavier/Glorot normal: N(0, σ²), σ = gain·√(2/(fan_in + fan_out)).
template <class T>
void xavier_normal(matrix<T>& w, rng& g, double gain = 1.0);
/// He/Kaiming uniform (for ReLU): U(−a, a), a = √(6/fan_in).
template <class T>
void he_uniform(matrix<T>& w, rng& g);
/// He/Kaiming normal (for ReLU): N(0, σ²), σ = √(2/fan_in).
template <class T>
void he_normal(matrix<T>& w, rng& g);

}  // namespace init

}  // namespace xgrad
