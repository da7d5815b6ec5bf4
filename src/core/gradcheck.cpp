#include "xgrad/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "xgrad/graph.hpp"

namespace xgrad {

namespace {

struct harness {
    const gradcheck_function& f;
    const gradcheck_options& opt;
    matrix<double> projection;  // R; empty until the first evaluation fixes the output shape
    std::string ops;
    std::mt19937_64 rng;

    harness(const gradcheck_function& fn, const gradcheck_options& o) : f(fn), opt(o), rng(o.seed) {}

    std::vector<var<double>> leaves(graph<double>& g, const std::vector<matrix<double>>& xs) {
        std::vector<var<double>> v;
        for (std::size_t k = 0; k < xs.size(); ++k) v.push_back(g.variable(xs[k], fmt::format("x{}", k)));
        return v;
    }

    void fix_projection(const matrix<double>& y) {
        if (y.size() == 0) {
            throw argument_error(fmt::format(
                "gradcheck: the function's output is {}: it has no elements, so nothing would be compared",
                to_string(shape_of(y))));
        }
        projection = matrix<double>(shape_of(y));
        if (y.size() == 1) {
            projection(0, 0) = 1.0;
        } else {
            std::uniform_real_distribution<double> u(-1.0, 1.0);
            for (auto& r : projection) r = u(rng);
        }
    }

    double project(const matrix<double>& y) const {
        if (shape_of(y) != shape_of(projection)) {
            throw graph_error(fmt::format("gradcheck: the function's output changed shape from {} to {}",
                                          to_string(shape_of(projection)), to_string(shape_of(y))));
        }
        double s = 0;
        for (std::size_t n = 0; n < y.size(); ++n) s += projection.data()[n] * y.data()[n];
        return s;
    }

    /// Analytic gradients of L = Σ R ⊙ f(x).
    std::vector<matrix<double>> analytic(const std::vector<matrix<double>>& xs) {
        graph<double> g;
        auto v = leaves(g, xs);
        var<double> y = f(v);
        fix_projection(y.value());
        for (std::size_t i = 0; i < g.size(); ++i) {
            auto info = g.info(static_cast<std::uint32_t>(i));
            if (detail::engine<double>::node_at(g, static_cast<std::uint32_t>(i)).fn != nullptr) {
                if (!ops.empty()) ops += ", ";
                ops += info.op;
            }
        }
        std::vector<matrix<double>> grads;
        if (y.requires_grad()) g.backward(y, projection);
        for (auto& x : v) grads.push_back(x.grad());
        return grads;
    }

    double loss(const std::vector<matrix<double>>& xs) {
        graph<double> g;
        no_grad ng;  // values only
        auto v = leaves(g, xs);
        return project(f(v).value());
    }
};

void consider(gradcheck_result& r, const gradcheck_options& o, double a, double n, std::size_t input,
              std::size_t row, std::size_t col) {
    const double tol = o.atol + o.rtol * std::max(std::abs(a), std::abs(n));
    const double diff = std::abs(a - n);
    const double ratio = std::isfinite(diff) ? diff / tol : std::numeric_limits<double>::infinity();
    ++r.checked;
    if (ratio > r.worst_ratio || r.checked == 1) {
        r.worst_ratio = ratio;
        r.input = input, r.row = row, r.col = col, r.analytic = a, r.numeric = n;
    }
}

void finish(gradcheck_result& r, const gradcheck_options& o, const std::string& ops, const char* kind) {
    r.ops = ops;
    r.ok = r.worst_ratio <= 1.0;
    r.report = fmt::format(
        "gradcheck ({}) {} for ops [{}]: worst at input {} element ({}, {}): analytic {:.12g} vs numeric "
        "{:.12g} "
        "(|diff| = {:.3g}, {:.3g}× the tolerance atol {:g} + rtol {:g}·max); {} comparisons, eps {:g}, seed "
        "{}",
        kind, r.ok ? "passed" : "FAILED", ops, r.input, r.row, r.col, r.analytic, r.numeric,
        std::abs(r.analytic - r.numeric), r.worst_ratio, o.atol, o.rtol, r.checked, o.eps, o.seed);
}

/// A check that compares nothing must not pass: every input needs an element.
void check_inputs(const std::vector<matrix<double>>& inputs, const char* fn) {
    if (inputs.empty()) throw argument_error(fmt::format("{}: no inputs (nothing would be compared)", fn));
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        if (inputs[k].size() == 0) {
            throw argument_error(
                fmt::format("{}: input {} is {}: it has no elements, so its gradient would not "
                            "be compared (give every input at least one element)",
                            fn, k, to_string(shape_of(inputs[k]))));
        }
    }
}

}  // namespace

gradcheck_result gradcheck(const gradcheck_function& f, const std::vector<matrix<double>>& inputs,
                           const gradcheck_options& options) {
    check_inputs(inputs, "gradcheck");
    harness h(f, options);
    const auto grads = h.analytic(inputs);
    gradcheck_result r;
    std::vector<matrix<double>> xs = inputs;
    for (std::size_t k = 0; k < xs.size(); ++k) {
        const std::size_t cols = xs[k].shape()[1];
        for (std::size_t e = 0; e < xs[k].size(); ++e) {
            const double x0 = xs[k].data()[e];
            xs[k].data()[e] = x0 + options.eps;
            const double up = h.loss(xs);
            xs[k].data()[e] = x0 - options.eps;
            const double down = h.loss(xs);
            xs[k].data()[e] = x0;
            consider(r, options, grads[k].data()[e], (up - down) / (2 * options.eps), k, e / cols, e % cols);
        }
    }
    finish(r, options, h.ops, "elementwise");
    return r;
}

gradcheck_result gradcheck_directions(const gradcheck_function& f, const std::vector<matrix<double>>& inputs,
                                      const gradcheck_options& options) {
    check_inputs(inputs, "gradcheck_directions");
    if (options.directions < 1) {
        throw argument_error(
            fmt::format("gradcheck_directions: options.directions is {}: at least one direction is needed",
                        options.directions));
    }
    harness h(f, options);
    const auto grads = h.analytic(inputs);
    gradcheck_result r;
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    for (int d = 0; d < options.directions; ++d) {
        std::vector<matrix<double>> dir, plus = inputs, minus = inputs;
        double a = 0;
        for (std::size_t k = 0; k < inputs.size(); ++k) {
            matrix<double> v(shape_of(inputs[k]));
            for (auto& x : v) x = u(h.rng);
            for (std::size_t e = 0; e < v.size(); ++e) {
                a += grads[k].data()[e] * v.data()[e];
                plus[k].data()[e] += options.eps * v.data()[e];
                minus[k].data()[e] -= options.eps * v.data()[e];
            }
        }
        const double n = (h.loss(plus) - h.loss(minus)) / (2 * options.eps);
        consider(r, options, a, n, static_cast<std::size_t>(d), 0, 0);
    }
    finish(r, options, h.ops, "random directions; 'input' is the direction index");
    return r;
}

}  // namespace xgrad
