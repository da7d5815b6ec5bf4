#include "xgrad/init.hpp"

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "xgrad/error.hpp"

namespace xgrad {

double rng::normal() {
    if (m_has_spare) {
        m_has_spare = false;
        return m_spare;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();  // log(0) guard
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double t = 2.0 * std::numbers::pi * u2;
    m_spare = r * std::sin(t);
    m_has_spare = true;
    return r * std::cos(t);
}

std::uint64_t rng::below(std::uint64_t n) {
    // Rejection sampling on the top of the range keeps every value equally likely.
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t x = m_engine();
    while (x >= limit) x = m_engine();
    return x % n;
}

namespace init {

namespace {
/// A matrix whose shape claims more elements than fit in memory (xtensor wrapped the product: its buffer
/// does not hold the shape) is refused before any loop runs over it.
template <class T>
void check_shape(const matrix<T>& w, const char* what) {
    if (!detail::element_count(shape_of(w), sizeof(T))) {
        throw argument_error(
            fmt::format("init::{}: the matrix {}", what, detail::too_large(shape_of(w), sizeof(T))));
    }
}
}  // namespace

template <class T>
void constant(matrix<T>& w, T c) {
    check_shape(w, "constant");
    std::fill(w.begin(), w.end(), c);
}
template <class T>
void zeros(matrix<T>& w) {
    check_shape(w, "zeros");
    constant(w, T(0));
}
template <class T>
void uniform(matrix<T>& w, rng& g, double lo, double hi) {
    check_shape(w, "uniform");
    for (auto& v : w) v = static_cast<T>(g.uniform(lo, hi));
}
template <class T>
void normal(matrix<T>& w, rng& g, double mean, double stddev) {
    check_shape(w, "normal");
    for (auto& v : w) v = static_cast<T>(mean + stddev * g.normal());
}

namespace {
double fan_in(const shape2& s) {
    return static_cast<double>(s[1]);
}
double fan_out(const shape2& s) {
    return static_cast<double>(s[0]);
}
}  // namespace

template <class T>
void xavier_uniform(matrix<T>& w, rng& g, double gain) {
    check_shape(w, "xavier_uniform");
    const shape2 s = shape_of(w);
    const double a = gain * std::sqrt(6.0 / (fan_in(s) + fan_out(s)));
    uniform(w, g, -a, a);
}
template <class T>
void xavier_normal(matrix<T>& w, rng& g, double gain) {
    check_shape(w, "xavier_normal");
    const shape2 s = shape_of(w);
    normal(w, g, 0.0, gain * std::sqrt(2.0 / (fan_in(s) + fan_out(s))));
}
template <class T>
void he_uniform(matrix<T>& w, rng& g) {
    check_shape(w, "he_uniform");
    const double a = std::sqrt(6.0 / fan_in(shape_of(w)));
    uniform(w, g, -a, a);
}
template <class T>
void he_normal(matrix<T>& w, rng& g) {
    check_shape(w, "he_normal");
    normal(w, g, 0.0, std::sqrt(2.0 / fan_in(shape_of(w))));
}

#define XGRAD_INSTANTIATE(T)                                 \
    template void constant(matrix<T>&, T);                   \
    template void zeros(matrix<T>&);                         \
    template void uniform(matrix<T>&, rng&, double, double); \
    template void normal(matrix<T>&, rng&, double, double);  \
    template void xavier_uniform(matrix<T>&, rng&, double);  \
    template void xavier_normal(matrix<T>&, rng&, double);   \
    template void he_uniform(matrix<T>&, rng&);              \
    template void he_normal(matrix<T>&, rng&);

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace init
}  // namespace xgrad
