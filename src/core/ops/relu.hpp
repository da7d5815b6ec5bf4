// Internal to the ops: relu and its derivative, defined once for relu (activation.cpp) and relu_max_pool2d
// (conv.cpp), whose tests require the two to agree bit for bit.
#pragma once

#include <algorithm>

namespace xgrad::detail {

/// relu(x) = max(x, 0), branch-free (the sign of random activations is unpredictable); max keeps NaN visible.
template <class T>
inline T relu_value(T x) {
    return std::max(x, T(0));
}

/// relu′(x) = [x > 0] as T (relu′(0) = 0); dA = dH · relu_slope(A) is relu's backward, the same product.
template <class T>
inline T relu_slope(T x) {
    return static_cast<T>(x > T(0));
}

}  // namespace xgrad::detail
