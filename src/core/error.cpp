#include "xgrad/error.hpp"

#include <fmt/format.h>

#include "xgrad/config.hpp"

namespace xgrad {

std::string to_string(const shape2& s) {
    return fmt::format("[{}×{}]", s[0], s[1]);
}

std::string format_location(const std::source_location& loc) {
    std::string_view file = loc.file_name();
    // Keep the last two path components: enough to find the file, short enough to read.
    std::size_t cut = file.size();
    for (int slashes = 0; cut > 0; --cut) {
        if (file[cut - 1] == '/' && ++slashes == 2) break;
    }
    return fmt::format("{}:{}", file.substr(cut), loc.line());
}

namespace detail {
std::string too_large(const shape2& s, std::size_t element_bytes) {
    return fmt::format("{} is too large: {}·{} elements of {} bytes do not fit in memory", to_string(s), s[0],
                       s[1], element_bytes);
}

namespace {
thread_local const std::source_location* outer_call_site = nullptr;
}

call_site_scope::call_site_scope(const std::source_location& loc) noexcept
    : m_outermost(outer_call_site == nullptr) {
    if (m_outermost) outer_call_site = &loc;
}

call_site_scope::~call_site_scope() {
    if (m_outermost) outer_call_site = nullptr;
}

const std::source_location* call_site_scope::current() noexcept {
    return outer_call_site;
}

std::string op_message(std::string_view op, std::string_view message, const std::source_location& loc) {
    const std::string at = format_location(loc);
    const std::source_location* outer = call_site_scope::current();
    if (outer != nullptr) {
        const std::string from = format_location(*outer);
        if (from != at) return fmt::format("{}: {} (called at {}, from {})", op, message, at, from);
    }
    return fmt::format("{}: {} (called at {})", op, message, at);
}
}  // namespace detail

}  // namespace xgrad
