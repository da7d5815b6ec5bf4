/// @file broadcast.hpp
/// @brief Broadcasting on 2-D shapes and its adjoint, sum_to (un-broadcast) — the one helper every
/// broadcasting op (add_bias, add, mul, …) uses in backward.
///
/// Two shapes broadcast when each dimension is equal or 1 in one of them: [p×m] with [p×1] gives [p×m].
/// If Y = f(A, B) broadcasts A from [p×1] to [p×m], then dA = sum_to(dY_A, [p×1]) = Σ over the m columns —
/// the lecture's db = (1/m)·np.sum(dA, axis=1) once the loss' 1/m is inside dY.
#pragma once

#include <cstddef>
#include <optional>

#include "xgrad/config.hpp"

namespace xgrad {

/// The broadcast shape of `a` and `b`, or nothing if they do not broadcast.
std::optional<shape2> broadcast_shapes(const shape2& a, const shape2& b) noexcept;

/// G ← sum_to(F, shape(G)) + β·G, where F is the [full] matrix whose element (i, j) is f(i, j).
/// Sums F over every dimension in which G has extent 1. Evaluates f once per element, no temporary.
/// Requires each dimension of G to equal full's or be 1. β is 0 (overwrite) or 1 (add).
template <class T, class F>
void sum_to(matrix<T>& g, T beta, const shape2& full, F&& f) {
    const std::size_t r = full[0], c = full[1];
    const std::size_t gr = g.shape()[0], gc = g.shape()[1];
    T* out = g.data();
    if (gr == r && gc == c) {  // no reduction
        for (std::size_t i = 0; i < r; ++i) {
            T* row = out + i * c;
            if (beta == T(0)) {
                for (std::size_t j = 0; j < c; ++j) row[j] = f(i, j);
            } else {
                for (std::size_t j = 0; j < c; ++j) row[j] += f(i, j);
            }
        }
    } else if (gr == r) {  // [r×1]: sum over columns (8 running sums, so the loop vectorises)
        for (std::size_t i = 0; i < r; ++i) {
            if (c < 8) {  // the same sums as below, where the eight partial sums would all stay zero
                T s = 0;
                for (std::size_t j = 0; j < c; ++j) s += f(i, j);
                out[i] = (beta == T(0)) ? s : out[i] + s;
                continue;
            }
            T acc[8] = {};
            std::size_t j = 0;
            for (; j + 8 <= c; j += 8) {
                for (std::size_t k = 0; k < 8; ++k) acc[k] += f(i, j + k);
            }
            T s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
            for (; j < c; ++j) s += f(i, j);
            out[i] = (beta == T(0)) ? s : out[i] + s;
        }
    } else if (gc == c) {  // [1×c]: sum over rows
        if (beta == T(0)) {
            for (std::size_t j = 0; j < c; ++j) out[j] = T(0);
        }
        for (std::size_t i = 0; i < r; ++i) {
            for (std::size_t j = 0; j < c; ++j) out[j] += f(i, j);
        }
    } else {  // [1×1]: sum of everything
        T s = 0;
        for (std::size_t i = 0; i < r; ++i) {
            for (std::size_t j = 0; j < c; ++j) s += f(i, j);
        }
        out[0] = (beta == T(0)) ? s : out[0] + s;
    }
}

/// G ← sum_to(src, shape(G)) + β·G.
template <class T>
void sum_to(const matrix<T>& src, matrix<T>& g, T beta = T(0)) {
    const std::size_t c = src.shape()[1];
    const T* p = src.data();
    sum_to(g, beta, shape_of(src), [p, c](std::size_t i, std::size_t j) { return p[i * c + j]; });
}

/// sum_to(src, shape) as a new matrix (for user code; ops deliver in place with the forms above).
template <class T>
matrix<T> sum_to(const matrix<T>& src, const shape2& shape) {
    matrix<T> g(shape);
    sum_to(src, g, T(0));
    return g;
}

}  // namespace xgrad
