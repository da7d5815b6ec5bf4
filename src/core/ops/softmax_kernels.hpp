// Internal: the stable per-column softmax kernel shared by softmax, log_softmax and the fused loss.
#pragma once

#include <cmath>
#include <cstddef>

#include "xgrad/config.hpp"

namespace xgrad::detail {

/// For each column j of z [c×m]: mⱼ = maxᵢ zᵢⱼ, sⱼ = Σᵢ e^(zᵢⱼ − mⱼ), lseⱼ = mⱼ + log sⱼ.
/// want_log: y = z − lse (log-softmax); otherwise y = e^(z − m)/s (softmax).
/// `col` is scratch of shape [2×m]; on return row 0 holds lseⱼ. Every loop runs along a row (contiguous);
/// y may not alias z.
template <class T>
void log_softmax_columns(const matrix<T>& z, matrix<T>& y, matrix<T>& col, bool want_log) {
    const std::size_t c = z.shape()[0], m = z.shape()[1];
    T* mx = col.data();
    T* sum = col.data() + m;
    const T* pz = z.data();
    T* py = y.data();
    for (std::size_t j = 0; j < m; ++j) mx[j] = pz[j], sum[j] = T(0);
    for (std::size_t i = 1; i < c; ++i) {
        const T* r = pz + i * m;
        for (std::size_t j = 0; j < m; ++j) mx[j] = r[j] > mx[j] ? r[j] : mx[j];
    }
    for (std::size_t i = 0; i < c; ++i) {  // e = e^(z − m) ∈ (0, 1]: never overflows
        const T* r = pz + i * m;
        T* o = py + i * m;
        for (std::size_t j = 0; j < m; ++j) {
            o[j] = std::exp(r[j] - mx[j]);
            sum[j] += o[j];
        }
    }
    if (want_log) {
        for (std::size_t j = 0; j < m; ++j) mx[j] += std::log(sum[j]);  // lse (sum ≥ 1: log is finite)
        for (std::size_t i = 0; i < c; ++i) {
            const T* r = pz + i * m;
            T* o = py + i * m;
            for (std::size_t j = 0; j < m; ++j) o[j] = r[j] - mx[j];
        }
    } else {
        for (std::size_t j = 0; j < m; ++j) sum[j] = T(1) / sum[j];
        for (std::size_t i = 0; i < c; ++i) {
            T* o = py + i * m;
            for (std::size_t j = 0; j < m; ++j) o[j] *= sum[j];
        }
        for (std::size_t j = 0; j < m; ++j) mx[j] -= std::log(sum[j]);  // lse = m − log(1/s)
    }
}

}  // namespace xgrad::detail
