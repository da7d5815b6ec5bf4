/// @file ops/concat.hpp
/// @brief Stacking along the feature axis (rows) and splitting it again; examples (columns) stay aligned.
///
/// concat({H₁, H₂}) puts H₁'s features above H₂'s: in the family-trees network of lecture 4 the person
/// vector and the relation vector of each example become one input column of the hidden layer. In the
/// row-major layout each input is one contiguous block of the output, so both directions are copies.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <source_location>
#include <span>
#include <vector>

#include "xgrad/fwd.hpp"

namespace xgrad {

/// Y = [X₀; X₁; …] : [p₀×m], [p₁×m], … → [(p₀ + p₁ + …)×m]; backward dXₖ = the rows of dY that Xₖ filled.
/// At least one input; all must have the same number of columns m (shape_error lists the shapes otherwise).
template <class T>
var<T> concat(std::span<const var<T>> parts, std::source_location loc = std::source_location::current());

/// concat of a braced list: concat({a, b}).
template <class T>
var<T> concat(std::initializer_list<var<T>> parts,
              std::source_location loc = std::source_location::current()) {
    return concat(std::span<const var<T>>(parts.begin(), parts.size()), loc);
}

/// concat of a vector of parts.
template <class T>
var<T> concat(const std::vector<var<T>>& parts, std::source_location loc = std::source_location::current()) {
    return concat(std::span<const var<T>>(parts.data(), parts.size()), loc);
}

/// The inverse of concat: X [(p₀ + p₁ + …)×m] → [p₀×m], [p₁×m], …, each piece an op `split` whose backward
/// writes dY into its rows of dX (and 0 elsewhere). The sizes must be positive and add up to X's rows.
template <class T>
std::vector<var<T>> split(const var<T>& x, const std::vector<std::size_t>& sizes,
                          std::source_location loc = std::source_location::current());

/// Rows [begin, begin + count) of X : [n×m] → [count×m] (one piece of split).
template <class T>
var<T> rows(const var<T>& x, std::size_t begin, std::size_t count,
            std::source_location loc = std::source_location::current());

}  // namespace xgrad
