/// @file config.hpp
/// @brief The value type of xgrad: every tensor is a 2-D matrix in the lecture's layout.
///
/// Examples are columns: X is (features × m), W[l] is (units × inputs), b[l] is (units × 1).
/// A scalar is a 1×1 matrix, a column vector is n×1, a row vector is 1×m.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <xtensor/xtensor.hpp>

namespace xgrad {

/// A dense row-major matrix; the storage of every value and gradient.
template <class T>
using matrix = xt::xtensor<T, 2>;

/// (rows, cols) of a matrix.
using shape2 = std::array<std::size_t, 2>;

/// "[3×4]" — how shapes are printed in every message and trace.
std::string to_string(const shape2& s);

/// The shape of a matrix as a shape2.
template <class T>
shape2 shape_of(const matrix<T>& m) {
    return {m.shape()[0], m.shape()[1]};
}

namespace detail {
/// rows·cols if a matrix of that shape (elements of `element_bytes` bytes) can exist, i.e. its size in
/// bytes fits in std::ptrdiff_t; nothing if not (xtensor would wrap the product and allocate a buffer that
/// does not hold the shape). Every place that creates a matrix from sizes it was given checks this first.
inline std::optional<std::size_t> element_count(const shape2& s, std::size_t element_bytes) noexcept {
    if (((s[0] | s[1]) >> 24) == 0 && element_bytes <= 256) return s[0] * s[1];  // < 2⁴⁸ elements: fits
    const std::size_t limit = static_cast<std::size_t>(PTRDIFF_MAX) / element_bytes;
    if (s[0] != 0 && s[1] > limit / s[0]) return std::nullopt;
    return s[0] * s[1];
}

/// "[a×b] is too large: a·b elements of n bytes do not fit in memory", for messages about such a shape.
std::string too_large(const shape2& s, std::size_t element_bytes);

/// Resize `m` to `s` only when it differs, so buffers recorded again with the same shape are reused.
template <class T>
void ensure_shape(matrix<T>& m, const shape2& s) {
    if (m.shape()[0] != s[0] || m.shape()[1] != s[1]) m.resize(s);
}
}  // namespace detail

}  // namespace xgrad
