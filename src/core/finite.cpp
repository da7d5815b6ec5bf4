// NaN and ±∞ found by their exponent bits (detail/finite.hpp).
#include "xgrad/detail/finite.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "xgrad/detail/clones.hpp"

namespace xgrad::detail {

namespace {

/// Whether any p_i has an exponent field of at least all ones minus (2^Lowest − 1): (u & exponent) plus the
/// exponent's lowest bit shifted by Lowest carries into the sign bit exactly then. Lowest = 0: NaN and ±∞;
/// Lowest = 1: also |p_i| ≥ 2^127 (float), 2^1023 (double). Three integer operations per element, no
/// comparison, vectorised by GCC.
template <int Lowest, class T>
XGRAD_AVX2_CLONE bool scan(const T* p, std::size_t n) noexcept {
    using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    constexpr U exponent = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
    constexpr U carry = (exponent & ~(exponent << 1)) << Lowest, sign = U(1) << (8 * sizeof(T) - 1);
    U bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
        U u;
        std::memcpy(&u, p + i, sizeof u);
        bad |= (u & exponent) + carry;
    }
    return (bad & sign) != 0;
}

}  // namespace

bool any_non_finite(const float* p, std::size_t n) noexcept {
    return scan<0>(p, n);
}
bool any_non_finite(const double* p, std::size_t n) noexcept {
    return scan<0>(p, n);
}
bool any_huge_or_non_finite(const float* p, std::size_t n) noexcept {
    return scan<1>(p, n);
}
bool any_huge_or_non_finite(const double* p, std::size_t n) noexcept {
    return scan<1>(p, n);
}

}  // namespace xgrad::detail
