// Internal: the stable per-column softmax kernel shared by softmax, log_softmax and the fused loss.
#pragma once

#include <cmath>
#include <cstddef>

#include "xgrad/config.hpp"

namespace xgrad::detail {

/// Rows of the scratch matrix log_softmax_columns needs: [softmax_scratch_rows × m].
inline constexpr std::size_t softmax_scratch_rows = 4;

/// For each column j of z [c×m]: mⱼ = maxᵢ zᵢⱼ, sⱼ = Σᵢ e^(zᵢⱼ − mⱼ) = 1 + rⱼ, where rⱼ sums every term but
/// one of those equal to 1 (the max's), compensated (Kahan), and log sⱼ = log1p(rⱼ).
/// want_log: y = (z − m) − log s (log-softmax); otherwise y = e^(z − m)/s (softmax).
///
/// Why this order: log-probabilities near 0 (a confident class) are −log s, tiny. Computing 1 + r and then
/// log, or z − (m + log s), rounds them to the spacing of 1 or of m (in float, 1 + 2e-9 is 1 and the
/// log-probability comes out 0); log1p(r) and subtracting m first keep their relative precision.
///
/// `col` is scratch of shape [softmax_scratch_rows × m]; on return row 0 holds mⱼ, row 1 log sⱼ (so
/// log yᵢⱼ = (zᵢⱼ − mⱼ) − log sⱼ) and row 2 1/sⱼ. Every loop runs along a row (contiguous); y may not
/// alias z.
template <class T>
void log_softmax_columns(const matrix<T>& z, matrix<T>& y, matrix<T>& col, bool want_log) {
    const std::size_t c = z.shape()[0], m = z.shape()[1];
    T* mx = col.data();
    T* rest = col.data() + m;      // Σ of the terms below 1, then log sⱼ
    T* ones = col.data() + 2 * m;  // how many terms are exactly 1 (the max, and ties), then 1/sⱼ
    T* lost = col.data() + 3 * m;  // Kahan compensation: what rounding dropped from rest
    const T* pz = z.data();
    T* py = y.data();
    for (std::size_t j = 0; j < m; ++j) mx[j] = pz[j], rest[j] = T(0), ones[j] = T(0), lost[j] = T(0);
    for (std::size_t i = 1; i < c; ++i) {
        const T* r = pz + i * m;
        for (std::size_t j = 0; j < m; ++j) mx[j] = r[j] > mx[j] ? r[j] : mx[j];
    }
    for (std::size_t i = 0; i < c; ++i) {  // e = e^(z − m) ∈ (0, 1]: never overflows
        const T* r = pz + i * m;
        T* o = py + i * m;
        for (std::size_t j = 0; j < m; ++j) {
            const T e = std::exp(r[j] - mx[j]);
            o[j] = e;
            const bool one = e == T(1);
            const T add = (one ? T(0) : e) - lost[j];
            const T sum = rest[j] + add;
            lost[j] = (sum - rest[j]) - add;
            rest[j] = sum;
            ones[j] += one ? T(1) : T(0);
        }
    }
    // s = ones + Σ terms below 1, and r = (ones − 1) + Σ terms below 1 ≥ 0 (ones ≥ 1: the max gives e^0 = 1).
    // Row 1 becomes log s = log1p(r), row 2 becomes 1/s.
    for (std::size_t j = 0; j < m; ++j) {
        const T below = rest[j];
        rest[j] = std::log1p((ones[j] - T(1)) + below);
        ones[j] = T(1) / (ones[j] + below);
    }
    const T* logs = rest;
    const T* inv = ones;
    if (want_log) {
        for (std::size_t i = 0; i < c; ++i) {
            const T* r = pz + i * m;
            T* o = py + i * m;
            for (std::size_t j = 0; j < m; ++j) o[j] = (r[j] - mx[j]) - logs[j];
        }
    } else {
        for (std::size_t i = 0; i < c; ++i) {
            T* o = py + i * m;
            for (std::size_t j = 0; j < m; ++j) o[j] *= inv[j];
        }
    }
}

}  // namespace xgrad::detail
