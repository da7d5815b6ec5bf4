// Data sets in memory: Playground-style synthetic sets, scaling, split and mini-batches (the loaders that
// read files are in src/io/loaders.cpp).
#include "xgrad/data.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <type_traits>

#include <fmt/format.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "xgrad/detail/clones.hpp"
#include "xgrad/detail/finite.hpp"

namespace xgrad::data {

namespace {

/// Fisher–Yates with the project's one generator (xgrad::rng).
template <class V>
void shuffle(V& v, rng& g) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[g.below(i)]);
}

std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed) {
    std::vector<std::size_t> p(n);
    std::iota(p.begin(), p.end(), std::size_t(0));
    rng g(seed);
    shuffle(p, g);
    return p;
}

// ---------------------------------------------------------------------------------------------------
// Synthetic sets

struct point {
    double x, y;
    int label;
};

void check_synthetic(std::string_view fn, double noise) {
    if (!(noise >= 0) || !std::isfinite(noise))
        throw data_error(fmt::format("{}: noise must be a finite number ≥ 0, not {}", fn, noise));
}

/// Shuffles the points (with the generator that made them) into x [2 × n], y [1 × n].
template <class T>
dataset<T> from_points(std::vector<point>& pts, std::size_t classes, rng& g) {
    shuffle(pts, g);
    const std::size_t n = pts.size();
    dataset<T> ds;
    ds.x = matrix<T>({2, n});
    ds.y = matrix<T>({1, n});
    for (std::size_t j = 0; j < n; ++j) {
        ds.x(0, j) = static_cast<T>(pts[j].x);
        ds.x(1, j) = static_cast<T>(pts[j].y);
        ds.y(0, j) = static_cast<T>(pts[j].label);
    }
    ds.classes = classes;
    ds.feature_names = {"x1", "x2"};
    return ds;
}

template <class T>
void gather_columns(const matrix<T>& src, std::span<const std::size_t> cols, matrix<T>& dst) {
    const std::size_t rows = src.shape()[0], n = src.shape()[1], m = cols.size();
    detail::ensure_shape(dst, {rows, m});
    if (rows >= 2 && m >= 4096 && n <= std::numeric_limits<std::uint32_t>::max()) {
        // A large subset (split): the index list as 32-bit numbers and two rows per pass over it, so that
        // the two source rows, the indices and the output rows stay in cache together (half the index
        // traffic, read half as often).
        std::vector<std::uint32_t> idx(cols.begin(), cols.end());
        std::size_t r = 0;
        for (; r + 2 <= rows; r += 2) {
            const T *s0 = src.data() + r * n, *s1 = s0 + n;
            T *d0 = dst.data() + r * m, *d1 = d0 + m;
            for (std::size_t k = 0; k < m; ++k) {
                const std::uint32_t c = idx[k];
                d0[k] = s0[c];
                d1[k] = s1[c];
            }
        }
        if (r < rows) {
            const T* s0 = src.data() + r * n;
            T* d0 = dst.data() + r * m;
            for (std::size_t k = 0; k < m; ++k) d0[k] = s0[idx[k]];
        }
        return;
    }
    for (std::size_t r = 0; r < rows; ++r) {
        const T* s = src.data() + r * n;
        T* d = dst.data() + r * m;
        for (std::size_t k = 0; k < m; ++k) d[k] = s[cols[k]];
    }
}

/// dst [cols × rows] = srcᵀ for a row-major src [rows × cols], in 16 × 16 tiles: each dst row's slice is
/// written contiguously while the tile's 16 source rows stay in cache.
template <class T>
void transpose_into(const T* src, std::size_t rows, std::size_t cols, T* dst) {
    constexpr std::size_t tile = 16;
    for (std::size_t c0 = 0; c0 < cols; c0 += tile) {
        const std::size_t c1 = std::min(cols, c0 + tile);
        for (std::size_t r0 = 0; r0 < rows; r0 += tile) {
            const std::size_t r1 = std::min(rows, r0 + tile);
#if defined(__SSE2__)
            if constexpr (std::is_same_v<T, float>) {
                if (c1 - c0 == tile &&
                    r1 - r0 == tile) {  // a whole tile: 16 transposes of 4 × 4 in registers
                    for (std::size_t r = r0; r < r1; r += 4) {
                        for (std::size_t c = c0; c < c1; c += 4) {
                            const float* s = src + r * cols + c;
                            __m128 a = _mm_loadu_ps(s), b = _mm_loadu_ps(s + cols),
                                   e = _mm_loadu_ps(s + 2 * cols), h = _mm_loadu_ps(s + 3 * cols);
                            _MM_TRANSPOSE4_PS(a, b, e, h);
                            float* d = dst + c * rows + r;
                            _mm_storeu_ps(d, a);
                            _mm_storeu_ps(d + rows, b);
                            _mm_storeu_ps(d + 2 * rows, e);
                            _mm_storeu_ps(d + 3 * rows, h);
                        }
                    }
                    continue;
                }
            }
#endif
            for (std::size_t c = c0; c < c1; ++c) {
                T* d = dst + c * rows;
                for (std::size_t r = r0; r < r1; ++r) d[r] = src[r * cols + c];
            }
        }
    }
}

#if defined(__SSE2__)
/// d[r·m + k] = s[k][r] for the 16 example rows s[0 … 15] and r < features: 4 × 4 tiles transposed in SSE
/// registers (4 loads, 8 shuffles and 4 stores for 16 values), four tiles side by side so that each step
/// over r writes 4 whole rows of 16 floats (a cache line each when d is aligned).
inline void transpose_block_16(const float* const* s, std::size_t features, float* d, std::size_t m) {
    std::size_t r = 0;
    for (; r + 4 <= features; r += 4) {
        float* out = d + r * m;
        for (std::size_t q = 0; q < 16; q += 4) {
            __m128 a = _mm_loadu_ps(s[q] + r), b = _mm_loadu_ps(s[q + 1] + r), c = _mm_loadu_ps(s[q + 2] + r),
                   e = _mm_loadu_ps(s[q + 3] + r);
            _MM_TRANSPOSE4_PS(a, b, c, e);
            _mm_storeu_ps(out + q, a);
            _mm_storeu_ps(out + m + q, b);
            _mm_storeu_ps(out + 2 * m + q, c);
            _mm_storeu_ps(out + 3 * m + q, e);
        }
    }
    for (; r < features; ++r)
        for (std::size_t k = 0; k < 16; ++k) d[r * m + k] = s[k][r];
}
#endif

/// dst [features × m] ← the examples idx[0 … m−1] of an example-major store [n × features], i.e. the
/// columns idx of the features × n matrix it was transposed from. Examples go in blocks of one cache line's
/// worth (16 floats, 8 doubles): each block reads that many contiguous example rows side by side (many
/// memory streams in flight) and writes whole cache lines of dst.
template <class T>
void gather_examples(const T* rows, std::size_t features, std::span<const std::size_t> idx, matrix<T>& dst) {
    const std::size_t m = idx.size();
    detail::ensure_shape(dst, {features, m});
    T* d = dst.data();
    constexpr std::size_t block = 64 / sizeof(T);
    std::size_t k0 = 0;
    for (; k0 + block <= m; k0 += block) {
        const T* s[block];
        for (std::size_t k = 0; k < block; ++k) s[k] = rows + idx[k0 + k] * features;
#if defined(__SSE2__)
        if constexpr (std::is_same_v<T, float>) {
            transpose_block_16(s, features, d + k0, m);
            continue;
        }
#endif
        for (std::size_t r = 0; r < features; ++r) {
            T* out = d + r * m + k0;
            for (std::size_t k = 0; k < block; ++k) out[k] = s[k][r];
        }
    }
    for (std::size_t k = k0; k < m; ++k) {
        const T* s = rows + idx[k] * features;
        for (std::size_t r = 0; r < features; ++r) d[r * m + k] = s[r];
    }
}

/// Rows of the label matrix a batch or subset carries: 0 for an unlabelled set.
template <class T>
std::size_t label_rows(const dataset<T>& ds, std::string_view fn) {
    if (ds.y.size() == 0) return 0;
    if (ds.y.shape()[1] != ds.size()) {
        throw data_error(fmt::format("{}: the labels are {} but x has {} columns (examples)", fn,
                                     to_string(shape_of(ds.y)), ds.size()));
    }
    return ds.y.shape()[0];
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Synthetic sets (after the TensorFlow Playground's dataset.ts)

template <class T>
dataset<T> make_circle(std::size_t n, double noise, std::uint64_t seed) {
    check_synthetic("make_circle", noise);
    constexpr double radius = 5, two_pi = 2 * std::numbers::pi;
    rng g(seed);
    std::vector<point> pts;
    pts.reserve(n);
    auto add = [&](double r_lo, double r_hi) {
        const double r = g.uniform(r_lo, r_hi), angle = g.uniform(0, two_pi);
        const double x = r * std::sin(angle), y = r * std::cos(angle);
        const double nx = g.uniform(-radius, radius) * noise, ny = g.uniform(-radius, radius) * noise;
        const int label = std::hypot(x + nx, y + ny) < radius * 0.5 ? 1 : 0;
        pts.push_back({x, y, label});
    };
    for (std::size_t i = 0; i < n / 2; ++i) add(0, radius * 0.5);       // inside: class 1
    for (std::size_t i = n / 2; i < n; ++i) add(radius * 0.7, radius);  // ring: class 0
    return from_points<T>(pts, 2, g);
}

template <class T>
dataset<T> make_xor(std::size_t n, double noise, std::uint64_t seed) {
    check_synthetic("make_xor", noise);
    constexpr double padding = 0.3;
    rng g(seed);
    std::vector<point> pts;
    pts.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        double x = g.uniform(-5, 5);
        x += x > 0 ? padding : -padding;
        double y = g.uniform(-5, 5);
        y += y > 0 ? padding : -padding;
        const double nx = g.uniform(-5, 5) * noise, ny = g.uniform(-5, 5) * noise;
        pts.push_back({x, y, (x + nx) * (y + ny) >= 0 ? 1 : 0});
    }
    return from_points<T>(pts, 2, g);
}

template <class T>
dataset<T> make_gauss(std::size_t n, double noise, std::uint64_t seed) {
    check_synthetic("make_gauss", noise);
    const double sd = std::sqrt(0.5 + 7 * noise);  // variance 0.5 … 4 for noise 0 … 0.5
    rng g(seed);
    std::vector<point> pts;
    pts.reserve(n);
    auto add = [&](double cx, double cy, int label) {
        const double x = cx + sd * g.normal(), y = cy + sd * g.normal();
        pts.push_back({x, y, label});
    };
    for (std::size_t i = 0; i < n / 2; ++i) add(2, 2, 1);
    for (std::size_t i = n / 2; i < n; ++i) add(-2, -2, 0);
    return from_points<T>(pts, 2, g);
}

template <class T>
dataset<T> make_spiral(std::size_t n, std::size_t arms, double noise, std::uint64_t seed) {
    check_synthetic("make_spiral", noise);
    if (arms < 2) throw data_error(fmt::format("make_spiral: arms must be at least 2, not {}", arms));
    constexpr double two_pi = 2 * std::numbers::pi;
    rng g(seed);
    std::vector<point> pts;
    pts.reserve(n);
    for (std::size_t k = 0; k < arms; ++k) {
        const std::size_t m = n / arms + (k < n % arms ? 1 : 0);
        const double delta = two_pi * static_cast<double>(k) / static_cast<double>(arms);
        for (std::size_t i = 0; i < m; ++i) {
            const double frac = static_cast<double>(i) / static_cast<double>(m);
            const double r = 5 * frac, t = 1.75 * frac * two_pi + delta;
            const double x = r * std::sin(t) + g.uniform(-1, 1) * noise;
            const double y = r * std::cos(t) + g.uniform(-1, 1) * noise;
            pts.push_back({x, y, static_cast<int>(k)});
        }
    }
    return from_points<T>(pts, arms, g);
}

// ---------------------------------------------------------------------------------------------------
// standardizer

namespace {
template <class T>
constexpr const char* real_name() {
    return std::is_same_v<T, float> ? "float" : "double";
}
template <class T>
bool fits(double v) {
    return std::abs(v) <= static_cast<double>(std::numeric_limits<T>::max());
}
}  // namespace

namespace {

/// Statistics of K feature rows at once (K independent chains, so the sequential sums run K times as fast):
/// for each row its smallest value (the first, as std::minmax_element), largest (the last), and, for
/// standard scaling, the mean and population standard deviation — each sum in double, in the order
/// j = 0, 1, …, n−1, exactly as a row-by-row loop adds them.
template <class T, std::size_t K>
void row_stats(const T* const* rows, std::size_t n, bool standard, T* lo, T* hi, double* offset,
               double* scale) {
    double sum[K] = {};
    T mn[K], mx[K];
    for (std::size_t q = 0; q < K; ++q) mn[q] = mx[q] = rows[q][0];
    for (std::size_t j = 0; j < n; ++j) {
        for (std::size_t q = 0; q < K; ++q) {
            const T v = rows[q][j];
            sum[q] += static_cast<double>(v);
            mn[q] = v < mn[q] ? v : mn[q];
            mx[q] = v < mx[q] ? mx[q] : v;
        }
    }
    double ss[K] = {};
    if (standard) {
        for (std::size_t q = 0; q < K; ++q) sum[q] /= static_cast<double>(n);
        for (std::size_t j = 0; j < n; ++j) {
            for (std::size_t q = 0; q < K; ++q) {
                const double d = static_cast<double>(rows[q][j]) - sum[q];
                ss[q] += d * d;
            }
        }
    }
    for (std::size_t q = 0; q < K; ++q) {
        lo[q] = mn[q];
        hi[q] = mx[q];
        offset[q] = standard ? sum[q] : static_cast<double>(mn[q]);
        scale[q] = standard ? std::sqrt(ss[q] / static_cast<double>(n))
                            : static_cast<double>(mx[q]) - static_cast<double>(mn[q]);
    }
}

}  // namespace

namespace {

/// row ← (row − o) / s, or row · s + o when Invert, each value in double and rounded to T once.
template <class T, bool Invert>
XGRAD_AVX2_CLONE void scale_row(T* __restrict row, std::size_t n, double o, double s) {
    for (std::size_t j = 0; j < n; ++j) {
        const double v = static_cast<double>(row[j]);
        row[j] = static_cast<T>(Invert ? v * s + o : (v - o) / s);
    }
}

#if defined(__SSE2__)
/// One SSE register of T: 4 floats or 2 doubles, with the four operations min_max needs.
template <class T>
struct sse_lanes;
template <>
struct sse_lanes<float> {
    using reg = __m128;
    static constexpr std::size_t width = 4;
    static reg load(const float* p) { return _mm_loadu_ps(p); }
    static reg min(reg a, reg b) { return _mm_min_ps(a, b); }
    static reg max(reg a, reg b) { return _mm_max_ps(a, b); }
    static void store(float* p, reg a) { _mm_storeu_ps(p, a); }
};
template <>
struct sse_lanes<double> {
    using reg = __m128d;
    static constexpr std::size_t width = 2;
    static reg load(const double* p) { return _mm_loadu_pd(p); }
    static reg min(reg a, reg b) { return _mm_min_pd(a, b); }
    static reg max(reg a, reg b) { return _mm_max_pd(a, b); }
    static void store(double* p, reg a) { _mm_storeu_pd(p, a); }
};
#endif

/// The smallest and largest of p[0 … n−1] (n ≥ 1, all finite), four (float) or two (double) lanes at a time.
template <class T>
void min_max(const T* p, std::size_t n, T& lo, T& hi) {
    std::size_t j = 0;
    lo = hi = p[0];
#if defined(__SSE2__)
    using L = sse_lanes<T>;
    if (n >= L::width) {
        typename L::reg mn = L::load(p), mx = mn;
        for (j = L::width; j + L::width <= n; j += L::width) {
            const typename L::reg v = L::load(p + j);
            mn = L::min(mn, v);
            mx = L::max(mx, v);
        }
        T a[L::width], b[L::width];
        L::store(a, mn);
        L::store(b, mx);
        for (std::size_t q = 0; q < L::width; ++q) lo = std::min(lo, a[q]), hi = std::max(hi, b[q]);
    }
#endif
    for (; j < n; ++j) lo = std::min(lo, p[j]), hi = std::max(hi, p[j]);
}

/// The map of apply (x − o)/s or of invert x·s + o: one value (for the checks), or a whole row.
template <class T, bool Invert>
struct affine {
    double operator()(double v, double o, double s) const { return Invert ? v * s + o : (v - o) / s; }
    static void write(T* row, std::size_t n, double o, double s) { scale_row<T, Invert>(row, n, o, s); }
};

#if defined(__SSE2__)
/// row_stats for 4 float rows, the rows side by side in SSE registers (4 × 4 tiles transposed): the same
/// operations in the same order for each row as the scalar loop (sums in double, j = 0 … n−1; minimum and
/// maximum keep the first of equal values), so the same statistics bit for bit.
template <>
void row_stats<float, 4>(const float* const* rows, std::size_t n, bool standard, float* lo, float* hi,
                         double* offset, double* scale) {
    __m128 mn = _mm_set_ps(rows[3][0], rows[2][0], rows[1][0], rows[0][0]), mx = mn;
    __m128d s01 = _mm_setzero_pd(), s23 = _mm_setzero_pd();
    const auto tile = [&](std::size_t j, __m128 t[4]) {
        t[0] = _mm_loadu_ps(rows[0] + j), t[1] = _mm_loadu_ps(rows[1] + j), t[2] = _mm_loadu_ps(rows[2] + j),
        t[3] = _mm_loadu_ps(rows[3] + j);
        _MM_TRANSPOSE4_PS(t[0], t[1], t[2], t[3]);  // t[i]: column j + i of the 4 rows
    };
    std::size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m128 t[4];
        tile(j, t);
        for (int i = 0; i < 4; ++i) {
            s01 = _mm_add_pd(s01, _mm_cvtps_pd(t[i]));
            s23 = _mm_add_pd(s23, _mm_cvtps_pd(_mm_movehl_ps(t[i], t[i])));
            mn = _mm_min_ps(t[i], mn);  // t < mn ? t : mn
            mx = _mm_max_ps(mx, t[i]);  // mx > t ? mx : t
        }
    }
    alignas(16) double sum[4];
    alignas(16) float mn_[4], mx_[4];
    _mm_store_pd(sum, s01);
    _mm_store_pd(sum + 2, s23);
    _mm_store_ps(mn_, mn);
    _mm_store_ps(mx_, mx);
    for (std::size_t q = 0; q < 4; ++q) {
        for (std::size_t jj = j; jj < n; ++jj) {
            const float v = rows[q][jj];
            sum[q] += static_cast<double>(v);
            mn_[q] = v < mn_[q] ? v : mn_[q];
            mx_[q] = v < mx_[q] ? mx_[q] : v;
        }
    }
    double ss[4] = {};
    if (standard) {
        for (std::size_t q = 0; q < 4; ++q) sum[q] /= static_cast<double>(n);
        const __m128d m01 = _mm_load_pd(sum), m23 = _mm_load_pd(sum + 2);
        __m128d q01 = _mm_setzero_pd(), q23 = _mm_setzero_pd();
        for (j = 0; j + 4 <= n; j += 4) {
            __m128 t[4];
            tile(j, t);
            for (int i = 0; i < 4; ++i) {
                const __m128d d01 = _mm_sub_pd(_mm_cvtps_pd(t[i]), m01),
                              d23 = _mm_sub_pd(_mm_cvtps_pd(_mm_movehl_ps(t[i], t[i])), m23);
                q01 = _mm_add_pd(q01, _mm_mul_pd(d01, d01));
                q23 = _mm_add_pd(q23, _mm_mul_pd(d23, d23));
            }
        }
        alignas(16) double qs[4];
        _mm_store_pd(qs, q01);
        _mm_store_pd(qs + 2, q23);
        for (std::size_t q = 0; q < 4; ++q) {
            ss[q] = qs[q];
            for (std::size_t jj = j; jj < n; ++jj) {
                const double d = static_cast<double>(rows[q][jj]) - sum[q];
                ss[q] += d * d;
            }
        }
    }
    for (std::size_t q = 0; q < 4; ++q) {
        lo[q] = mn_[q];
        hi[q] = mx_[q];
        offset[q] = standard ? sum[q] : static_cast<double>(mn_[q]);
        scale[q] = standard ? std::sqrt(ss[q] / static_cast<double>(n))
                            : static_cast<double>(mx_[q]) - static_cast<double>(mn_[q]);
    }
}
#endif

}  // namespace

// The statistics and the scaling are computed in double: for float data nothing overflows there (|x| ≤
// 3.4e38, so squares ≤ 1.2e77); x − mean in float would (−3.4e38 − 1.1e38). What T cannot hold is refused,
// naming the feature, before anything is stored or written.
template <class T>
standardizer<T>& standardizer<T>::fit(const matrix<T>& x) {
    const std::size_t f = x.shape()[0], n = x.shape()[1];
    if (n == 0)
        throw data_error(
            fmt::format("standardizer::fit: x is {}: no columns (examples)", to_string(shape_of(x))));
    matrix<T> offsets({f, 1}), scales({f, 1});
    const bool standard = m_method == scaling::standard;
    constexpr std::size_t K = 4;
    T lo[K], hi[K];
    double offset[K], scale[K];
    for (std::size_t r0 = 0; r0 < f; r0 += K) {
        const std::size_t rows_here = std::min(K, f - r0);
        const T* rows[K];
        for (std::size_t q = 0; q < rows_here; ++q) rows[q] = x.data() + (r0 + q) * n;
        for (std::size_t q = 0; q < rows_here; ++q) {
            if (!detail::any_non_finite(rows[q], n)) continue;
            // Rows before this one are checked first (their statistics may be refused), then this one.
            for (std::size_t p = 0; p < q; ++p) {
                row_stats<T, 1>(&rows[p], n, standard, lo, hi, offset, scale);
                check_stats(r0 + p, lo[0], hi[0], offset[0], scale[0]);
            }
            for (std::size_t j = 0; j < n; ++j) {
                if (!std::isfinite(rows[q][j])) {
                    throw data_error(fmt::format(
                        "standardizer::fit: feature {} of example {} is {} (every value must be finite)",
                        r0 + q, j, rows[q][j]));
                }
            }
        }
        if (rows_here == K) {
            row_stats<T, K>(rows, n, standard, lo, hi, offset, scale);
        } else {
            for (std::size_t q = 0; q < rows_here; ++q)
                row_stats<T, 1>(&rows[q], n, standard, lo + q, hi + q, offset + q, scale + q);
        }
        for (std::size_t q = 0; q < rows_here; ++q) {
            check_stats(r0 + q, lo[q], hi[q], offset[q], scale[q]);
            offsets(r0 + q, 0) = static_cast<T>(offset[q]);
            scales(r0 + q, 0) =
                scale[q] > 0 && static_cast<T>(scale[q]) > T(0) ? static_cast<T>(scale[q]) : T(1);
        }
    }
    m_offset = std::move(offsets);
    m_scale = std::move(scales);
    return *this;
}

template <class T>
void standardizer<T>::check_stats(std::size_t r, T lo, T hi, double offset, double scale) const {
    const bool offset_ok = std::isfinite(offset) && fits<T>(offset);
    if (!offset_ok || !std::isfinite(scale) || !fits<T>(scale)) {
        const char* stat = !offset_ok                      ? "mean"
                           : m_method == scaling::standard ? "standard deviation"
                                                           : "range max − min";
        throw data_error(
            fmt::format("standardizer::fit: feature {} (values from {} to {}): its {} {:.6g} is beyond "
                        "what {} holds; "
                        "rescale this feature first",
                        r, lo, hi, stat, offset_ok ? scale : offset, real_name<T>()));
    }
}

template <class T>
void standardizer<T>::check(const matrix<T>& x, const char* what) const {
    if (!fitted()) throw data_error(fmt::format("standardizer::{}: not fitted (call fit first)", what));
    if (x.shape()[0] != m_offset.shape()[0]) {
        throw data_error(
            fmt::format("standardizer::{}: x is {} but the standardizer was fitted on {} features", what,
                        to_string(shape_of(x)), m_offset.shape()[0]));
    }
}

template <class T>
template <class F>
void standardizer<T>::map(matrix<T>& x, const char* what, F&& f) const {
    check(x, what);
    const std::size_t rows = x.shape()[0], n = x.shape()[1];
    // First check every result, then write: a refused x is left as it was. f is non-decreasing in v (both
    // maps are v − o or v·s then ÷ s or + o, each correctly rounded, with s > 0), so a row of finite values
    // maps into what T holds when its smallest and largest value do: the check of a row is one pass for its
    // minimum and maximum (no division), and only a refused row is searched for the first bad value.
    constexpr double max = static_cast<double>(std::numeric_limits<T>::max());
    const auto ok = [](double v) { return std::abs(v) <= max; };  // false for NaN and ±∞ too
    for (std::size_t r = 0; r < rows; ++r) {
        const T* row = x.data() + r * n;
        const double o = static_cast<double>(m_offset(r, 0)), s = static_cast<double>(m_scale(r, 0));
        bool bad =
            n > 0 && (!(s > 0) || !std::isfinite(s) || !std::isfinite(o) || detail::any_non_finite(row, n));
        if (!bad && n > 0) {
            T lo, hi;
            min_max(row, n, lo, hi);
            bad = !ok(f(static_cast<double>(lo), o, s)) || !ok(f(static_cast<double>(hi), o, s));
        }
        if (!bad) continue;
        for (std::size_t j = 0; j < n; ++j) {
            const double v = f(static_cast<double>(row[j]), o, s);
            if (!std::isfinite(v) || !fits<T>(v)) {
                throw data_error(fmt::format(
                    "standardizer::{}: feature {} of example {} is {}, which maps to {:.6g} with offset {} "
                    "and scale {}: {} cannot hold it (the data is far outside what the standardizer was "
                    "fitted on)",
                    what, r, j, row[j], v, m_offset(r, 0), m_scale(r, 0), real_name<T>()));
            }
        }
    }
    for (std::size_t r = 0; r < rows; ++r) {
        const double o = static_cast<double>(m_offset(r, 0)), s = static_cast<double>(m_scale(r, 0));
        std::remove_cvref_t<F>::write(x.data() + r * n, n, o, s);
    }
}

template <class T>
void standardizer<T>::apply(matrix<T>& x) const {
    map(x, "apply", affine<T, false>{});
}

template <class T>
void standardizer<T>::invert(matrix<T>& x) const {
    map(x, "invert", affine<T, true>{});
}

// ---------------------------------------------------------------------------------------------------
// subset, split

template <class T>
dataset<T> subset(const dataset<T>& ds, std::span<const std::size_t> columns) {
    const std::size_t n = ds.size();
    const std::size_t yrows = label_rows(ds, "subset");
    for (std::size_t k = 0; k < columns.size(); ++k) {
        if (columns[k] >= n) {
            throw data_error(fmt::format("subset: column {} (entry {}) is outside the data set's {} examples",
                                         columns[k], k, n));
        }
    }
    dataset<T> out;
    gather_columns(ds.x, columns, out.x);
    if (yrows) {
        gather_columns(ds.y, columns, out.y);
    } else {
        out.y = matrix<T>({0, columns.size()});
    }
    out.classes = ds.classes;
    out.class_names = ds.class_names;
    out.feature_names = ds.feature_names;
    return out;
}

template <class T>
std::pair<dataset<T>, dataset<T>> split(const dataset<T>& ds, double validation_fraction,
                                        std::uint64_t seed) {
    const auto [train, validation] = split_columns(ds.size(), validation_fraction, seed);
    return {subset(ds, train), subset(ds, validation)};
}

std::pair<std::vector<std::size_t>, std::vector<std::size_t>> split_columns(std::size_t n,
                                                                            double validation_fraction,
                                                                            std::uint64_t seed) {
    if (!(validation_fraction >= 0 && validation_fraction <= 1)) {
        throw data_error(
            fmt::format("split: validation_fraction must be in [0, 1], not {}", validation_fraction));
    }
    const auto n_val = std::min<std::size_t>(
        n, static_cast<std::size_t>(std::llround(static_cast<double>(n) * validation_fraction)));
    std::vector<std::size_t> p = permutation(n, seed);
    std::vector<std::size_t> validation(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n_val));
    p.erase(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n_val));
    return {std::move(p), std::move(validation)};
}

// ---------------------------------------------------------------------------------------------------
// batcher

template <class T>
std::shared_ptr<const std::vector<T>> example_major(const dataset<T>& ds) {
    auto rows = std::make_shared<std::vector<T>>(ds.size() * ds.features());
    transpose_into(ds.x.data(), ds.features(), ds.size(), rows->data());
    return rows;
}

template <class T>
void batcher<T>::share_examples(std::shared_ptr<const std::vector<T>> rows) {
    if (rows == nullptr || rows->size() != m_ds->size() * m_ds->features()) {
        throw data_error(
            fmt::format("batcher::share_examples: the copy has {} values, not the data set's {} × {}",
                        rows == nullptr ? 0 : rows->size(), m_ds->size(), m_ds->features()));
    }
    m_rows = std::move(rows);
}

template <class T>
void batcher<T>::set_shard(std::size_t rank, std::size_t ranks) {
    if (ranks == 0 || rank >= ranks)
        throw data_error(fmt::format("batcher::set_shard: rank {} is not one of {} ranks", rank, ranks));
    m_rank = rank;
    m_ranks = ranks;
}

template <class T>
batcher<T>::batcher(const dataset<T>& ds, std::size_t batch_size, std::uint64_t seed, bool shuffle)
    : m_ds(&ds), m_batch(batch_size), m_shuffle(shuffle), m_rng(seed) {
    if (batch_size == 0) throw data_error("batcher: batch_size must be at least 1");
    label_rows(ds, "batcher");
}

template <class T>
void batcher<T>::start_epoch() {
    const std::size_t n = m_ds->size();
    m_order.resize(n);  // no allocation after the first epoch
    std::iota(m_order.begin(), m_order.end(), std::size_t(0));
    if (m_shuffle) shuffle(m_order, m_rng);
    m_begin = m_count = 0;
    m_started = true;
    ++m_epoch;
}

template <class T>
bool batcher<T>::next() {
    if (!m_started) start_epoch();
    const std::size_t n = m_ds->size(), pos = m_begin + m_count;
    if (pos >= n) return false;
    const std::size_t count = std::min(m_batch, n - pos);
    // This rank's part of the batch (all of it unless sharded): columns [lo, hi) of the batch.
    const auto part = [&](std::size_t r) { return (count / m_ranks) * r + (count % m_ranks) * r / m_ranks; };
    const std::size_t lo = part(m_rank), hi = part(m_rank + 1);
    const std::span<const std::size_t> cols =
        std::span<const std::size_t>(m_order).subspan(pos + lo, hi - lo);
    m_batch_full = count == m_batch;
    matrix<T>& bx = m_batch_full ? m_x_full : m_x_tail;
    matrix<T>& by = m_batch_full ? m_y_full : m_y_tail;
    const std::size_t features = m_ds->features();
    if (m_shuffle && features > 1) {
        // Random columns of the features × n store would cost a cache miss per value; the example-major
        // copy (made once) gives each example as one contiguous row.
        if (m_rows == nullptr || m_rows->size() != n * features) m_rows = example_major(*m_ds);
        gather_examples(m_rows->data(), features, cols, bx);
        // The next batch's example rows, asked for now so that they come from memory while this batch is
        // used (random rows of a store larger than the caches: each would otherwise be a miss in next()).
        const std::size_t after = pos + count;
        if (after < n) {
            const std::size_t c2 = std::min(m_batch, n - after);
            const auto part2 = [&](std::size_t r) {
                return (c2 / m_ranks) * r + (c2 % m_ranks) * r / m_ranks;
            };
            const std::size_t line = 64 / sizeof(T);
            for (std::size_t k = after + part2(m_rank), k1 = after + part2(m_rank + 1); k < k1; ++k) {
                const T* row = m_rows->data() + m_order[k] * features;
                // Every fourth cache line: the first miss of each stretch, the hardware prefetcher the rest
                // (asking for every line stalled next() on full miss buffers: slower than none).
                for (std::size_t r = 0; r < features; r += 4 * line) __builtin_prefetch(row + r, 0, 1);
            }
        }
    } else if (!m_shuffle) {  // the columns pos + lo … pos + hi − 1: a slice of each row
        const std::size_t c = hi - lo;
        detail::ensure_shape(bx, {features, c});
        for (std::size_t r = 0; r < features; ++r) {
            const T* src = m_ds->x.data() + r * n + pos + lo;
            std::copy(src, src + c, bx.data() + r * c);
        }
    } else {
        gather_columns(m_ds->x, cols, bx);
    }
    if (label_rows(*m_ds, "batcher::next")) {
        gather_columns(m_ds->y, cols, by);
    } else {
        detail::ensure_shape(by, {0, hi - lo});
    }
    m_begin = pos;
    m_count = count;
    return true;
}

#define XGRAD_INSTANTIATE(T)                                                                       \
    template dataset<T> make_circle<T>(std::size_t, double, std::uint64_t);                        \
    template dataset<T> make_xor<T>(std::size_t, double, std::uint64_t);                           \
    template dataset<T> make_gauss<T>(std::size_t, double, std::uint64_t);                         \
    template dataset<T> make_spiral<T>(std::size_t, std::size_t, double, std::uint64_t);           \
    template dataset<T> subset<T>(const dataset<T>&, std::span<const std::size_t>);                \
    template std::pair<dataset<T>, dataset<T>> split<T>(const dataset<T>&, double, std::uint64_t); \
    template class standardizer<T>;                                                                \
    template class batcher<T>;                                                                     \
    template std::shared_ptr<const std::vector<T>> example_major<T>(const dataset<T>&);

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad::data
