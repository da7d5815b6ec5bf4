// swish_check.cpp — the user's own test of their op: gradcheck (double), float against double, the
// backward trace showing the op's rule like a built-in's, and check_op comparing the rule with the
// gradients the op delivers. Exit status 0 when everything holds.
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include <xgrad/xgrad.hpp>

#include "swish.hpp"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    std::printf("%s  %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) ++failures;
}

template <class T>
xgrad::matrix<T> random_matrix(std::size_t r, std::size_t c, double lo, double hi, unsigned seed) {
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<double> u(lo, hi);
    xgrad::matrix<T> m({r, c});
    for (auto& v : m) v = static_cast<T>(u(g));
    return m;
}

/// The op's rule with the tensors' names filled in, as traces print it: "dA = dH ⊙ (H + σ(A)(1 − H))".
std::string rule_of(const xgrad::graph<double>& g, std::uint32_t id) {
    std::string r;
    for (const auto& clause : xgrad::tensor_names<double>(g).clauses(id))
        r += (r.empty() ? "" : "; ") + clause.text;
    return r;
}

}  // namespace

int main() {
    // 1. Backward against central differences, in double, over swish's whole range (both signs, large |x|).
    for (double range : {4.0, 40.0}) {
        auto r = xgrad::gradcheck([](auto x) { return swish(x[0]); },
                                  {random_matrix<double>(5, 7, -range, range, 1)});
        check(r.ok && r.ops == "swish",
              "gradcheck swish on ±" + std::to_string(int(range)) + ": " + r.report);
    }
    // Composed with built-ins: a layer A = W·X + b, H = swish(A), loss = mean(H²).
    auto r = xgrad::gradcheck(
        [](auto x) {
            return xgrad::mean(xgrad::square(swish(xgrad::add_bias(xgrad::matmul(x[0], x[1]), x[2]))));
        },
        {random_matrix<double>(3, 4, -1, 1, 2), random_matrix<double>(4, 6, -2, 2, 3),
         random_matrix<double>(3, 1, -1, 1, 4)});
    check(r.ok, "gradcheck matmul → add_bias → swish → square → mean: " + r.ops);

    // 2. The same op in float agrees with double.
    const auto x64 = random_matrix<double>(8, 16, -6, 6, 5);
    xgrad::graph<double> gd;
    xgrad::graph<float> gf;
    auto xd = gd.variable(x64, "X");
    auto xf = gf.variable(xgrad::matrix<float>(x64), "X");
    gd.backward(xgrad::sum(swish(xd)));
    gf.backward(xgrad::sum(swish(xf)));
    double worst = 0;
    for (std::size_t k = 0; k < x64.size(); ++k)
        worst = std::max(worst, std::abs(double(xf.grad().data()[k]) - xd.grad().data()[k]));
    char worst_text[32];
    std::snprintf(worst_text, sizeof worst_text, "%.2g", worst);
    check(worst < 1e-5, std::string("float gradient within 1e-5 of double (worst ") + worst_text + ")");

    // 3. The backward trace: the user's op shows its name and rule like a built-in.
    xgrad::graph<double> g;
    auto A = g.variable(random_matrix<double>(2, 3, -1, 1, 6), "A");
    auto H = swish(A).named("H");
    auto C = xgrad::mean(H).named("C");
    std::string trace;
    g.set_backward_observer([&](const xgrad::graph<double>& t, std::uint32_t id) {
        const auto info = t.info(id);
        std::printf("  backward %-6s %s\n", std::string(info.op).c_str(), rule_of(t, id).c_str());
        if (info.op == "swish") trace = rule_of(t, id);
    });
    g.backward(C);
    check(trace == "dA = dH ⊙ (H + σ(A)(1 − H))", "trace prints swish's rule: " + trace);

    // 4. Under no_grad the op records a constant and saves nothing.
    {
        xgrad::no_grad off;
        auto y = swish(A);
        check(!y.requires_grad() &&
                  std::abs(y.value()(0, 0) - A.value()(0, 0) / (1 + std::exp(-A.value()(0, 0)))) < 1e-15,
              "no_grad: value only");
    }

    // 5. The rule agrees with the op: check_op runs backward on an example and compares the inputs that got a
    //    gradient with the rule's clauses, then gradchecks the example — the check every built-in op passes.
    const xgrad::op_entry entry{
        .rule = &swish_op<double>::rule, .family = "downstream", .example = [](xgrad::example_inputs& in) {
            return swish(in.variable(3, 5, -4.0, 4.0));
        }};
    const auto checked = xgrad::check_op(entry);
    check(checked.ok, "check_op: " + checked.report);

    std::printf("%s\n", failures == 0 ? "swish_check: all passed" : "swish_check: FAILED");
    return failures == 0 ? 0 : 1;
}
