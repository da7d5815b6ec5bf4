// Counts every operator new and malloc in the process, so the benchmark can report allocations per step.
#include <atomic>
#include <cstdlib>
#include <new>

#include "bench.hpp"

namespace {
std::atomic<std::uint64_t> g_count{0};
}

extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);

extern "C" void* malloc(std::size_t n) {
    g_count.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t a, std::size_t b) {
    g_count.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(a, b);
}
extern "C" void* realloc(void* p, std::size_t n) {
    g_count.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}

// operator new goes through malloc above (libstdc++'s default does), so it is counted once.

std::uint64_t bench::allocations() {
    return g_count.load(std::memory_order_relaxed);
}
