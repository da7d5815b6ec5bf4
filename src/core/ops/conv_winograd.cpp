// conv2d by Winograd's minimal filtering F(r×r, 3×3) (3×3 kernels, stride 1, no dilation, enough channels):
// the transforms, the blocks of tiles and their gemms, forward and backward. conv.cpp chooses this path
// (winograd_tile) and keeps the op; the rule and the errors are there.
#include <algorithm>
#include <cstddef>

#include "conv_detail.hpp"
#include "xgrad/blas.hpp"
#include "xgrad/op.hpp"

namespace xgrad::detail::conv_impl {

namespace {

// ---------------------------------------------------------------- conv2d by Winograd F(r×r, 3×3)
//
// Lavin & Gray (2015): an r×r output tile of a 3×3 correlation over an α×α input patch d (α = r + 2) is
//   Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A.
// Summed over channels, each of the α² tile positions ξ is one matrix product: M[ξ] (K × tiles·m) = U[ξ] (K ×
// C)· V[ξ] (C × tiles·m), with U = G g Gᵀ per (k, c) and V = Bᵀ d B per (c, tile). Backward runs the adjoints
// of the same steps: dM = A dY Aᵀ, dV[ξ] = U[ξ]ᵀ·dM[ξ], dH += B dV Bᵀ over the overlapping patches, dU[ξ] =
// dM[ξ]·V[ξ]ᵀ, dW = Gᵀ dU G. Every element of these tiles is a row of m examples (contiguous in the CHWN
// layout); the 1-D transforms run along one axis of a tile, vectorised over the m examples (restrict
// parameters: the rows of one call never overlap).
//
// F(2×2, 3×3) (α = 4, 2.25× fewer multiplications than direct): Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],
// G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], Aᵀ = [1 1 1 0; 0 1 −1 −1].
// F(4×4, 3×3) (α = 6, 4× fewer): Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0;
// 0 2 −1 −2 1 0; 0 4 0 −5 0 1], G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1],
// Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].

template <class T>
void f2_bt(const T* __restrict x0, const T* __restrict x1, const T* __restrict x2, const T* __restrict x3,
           T* __restrict y0, T* __restrict y1, T* __restrict y2, T* __restrict y3, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const T a = x0[n], b = x1[n], c = x2[n], d = x3[n];
        y0[n] = a - c;
        y1[n] = b + c;
        y2[n] = c - b;
        y3[n] = b - d;
    }
}

template <bool add, class T>
void f2_b(const T* __restrict x0, const T* __restrict x1, const T* __restrict x2, const T* __restrict x3,
          T* __restrict y0, T* __restrict y1, T* __restrict y2, T* __restrict y3, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const T a = x0[n], b = x1[n], c = x2[n], d = x3[n];
        const T v0 = a, v1 = b - c + d, v2 = b + c - a, v3 = -d;
        y0[n] = add ? y0[n] + v0 : v0;
        y1[n] = add ? y1[n] + v1 : v1;
        y2[n] = add ? y2[n] + v2 : v2;
        y3[n] = add ? y3[n] + v3 : v3;
    }
}

template <class T>
void f2_at(const T* __restrict x0, const T* __restrict x1, const T* __restrict x2, const T* __restrict x3,
           T beta, T* __restrict y0, T* __restrict y1, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const T a = x0[n], b = x1[n], c = x2[n], d = x3[n];
        y0[n] = a + b + c + beta;
        y1[n] = b - c - d + beta;
    }
}

template <class T>
void f2_a(const T* __restrict x0, const T* __restrict x1, T* __restrict y0, T* __restrict y1,
          T* __restrict y2, T* __restrict y3, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const T a = x0[n], b = x1[n];
        y0[n] = a;
        y1[n] = a + b;
        y2[n] = a - b;
        y3[n] = -b;
    }
}

template <class T>
void f4_bt(const T* __restrict x0, const T* __restrict x1, const T* __restrict x2, const T* __restrict x3,
           const T* __restrict x4, const T* __restrict x5, T* __restrict y0, T* __restrict y1,
           T* __restrict y2, T* __restrict y3, T* __restrict y4, T* __restrict y5, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const T a = x0[n], b = x1[n], c = x2[n], d = x3[n], e = x4[n], f = x5[n];
        y0[n] = T(4) * a - T(5) * c + e;
        y1[n] = e + d - T(4) * (b + c);
        y2[n] = e - d + T(4) * (b - c);
        y3[n] = e - c + T(2) * (d - b);
        y4[n] = e - c - T(2) * (d - b);
        y5[n] = T(4) * b - T(5) * d + f;
    }
}

template <bool add, class T>
void f4_b(const T* __restrict x0, const T* __restrict x1, const T* __restrict x2, const T* __restrict x3,
          const T* __restrict x4, const T* __restrict x5, T* __restrict y0, T* __restrict y1,
          T* __restrict y2, T* __restrict y3, T* __restrict y4, T* __restrict y5, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const T a = x0[n], b = x1[n], c = x2[n], d = x3[n], e = x4[n], f = x5[n];
        const T v0 = T(4) * a, v1 = T(4) * (c - b + f) + T(2) * (e - d),
                v2 = -T(5) * a - T(4) * (b + c) - d - e, v3 = b - c + T(2) * (d - e) - T(5) * f,
                v4 = a + b + c + d + e, v5 = f;
        y0[n] = add ? y0[n] + v0 : v0;
        y1[n] = add ? y1[n] + v1 : v1;
        y2[n] = add ? y2[n] + v2 : v2;
        y3[n] = add ? y3[n] + v3 : v3;
        y4[n] = add ? y4[n] + v4 : v4;
        y5[n] = add ? y5[n] + v5 : v5;
    }
}

template <class T>
void f4_at(const T* __restrict x0, const T* __restrict x1, const T* __restrict x2, const T* __restrict x3,
           const T* __restrict x4, const T* __restrict x5, T beta, T* __restrict y0, T* __restrict y1,
           T* __restrict y2, T* __restrict y3, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const T a = x0[n], b = x1[n], c = x2[n], d = x3[n], e = x4[n], f = x5[n];
        const T s1 = b + c, d1 = b - c, s2 = d + e, d2 = d - e;
        y0[n] = a + s1 + s2 + beta;
        y1[n] = d1 + T(2) * d2 + beta;
        y2[n] = s1 + T(4) * s2 + beta;
        y3[n] = d1 + T(8) * d2 + f + beta;
    }
}

template <class T>
void f4_a(const T* __restrict x0, const T* __restrict x1, const T* __restrict x2, const T* __restrict x3,
          T* __restrict y0, T* __restrict y1, T* __restrict y2, T* __restrict y3, T* __restrict y4,
          T* __restrict y5, std::size_t m) {
    for (std::size_t n = 0; n < m; ++n) {
        const T a = x0[n], b = x1[n], c = x2[n], d = x3[n];
        y0[n] = a;
        y1[n] = a + b + c + d;
        y2[n] = a - b + c - d;
        y3[n] = a + T(2) * b + T(4) * c + T(8) * d;
        y4[n] = a - T(2) * b + T(4) * c - T(8) * d;
        y5[n] = d;
    }
}

/// F(2×2, 3×3): α = 4, r = 2; the 1-D transforms over rows of m values.
struct winograd_f2 {
    static constexpr std::size_t alpha = 4, r = 2;
    static constexpr double g[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    template <class T>
    static void bt(const T* const* x, T* const* y, std::size_t m) {
        f2_bt(x[0], x[1], x[2], x[3], y[0], y[1], y[2], y[3], m);
    }
    template <bool add, class T>
    static void b(const T* const* x, T* const* y, std::size_t m) {
        f2_b<add>(x[0], x[1], x[2], x[3], y[0], y[1], y[2], y[3], m);
    }
    template <class T>
    static void at(const T* const* x, T beta, T* const* y, std::size_t m) {
        f2_at(x[0], x[1], x[2], x[3], beta, y[0], y[1], m);
    }
    template <class T>
    static void a(const T* const* x, T* const* y, std::size_t m) {
        f2_a(x[0], x[1], y[0], y[1], y[2], y[3], m);
    }
};

/// F(4×4, 3×3): α = 6, r = 4.
struct winograd_f4 {
    static constexpr std::size_t alpha = 6, r = 4;
    static constexpr double g[6][3] = {{0.25, 0, 0},
                                       {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                       {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                       {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                       {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                       {0, 0, 1}};
    template <class T>
    static void bt(const T* const* x, T* const* y, std::size_t m) {
        f4_bt(x[0], x[1], x[2], x[3], x[4], x[5], y[0], y[1], y[2], y[3], y[4], y[5], m);
    }
    template <bool add, class T>
    static void b(const T* const* x, T* const* y, std::size_t m) {
        f4_b<add>(x[0], x[1], x[2], x[3], x[4], x[5], y[0], y[1], y[2], y[3], y[4], y[5], m);
    }
    template <class T>
    static void at(const T* const* x, T beta, T* const* y, std::size_t m) {
        f4_at(x[0], x[1], x[2], x[3], x[4], x[5], beta, y[0], y[1], y[2], y[3], m);
    }
    template <class T>
    static void a(const T* const* x, T* const* y, std::size_t m) {
        f4_a(x[0], x[1], x[2], x[3], y[0], y[1], y[2], y[3], y[4], y[5], m);
    }
};

/// Bytes of one block of tiles: V and M (α²·(C + K)·tiles·m values) within about half of a core's L2.
constexpr std::size_t winograd_block_bytes = std::size_t(512) << 10;

/// Tiles per block (at least one).
template <class F>
std::size_t winograd_block_tiles(std::size_t C, std::size_t K, std::size_t m, std::size_t element) {
    return std::max<std::size_t>(
        1, winograd_block_bytes / (F::alpha * F::alpha * (C + K) * std::max<std::size_t>(m, 1) * element));
}

/// The geometry of the tiles: th × tw tiles of r×r outputs (the last row and column may be partial).
struct tiling {
    std::size_t r, th, tw;
    std::size_t count() const { return th * tw; }
};
template <class F>
tiling tiles_of(const geometry& g) {
    return {F::r, (g.Ho + F::r - 1) / F::r, (g.Wo + F::r - 1) / F::r};
}

/// Scratch rows of the Winograd kernels (each m long): row 0 zeros (the padding's pixels, the missing
/// outputs' dY), rows 1–6 absorb writes to pixels outside the image or outputs beyond the last, rows 7… an
/// α×α tile of intermediate rows.
constexpr std::size_t winograd_scratch_rows = 1 + 6 + 36;
constexpr std::size_t winograd_tmp_row = 7;

/// U[ξ][k][c] = (G g Gᵀ)[ξ] of the 3×3 kernel g = W[k, c, ·, ·]; U is α² × K × C.
template <class F, class T>
void winograd_weights(const T* w, std::size_t K, std::size_t C, T* u) {
    constexpr std::size_t al = F::alpha;
    for (std::size_t k = 0; k < K; ++k) {
        for (std::size_t c = 0; c < C; ++c) {
            const T* g = w + (k * C + c) * 9;
            T t[al][3];  // G·g
            for (std::size_t a = 0; a < al; ++a) {
                for (std::size_t j = 0; j < 3; ++j) {
                    t[a][j] = static_cast<T>(F::g[a][0]) * g[j] + static_cast<T>(F::g[a][1]) * g[3 + j] +
                              static_cast<T>(F::g[a][2]) * g[6 + j];
                }
            }
            for (std::size_t a = 0; a < al; ++a) {  // (G·g)·Gᵀ
                for (std::size_t b = 0; b < al; ++b) {
                    u[((a * al + b) * K + k) * C + c] = t[a][0] * static_cast<T>(F::g[b][0]) +
                                                        t[a][1] * static_cast<T>(F::g[b][1]) +
                                                        t[a][2] * static_cast<T>(F::g[b][2]);
                }
            }
        }
    }
}

/// dW[k, c, ·, ·] (+)= (Gᵀ dU G) of dU[·][k][c]: the adjoint of winograd_weights. β = 0 overwrites dW.
template <class F, class T>
void winograd_weights_adjoint(const T* du, std::size_t K, std::size_t C, T beta, T* dw) {
    constexpr std::size_t al = F::alpha;
    for (std::size_t k = 0; k < K; ++k) {
        for (std::size_t c = 0; c < C; ++c) {
            T t[al][3] = {};  // dU·G
            for (std::size_t a = 0; a < al; ++a) {
                for (std::size_t b = 0; b < al; ++b) {
                    const T v = du[((a * al + b) * K + k) * C + c];
                    for (std::size_t j = 0; j < 3; ++j) t[a][j] += v * static_cast<T>(F::g[b][j]);
                }
            }
            T* g = dw + (k * C + c) * 9;
            for (std::size_t i = 0; i < 3; ++i) {  // Gᵀ·(dU·G)
                for (std::size_t j = 0; j < 3; ++j) {
                    T v = T(0);
                    for (std::size_t a = 0; a < al; ++a) v += static_cast<T>(F::g[a][i]) * t[a][j];
                    g[i * 3 + j] = beta == T(0) ? v : g[i * 3 + j] + v;
                }
            }
        }
    }
}

/// The input row (c, iy, ix) of x, or `outside` when (iy, ix) is not in the image.
template <class T>
T* pixel_row(const geometry& g, T* x, std::size_t c, std::ptrdiff_t iy, std::ptrdiff_t ix, T* outside) {
    const bool inside =
        iy >= 0 && iy < static_cast<std::ptrdiff_t>(g.H) && ix >= 0 && ix < static_cast<std::ptrdiff_t>(g.W);
    return inside ? x + ((c * g.H + static_cast<std::size_t>(iy)) * g.W + static_cast<std::size_t>(ix)) * g.m
                  : outside;
}

/// V[ξ][c][tile − t0][n] = (Bᵀ d B)[ξ] for the α×α input patches d of tiles [t0, t1): V is α² × C × nb with
/// nb = (t1 − t0)·m. Pixels outside the image read the zero row.
template <class F, class T>
void winograd_input(const geometry& g, const tiling& tl, const T* x, std::size_t t0, std::size_t t1, T* v,
                    T* scratch) {
    constexpr std::size_t al = F::alpha;
    const std::size_t m = g.m, nb = (t1 - t0) * m, xi = g.C * nb;
    T* zero = scratch;
    T* tmp = scratch + winograd_tmp_row * m;
    for (std::size_t c = 0; c < g.C; ++c) {
        for (std::size_t t = t0; t < t1; ++t) {
            const auto y0 = static_cast<std::ptrdiff_t>(F::r * (t / tl.tw)) -
                            static_cast<std::ptrdiff_t>(g.ph),
                       x0 = static_cast<std::ptrdiff_t>(F::r * (t % tl.tw)) -
                            static_cast<std::ptrdiff_t>(g.pw);
            const T* in[al];
            T* out[al];
            for (std::size_t a = 0; a < al; ++a) {  // along each row of the patch: d·B
                for (std::size_t b = 0; b < al; ++b) {
                    in[b] = pixel_row(g, x, c, y0 + static_cast<std::ptrdiff_t>(a),
                                      x0 + static_cast<std::ptrdiff_t>(b), static_cast<const T*>(zero));
                    out[b] = tmp + (a * al + b) * m;
                }
                F::bt(in, out, m);
            }
            T* dst = v + c * nb + (t - t0) * m;     // position ξ at dst + ξ·C·nb
            for (std::size_t b = 0; b < al; ++b) {  // along each column: Bᵀ·(d·B)
                for (std::size_t a = 0; a < al; ++a) {
                    in[a] = tmp + (a * al + b) * m;
                    out[a] = dst + (a * al + b) * xi;
                }
                F::bt(in, out, m);
            }
        }
    }
}

/// A[k, outputs of tiles [t0, t1)] = (Aᵀ M A) + b[k]: M is α² × K × nb. Outputs beyond the image go to the
/// absorbing rows.
template <class F, class T>
void winograd_output(const geometry& g, const tiling& tl, const T* mm, std::size_t K, const T* bias,
                     std::size_t t0, std::size_t t1, T* y, T* scratch) {
    constexpr std::size_t al = F::alpha, r = F::r;
    const std::size_t m = g.m, nb = (t1 - t0) * m, xi = K * nb;
    T* sink = scratch + m;
    T* tmp = scratch + winograd_tmp_row * m;
    for (std::size_t k = 0; k < K; ++k) {
        for (std::size_t t = t0; t < t1; ++t) {
            const std::size_t oy = r * (t / tl.tw), ox = r * (t % tl.tw);
            const T* src = mm + k * nb + (t - t0) * m;
            const T* in[al];
            T* out[al];
            for (std::size_t a = 0; a < al; ++a) {  // along each row: M·A (α × r)
                for (std::size_t b = 0; b < al; ++b) in[b] = src + (a * al + b) * xi;
                for (std::size_t j = 0; j < r; ++j) out[j] = tmp + (a * r + j) * m;
                F::at(in, T(0), out, m);
            }
            for (std::size_t j = 0; j < r; ++j) {  // along each column: Aᵀ·(M·A) + b, output column ox + j
                for (std::size_t a = 0; a < al; ++a) in[a] = tmp + (a * r + j) * m;
                for (std::size_t i = 0; i < r; ++i) {
                    out[i] = oy + i < g.Ho && ox + j < g.Wo ? y + ((k * g.Ho + oy + i) * g.Wo + ox + j) * m
                                                            : sink + i * m;
                }
                F::at(in, bias[k], out, m);
            }
        }
    }
}

/// dM[ξ][k][tile − t0] = (A dY Aᵀ)[ξ] of the r×r output tiles of [t0, t1) (outputs beyond the image read 0).
template <class F, class T>
void winograd_output_adjoint(const geometry& g, const tiling& tl, const T* dy, std::size_t K, std::size_t t0,
                             std::size_t t1, T* dm, T* scratch) {
    constexpr std::size_t al = F::alpha, r = F::r;
    const std::size_t m = g.m, nb = (t1 - t0) * m, xi = K * nb;
    const T* zero = scratch;
    T* tmp = scratch + winograd_tmp_row * m;
    for (std::size_t k = 0; k < K; ++k) {
        for (std::size_t t = t0; t < t1; ++t) {
            const std::size_t oy = r * (t / tl.tw), ox = r * (t % tl.tw);
            const T* in[al];
            T* out[al];
            for (std::size_t i = 0; i < r; ++i) {  // along each row of dY: dY·Aᵀ (r × α)
                for (std::size_t j = 0; j < r; ++j) {
                    in[j] = oy + i < g.Ho && ox + j < g.Wo ? dy + ((k * g.Ho + oy + i) * g.Wo + ox + j) * m
                                                           : zero;
                }
                for (std::size_t b = 0; b < al; ++b) out[b] = tmp + (i * al + b) * m;
                F::a(in, out, m);
            }
            T* dst = dm + k * nb + (t - t0) * m;
            for (std::size_t b = 0; b < al; ++b) {  // along each column: A·(dY·Aᵀ)
                for (std::size_t i = 0; i < r; ++i) in[i] = tmp + (i * al + b) * m;
                for (std::size_t a = 0; a < al; ++a) out[a] = dst + (a * al + b) * xi;
                F::a(in, out, m);
            }
        }
    }
}

/// dH[patch of each tile of [t0, t1)] += (B dV Bᵀ): the adjoint of winograd_input (dV is α² × C × nb); pixels
/// outside the image go to the absorbing rows.
template <class F, class T>
void winograd_input_adjoint(const geometry& g, const tiling& tl, const T* dv, std::size_t t0, std::size_t t1,
                            T* dx, T* scratch) {
    constexpr std::size_t al = F::alpha;
    const std::size_t m = g.m, nb = (t1 - t0) * m, xi = g.C * nb;
    T* sink = scratch + m;
    T* tmp = scratch + winograd_tmp_row * m;
    for (std::size_t c = 0; c < g.C; ++c) {
        for (std::size_t t = t0; t < t1; ++t) {
            const auto y0 = static_cast<std::ptrdiff_t>(F::r * (t / tl.tw)) -
                            static_cast<std::ptrdiff_t>(g.ph),
                       x0 = static_cast<std::ptrdiff_t>(F::r * (t % tl.tw)) -
                            static_cast<std::ptrdiff_t>(g.pw);
            const T* src = dv + c * nb + (t - t0) * m;
            const T* in[al];
            T* out[al];
            for (std::size_t a = 0; a < al; ++a) {  // along each row: dV·Bᵀ
                for (std::size_t b = 0; b < al; ++b) {
                    in[b] = src + (a * al + b) * xi;
                    out[b] = tmp + (a * al + b) * m;
                }
                F::template b<false>(in, out, m);
            }
            for (std::size_t b = 0; b < al;
                 ++b) {  // along each column: B·(dV·Bᵀ), added to pixel column x0 + b
                for (std::size_t a = 0; a < al; ++a) {
                    in[a] = tmp + (a * al + b) * m;
                    out[a] = pixel_row(g, dx, c, y0 + static_cast<std::ptrdiff_t>(a),
                                       x0 + static_cast<std::ptrdiff_t>(b), sink + a * m);
                }
                F::template b<true>(in, out, m);
            }
        }
    }
}

/// Forward by F(2×2, 3×3), block by block of tiles: U = G g Gᵀ once, then per block V = Bᵀ d B, the 16
/// gemms M[ξ] = U[ξ]·V[ξ], and A = Aᵀ M A + b. Saves U (slot 2) for backward.
template <class F, class T>
void winograd_forward_f(forward_context<T>& ctx, const geometry& g, std::size_t K, matrix<T>& y) {
    const tiling tl = tiles_of<F>(g);
    constexpr std::size_t xis = F::alpha * F::alpha;  // tile positions ξ
    const std::size_t C = g.C, m = g.m,
                      block = std::min(winograd_block_tiles<F>(C, K, m, sizeof(T)), tl.count());
    matrix<T>& u = ctx.save(2, {xis * K, C});
    winograd_weights<F>(ctx.input(0).data(), K, C, u.data());
    matrix<T>& v = ctx.save(0, {xis * C, block * m});
    matrix<T>& mm = ctx.save(1, {xis * K, block * m});
    matrix<T>& scratch = ctx.save(3, {winograd_scratch_rows, m});
    std::fill_n(scratch.data(), m, T(0));
    const T* x = ctx.input(1).data();
    const T* pb = ctx.input(2).data();
    for (std::size_t t0 = 0; t0 < tl.count(); t0 += block) {
        const std::size_t t1 = std::min(tl.count(), t0 + block), nb = (t1 - t0) * m;
        winograd_input<F>(g, tl, x, t0, t1, v.data(), scratch.data());
        for (std::size_t xi = 0; xi < xis; ++xi) {  // M[ξ] (K × nb) = U[ξ] (K × C)·V[ξ] (C × nb)
            gemm<T>(false, false, K, nb, C, T(1), u.data() + xi * K * C, C, v.data() + xi * C * nb, nb, T(0),
                    mm.data() + xi * K * nb, nb);
        }
        winograd_output<F>(g, tl, mm.data(), K, pb, t0, t1, y.data(), scratch.data());
    }
}

/// Backward by F(2×2, 3×3), the same blocks as forward: dM = A dY Aᵀ; dW: V recomputed, dU[ξ] +=
/// dM[ξ]·V[ξ]ᵀ, then dW = Gᵀ dU G; dH: dV[ξ] = U[ξ]ᵀ·dM[ξ] (U saved by forward), dH += B dV Bᵀ; db = Σ
/// dY.
template <class F, class T>
void winograd_backward_f(backward_context<T>& ctx, const geometry& g, std::size_t K) {
    const tiling tl = tiles_of<F>(g);
    constexpr std::size_t xis = F::alpha * F::alpha;  // tile positions ξ
    const std::size_t C = g.C, m = g.m, n = g.positions() * m,
                      block = std::min(winograd_block_tiles<F>(C, K, m, sizeof(T)), tl.count());
    const T* dy = ctx.grad_output().data();
    if (ctx.needs_grad(2)) {  // db[k] = Σ over the positions and examples of channel k
        gradient_target<T> t = ctx.target(2);
        write_gradient(t, [&](std::size_t k) { return static_cast<T>(row_sum(dy + k * n, n)); });
    }
    const bool want_w = ctx.needs_grad(0), want_x = ctx.needs_grad(1);
    if (!want_w && !want_x) return;
    const T* u = ctx.saved(2).data();
    T* scratch = ctx.workspace(3, {winograd_scratch_rows, m}).data();
    std::fill_n(scratch, m, T(0));
    T* dm = ctx.workspace(1, {xis * K, block * m}).data();
    T* v = want_w ? ctx.workspace(0, {xis * C, block * m}).data() : nullptr;
    T* du = want_w ? ctx.workspace(5, {xis * K, C}).data() : nullptr;
    T* dv = want_x ? ctx.workspace(4, {xis * C, block * m}).data() : nullptr;
    T* dx = want_x ? scatter_target(ctx.target(1)) : nullptr;
    const T* x = ctx.input(1).data();
    for (std::size_t t0 = 0; t0 < tl.count(); t0 += block) {
        const std::size_t t1 = std::min(tl.count(), t0 + block), nb = (t1 - t0) * m;
        winograd_output_adjoint<F>(g, tl, dy, K, t0, t1, dm, scratch);
        if (want_w) {  // dU[ξ] (K × C) (+)= dM[ξ] (K × nb)·V[ξ]ᵀ (nb × C)
            winograd_input<F>(g, tl, x, t0, t1, v, scratch);
            for (std::size_t xi = 0; xi < xis; ++xi) {
                gemm<T>(false, true, K, C, nb, T(1), dm + xi * K * nb, nb, v + xi * C * nb, nb,
                        t0 == 0 ? T(0) : T(1), du + xi * K * C, C);
            }
        }
        if (want_x) {  // dV[ξ] (C × nb) = U[ξ]ᵀ (C × K)·dM[ξ] (K × nb), then scattered back
            for (std::size_t xi = 0; xi < xis; ++xi) {
                gemm<T>(true, false, C, nb, K, T(1), u + xi * K * C, C, dm + xi * K * nb, nb, T(0),
                        dv + xi * C * nb, nb);
            }
            winograd_input_adjoint<F>(g, tl, dv, t0, t1, dx, scratch);
        }
    }
    if (want_w) {
        gradient_target<T> t = ctx.target(0);
        winograd_weights_adjoint<F>(du, K, C, t.beta, t.buffer.data());
    }
}

}  // namespace

template <class T>
void winograd_forward(forward_context<T>& ctx, const geometry& g, std::size_t K, std::size_t tile,
                      matrix<T>& y) {
    if (tile == 4) {
        winograd_forward_f<winograd_f4>(ctx, g, K, y);
    } else {
        winograd_forward_f<winograd_f2>(ctx, g, K, y);
    }
}

template <class T>
void winograd_backward(backward_context<T>& ctx, const geometry& g, std::size_t K, std::size_t tile) {
    if (tile == 4) {
        winograd_backward_f<winograd_f4>(ctx, g, K);
    } else {
        winograd_backward_f<winograd_f2>(ctx, g, K);
    }
}

template void winograd_forward<float>(forward_context<float>&, const geometry&, std::size_t, std::size_t,
                                      matrix<float>&);
template void winograd_forward<double>(forward_context<double>&, const geometry&, std::size_t, std::size_t,
                                       matrix<double>&);
template void winograd_backward<float>(backward_context<float>&, const geometry&, std::size_t, std::size_t);
template void winograd_backward<double>(backward_context<double>&, const geometry&, std::size_t, std::size_t);

}  // namespace xgrad::detail::conv_impl
