/// @file ops/embedding.hpp
/// @brief Learned feature vectors for discrete symbols (lecture 4: words, people, relations).
///
/// A table E [d×V] holds one column of d features per symbol; a [1×m] row of ids picks m columns, so the
/// output [d×m] has one example per column, ready for a dense layer. It is the product E·onehot(ids) without
/// building the one-hot matrix: backward adds each column of dY into the column of dE it was read from, so a
/// symbol that occurs several times in the batch receives the sum of its gradients.
#pragma once

#include <source_location>

#include "xgrad/fwd.hpp"

namespace xgrad {

/// Y = E[:, ids] : [d×V], [1×m] → [d×m], Y[:, j] = E[:, idⱼ] (= E·onehot(ids)).
/// Backward: dE[:, k] = Σ_{j : idⱼ = k} dY[:, j] (scatter-add); the ids get no gradient.
/// Every id must be an integer in [0, V); otherwise shape_error names the op, the id, its position, V and
/// the caller's file:line, before anything is written.
template <class T>
var<T> embedding(const var<T>& table, const var<T>& ids,
                 std::source_location loc = std::source_location::current());

}  // namespace xgrad
