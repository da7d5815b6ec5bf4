// A shared library for blas_test.cpp: its constructor puts the process's OpenBLAS on the generic Prescott
// core before main() — where OpenBLAS 0.3.21 puts itself on a CPU it does not know (Intel's Sapphire
// Rapids, say) — and leaves OPENBLAS_CORETYPE unset, so a program linked with it sees what a user's
// program sees on such a machine. It links OpenBLAS, so OpenBLAS's own constructor has run before this one.
#include <cstdlib>

extern "C" void gotoblas_dynamic_init();
extern "C" void gotoblas_dynamic_quit();

namespace {

__attribute__((constructor)) void openblas_on_its_generic_core() {
    if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice stays
    gotoblas_dynamic_quit();
    ::setenv("OPENBLAS_CORETYPE", "Prescott", 1);
    gotoblas_dynamic_init();
    ::unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace
