/// @file xgrad.hpp
/// @brief Umbrella header: includes the whole public API and nothing else.
#pragma once

#include "xgrad/blas.hpp"
#include "xgrad/broadcast.hpp"
#include "xgrad/config.hpp"
#include "xgrad/error.hpp"
#include "xgrad/gradcheck.hpp"
#include "xgrad/graph.hpp"
#include "xgrad/op.hpp"
#include "xgrad/ops/activation.hpp"
#include "xgrad/ops/elementwise.hpp"
#include "xgrad/ops/linalg.hpp"
#include "xgrad/ops/loss.hpp"
#include "xgrad/ops/reduction.hpp"
#include "xgrad/ops/softmax.hpp"
#include "xgrad/unary_op.hpp"
#include "xgrad/var.hpp"
