// Helpers shared by the tests: seeded random matrices, element-wise comparison with a stated tolerance.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <xgrad/xgrad.hpp>

namespace xgrad::test {

/// Uniform random matrix in [lo, hi), from a fixed seed (printed by failing tests through INFO).
template <class T = double>
matrix<T> random_matrix(std::size_t r, std::size_t c, std::uint64_t seed, T lo = T(-1), T hi = T(1)) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(static_cast<double>(lo), static_cast<double>(hi));
    matrix<T> m({r, c});
    for (auto& v : m) v = static_cast<T>(u(rng));
    return m;
}

/// Random matrix whose entries stay at least `gap` away from zero (keeps gradchecks off kinks).
inline matrix<double> random_away_from_zero(std::size_t r, std::size_t c, std::uint64_t seed,
                                            double gap = 0.1) {
    matrix<double> m = random_matrix<double>(r, c, seed);
    for (auto& v : m) v = v >= 0 ? v + gap : v - gap;
    return m;
}

/// Max |a − b| / (atol + rtol·|b|) over all elements; ≤ 1 means "close". NaN and ±Inf match only
/// themselves (any other mismatch is infinitely far), so a NaN result never passes as close.
template <class T>
double closeness(const matrix<T>& a, const matrix<T>& b, double rtol, double atol) {
    if (a.shape() != b.shape()) return INFINITY;
    double worst = 0;
    for (std::size_t k = 0; k < a.size(); ++k) {
        const double x = static_cast<double>(a.data()[k]), y = static_cast<double>(b.data()[k]);
        if (std::isnan(x) || std::isnan(y)) {
            if (std::isnan(x) && std::isnan(y)) continue;
            return INFINITY;
        }
        if (std::isinf(x) || std::isinf(y)) {
            if (x == y) continue;
            return INFINITY;
        }
        const double d = std::abs(x - y);
        if (d == 0) continue;
        worst = std::max(worst, d / (atol + rtol * std::abs(y)));
    }
    return worst;
}

/// The message of the exception of type E that `f` throws. If `f` throws nothing, the test records a failed
/// check and gets "<nothing thrown>"; an exception of another type escapes and fails the test.
template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    FAIL_CHECK("expected an exception; nothing was thrown");
    return "<nothing thrown>";
}

/// message_of for the most common case, xgrad::shape_error.
template <class F>
std::string shape_error_message(F&& f) {
    return message_of<xgrad::shape_error>(std::forward<F>(f));
}

/// Element-wise conversions between float and double matrices (for float-vs-double checks).
template <class To, class From>
matrix<To> cast_matrix(const matrix<From>& m) {
    matrix<To> out({m.shape()[0], m.shape()[1]});
    for (std::size_t k = 0; k < m.size(); ++k) out.data()[k] = static_cast<To>(m.data()[k]);
    return out;
}
inline matrix<double> to_double(const matrix<float>& m) {
    return cast_matrix<double>(m);
}
inline matrix<float> to_float(const matrix<double>& m) {
    return cast_matrix<float>(m);
}

/// max_i |a_i − b_i| / (1 + |b_i|) over two sequences of one length: the measure the data-parallel tests
/// (threads and MPI ranks against one process) hold to their tolerances.
template <class T>
double max_relative_difference(const std::vector<T>& a, const std::vector<T>& b) {
    REQUIRE(a.size() == b.size());
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        d = std::max(d, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])) /
                            (1 + std::abs(static_cast<double>(b[i]))));
    return d;
}

/// |a − b| / (1 + |b|): the relative difference of two numbers, safe near 0.
inline double relative_difference(double a, double b) {
    return std::abs(a - b) / (1 + std::abs(b));
}

/// A data-parallel run's history against a one-process reference's: per epoch, losses within `tolerance`
/// (relative_difference) and accuracies equal. The caller's INFO names the run.
inline void check_history_agrees(const std::vector<train::epoch_stats>& got,
                                 const std::vector<train::epoch_stats>& want, double tolerance) {
    REQUIRE(got.size() == want.size());
    for (std::size_t e = 0; e < want.size(); ++e) {
        const auto &p = got[e], &r = want[e];
        INFO("epoch " << e + 1 << ": loss " << p.loss << " vs " << r.loss << ", val loss " << p.val_loss
                      << " vs " << r.val_loss);
        CHECK(relative_difference(p.loss, r.loss) <= tolerance);
        CHECK(relative_difference(p.val_loss, r.val_loss) <= tolerance);
        CHECK(p.train_accuracy == r.train_accuracy);
        CHECK(p.val_accuracy == r.val_accuracy);
    }
}

template <class T>
std::string show(const matrix<T>& m) {
    std::ostringstream os;
    os << "[" << m.shape()[0] << "x" << m.shape()[1] << "]{";
    for (std::size_t k = 0; k < m.size() && k < 24; ++k) os << (k ? ", " : "") << m.data()[k];
    os << (m.size() > 24 ? ", ...}" : "}");
    return os.str();
}

}  // namespace xgrad::test

/// REQUIRE that two matrices agree to rtol/atol, printing both on failure.
#define XGRAD_REQUIRE_CLOSE(a, b, rtol, atol)                                       \
    do {                                                                            \
        const auto& xgrad_a_ = (a);                                                 \
        const auto& xgrad_b_ = (b);                                                 \
        INFO("actual   " << xgrad::test::show(xgrad_a_));                           \
        INFO("expected " << xgrad::test::show(xgrad_b_));                           \
        REQUIRE(xgrad::test::closeness(xgrad_a_, xgrad_b_, (rtol), (atol)) <= 1.0); \
    } while (0)
