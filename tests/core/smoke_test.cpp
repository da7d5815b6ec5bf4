#include "support.hpp"

TEST_CASE("smoke: matmul + add_bias + sigmoid + sum gradchecks", "[smoke]") {
    auto r = xgrad::gradcheck(
        [](auto x) { return xgrad::sum(xgrad::sigmoid(xgrad::add_bias(xgrad::matmul(x[0], x[1]), x[2]))); },
        {xgrad::test::random_matrix(3, 4, 1), xgrad::test::random_matrix(4, 5, 2),
         xgrad::test::random_matrix(3, 1, 3)});
    INFO(r.report);
    REQUIRE(r.ok);
}
