/// @file detail/finite.hpp
/// @brief Finding NaN and ±∞ by their exponent bits: an integer test that GCC vectorises (std::isfinite
/// in a loop stays scalar), for the passes that check a whole buffer (fit's gradient check, the
/// standardizer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace xgrad::detail {

/// Whether any of p[0 … n−1] is NaN or ±∞ (all exponent bits set): ∃ i : p_i ∉ ℝ
template <class T>
bool any_non_finite(const T* p, std::size_t n) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
    using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    constexpr U exponent = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
    // (u & exponent) + the exponent's lowest bit carries into the sign bit exactly when all exponent bits
    // are set: three integer operations per element, no comparison.
    constexpr U carry = exponent & ~(exponent << 1), sign = U(1) << (8 * sizeof(T) - 1);
    U bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
        U u;
        std::memcpy(&u, p + i, sizeof u);
        bad |= (u & exponent) + carry;
    }
    return (bad & sign) != 0;
}

}  // namespace xgrad::detail
