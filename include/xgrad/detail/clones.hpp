/// @file detail/clones.hpp
/// @brief XGRAD_AVX2_CLONE: a function with an AVX2 copy beside the baseline x86-64 one, chosen when the
/// library is loaded (GCC's target_clones). For loops bound by division and square root, where AVX2 does
/// twice the lanes per instruction; "avx2" brings no FMA, so both copies round alike, bit for bit.
#pragma once

// GCC only: clang 16 has no target_clones on function templates. Not under ThreadSanitizer: the clones'
// resolver runs while the dynamic loader relocates, before TSan's runtime is set up: built with
// -fsanitize=thread, it crashed every program at start-up, before main.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_THREAD__)
#define XGRAD_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define XGRAD_AVX2_CLONE
#endif
