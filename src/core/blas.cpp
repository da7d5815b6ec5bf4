#include "xgrad/blas.hpp"

#include <cblas.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>
#include <vector>

namespace xgrad {

namespace {
inline CBLAS_TRANSPOSE flag(bool t) {
    return t ? CblasTrans : CblasNoTrans;
}
}  // namespace

template <>
void gemm<float>(bool ta, bool tb, float alpha, const matrix<float>& a, const matrix<float>& b, float beta,
                 matrix<float>& c) {
    const auto m = static_cast<blasint>(c.shape()[0]);
    const auto n = static_cast<blasint>(c.shape()[1]);
    const auto k = static_cast<blasint>(ta ? a.shape()[0] : a.shape()[1]);
    if (m == 0 || n == 0) return;
    if (k == 0) {  // empty inner dimension: op(A)·op(B) is all zeros (BLAS rejects lda = 0)
        if (beta == 0) {
            c.fill(0);
        } else {
            c *= beta;
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, flag(ta), flag(tb), m, n, k, alpha, a.data(),
                static_cast<blasint>(a.shape()[1]), b.data(), static_cast<blasint>(b.shape()[1]), beta,
                c.data(), n);
}

template <>
void gemm<double>(bool ta, bool tb, double alpha, const matrix<double>& a, const matrix<double>& b,
                  double beta, matrix<double>& c) {
    const auto m = static_cast<blasint>(c.shape()[0]);
    const auto n = static_cast<blasint>(c.shape()[1]);
    const auto k = static_cast<blasint>(ta ? a.shape()[0] : a.shape()[1]);
    if (m == 0 || n == 0) return;
    if (k == 0) {  // empty inner dimension: op(A)·op(B) is all zeros (BLAS rejects lda = 0)
        if (beta == 0) {
            c.fill(0);
        } else {
            c *= beta;
        }
        return;
    }
    cblas_dgemm(CblasRowMajor, flag(ta), flag(tb), m, n, k, alpha, a.data(),
                static_cast<blasint>(a.shape()[1]), b.data(), static_cast<blasint>(b.shape()[1]), beta,
                c.data(), n);
}

void set_num_threads(int n) {
    openblas_set_num_threads(n < 1 ? 1 : n);
}
int num_threads() {
    return openblas_get_num_threads();
}
std::string blas_core() {
    return openblas_get_corename();
}

std::string better_blas_core() {
    if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return {};
    const std::string_view core = openblas_get_corename();
    // Generic fallbacks OpenBLAS uses for x86-64 CPUs it cannot identify.
    if (core != "Prescott" && core != "Core2" && core != "Penryn" && core != "Nehalem" &&
        core != "Dunnington" && core != "Atom" && core != "Barcelona") {
        return {};
    }
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
        return "SkylakeX";
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return {};
}

void run_with_better_blas_core(int argc, char** argv) {
    const std::string core = better_blas_core();
    if (core.empty() || std::getenv("XGRAD_BLAS_REEXEC") != nullptr) return;
    ::setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
    ::setenv("XGRAD_BLAS_REEXEC", "1", 1);  // never loop, even if OpenBLAS ignores the variable
    std::vector<char*> args(argv, argv + argc);
    args.push_back(nullptr);
    ::execv("/proc/self/exe", args.data());
    ::unsetenv("OPENBLAS_CORETYPE");  // execv failed: carry on with the kernels we have
}

}  // namespace xgrad
