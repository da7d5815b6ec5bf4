/// @file detail/finite.hpp
/// @brief Finding NaN and ±∞ by their exponent bits: an integer test that GCC vectorises (std::isfinite
/// in a loop stays scalar), for the passes that check a whole buffer (fit's gradient check, the
/// standardizer).
#pragma once

#include <cstddef>

namespace xgrad::detail {

/// Whether any of p[0 … n−1] is NaN or ±∞ (all exponent bits set): ∃ i : p_i ∉ ℝ. In src/core/finite.cpp,
/// with an AVX2 copy chosen at load time (2.5× the SSE2 loop on 203,530 floats in cache).
bool any_non_finite(const float* p, std::size_t n) noexcept;
bool any_non_finite(const double* p, std::size_t n) noexcept;

/// Whether any of p[0 … n−1] is NaN, ±∞ or in the largest binade (|p_i| ≥ 2^127 for float, 2^1023 for
/// double: about half the largest finite value and up): ∃ i : p_i ∉ ℝ ∨ |p_i| ≥ 2^127 (2^1023). Below that
/// bound a convex combination Σ_r s_r·p_r (s_r ≥ 0, Σ_r s_r = 1) of such values cannot overflow (fit_threads'
/// check of each thread's own gradient).
bool any_huge_or_non_finite(const float* p, std::size_t n) noexcept;
bool any_huge_or_non_finite(const double* p, std::size_t n) noexcept;

}  // namespace xgrad::detail
