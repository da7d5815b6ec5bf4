// Helpers for the lecture tests: capture what an example prints, find strings in order.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace lecture_test {

/// What print(FILE*, r) writes, as a string.
template <class R>
std::string printed(const R& r) {
    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* f = open_memstream(&buf, &len);
    print(f, r);
    std::fclose(f);
    std::string s(buf, len);
    std::free(buf);
    return s;
}

/// Index in `parts` of the first part not found in `text` after the previous one; parts.size() when all are
/// found in order.
inline std::size_t first_missing_in_order(const std::string& text, const std::vector<std::string>& parts) {
    std::size_t at = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto p = text.find(parts[i], at);
        if (p == std::string::npos) return i;
        at = p + parts[i].size();
    }
    return parts.size();
}

}  // namespace lecture_test
