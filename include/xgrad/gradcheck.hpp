/// @file gradcheck.hpp
/// @brief Checks backward rules against central differences, in double precision.
///
///   auto r = xgrad::gradcheck([](auto x) { return xgrad::sigmoid(x[0]); }, {xgrad::matrix<double>({3, 4},
///   0.5)}); REQUIRE(r.ok);   // r.report names the ops, the input, the worst element and both values
///
/// A non-scalar output Y is projected to the scalar L = Σ R ⊙ Y with a fixed random R (seeded), so every
/// output element takes part; backward is seeded with R. Every input is a variable of its own graph.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "xgrad/config.hpp"
#include "xgrad/fwd.hpp"

namespace xgrad {

struct gradcheck_options {
    double eps = 1e-6;   ///< central-difference step h: (L(x + h) − L(x − h)) / 2h
    double rtol = 1e-5;  ///< pass when |analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|)
    double atol = 1e-8;
    std::uint64_t seed = 1;  ///< for the projection R and the random directions
    int directions = 4;      ///< number of random directions (gradcheck_directions)
};

struct gradcheck_result {
    bool ok = true;
    std::string report;      ///< one paragraph: ops on the tape, worst element, values, tolerance, seed
    std::string ops;         ///< the ops the function recorded, in tape order ("matmul, add_bias, sigmoid")
    double worst_ratio = 0;  ///< max of |a − n| / (atol + rtol·max(|a|, |n|)); ≤ 1 passes
    std::size_t input = 0, row = 0, col = 0;  ///< where the worst ratio occurred
    double analytic = 0, numeric = 0;         ///< the two values there
    std::size_t checked = 0;                  ///< how many comparisons were made
    explicit operator bool() const noexcept { return ok; }
};

/// The function under test: receives one variable per input (all on one fresh graph<double>) and returns
/// the output tensor. Constants it needs can be made with x[0].owner().constant(…).
using gradcheck_function = std::function<var<double>(std::span<const var<double>>)>;

/// Compares backward's gradient with central differences for every element of every input. Throws
/// argument_error when there is nothing to compare (no inputs, an input or the output without elements): a
/// check of nothing does not pass.
gradcheck_result gradcheck(const gradcheck_function& f, const std::vector<matrix<double>>& inputs,
                           const gradcheck_options& options = {});

/// Cheap check for large tensors: for `options.directions` random directions v (all inputs at once),
/// compares Σₖ⟨∇ₖL, vₖ⟩ with (L(x + h·v) − L(x − h·v)) / 2h — two evaluations per direction. Throws
/// argument_error like gradcheck, and for fewer than one direction.
gradcheck_result gradcheck_directions(const gradcheck_function& f, const std::vector<matrix<double>>& inputs,
                                      const gradcheck_options& options = {});

}  // namespace xgrad
