// Strict reading of the xgrad command's values, and printing of untrusted text.
#include "app/arguments.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

namespace xgrad::app {

namespace {

/// Length of the valid UTF-8 sequence at the start of `s` (2–4 bytes), or 0 if it is not one.
std::size_t utf8_sequence(std::string_view s) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    std::size_t n = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;  // no overlong forms
        if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i) {
        if (b(i) < 0x80 || b(i) > 0xBF) return 0;
    }
    return n;
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (const char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

}  // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
    std::string r;
    const std::size_t shown = std::min(text.size(), max_bytes);
    r.reserve(shown + 16);
    for (std::size_t i = 0; i < shown;) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7F) {
            r += static_cast<char>(c);
            ++i;
        } else if (const std::size_t n = c >= 0x80 ? utf8_sequence(text.substr(i)) : 0;
                   n > 0 && i + n <= shown) {
            r.append(text.substr(i, n));
            i += n;
        } else {
            r += fmt::format("\\x{:02X}", c);
            ++i;
        }
    }
    if (shown < text.size()) r += fmt::format("… ({} bytes)", text.size());
    return r;
}

long long parse_integer(std::string_view flag, std::string_view text, long long lo, long long hi) {
    std::string_view digits = text;
    bool negative = false;
    if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
        negative = digits.front() == '-';
        digits.remove_prefix(1);
    }
    if (!all_digits(digits)) {
        throw usage_error(fmt::format("{}: '{}' is not a whole number (write digits only, e.g. {})", flag,
                                      printable(text), lo));
    }
    unsigned long long magnitude = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
    const bool huge = ec == std::errc::result_out_of_range ||
                      magnitude > static_cast<unsigned long long>(std::numeric_limits<long long>::max());
    if (huge || end != digits.data() + digits.size()) {
        throw usage_error(fmt::format("{} must be {} {}, not {}", flag, negative ? "at least" : "at most",
                                      negative ? lo : hi, printable(text)));
    }
    const long long v = negative ? -static_cast<long long>(magnitude) : static_cast<long long>(magnitude);
    if (v < lo) throw usage_error(fmt::format("{} must be at least {}, not {}", flag, lo, printable(text)));
    if (v > hi) throw usage_error(fmt::format("{} must be at most {}, not {}", flag, hi, printable(text)));
    return v;
}

std::uint64_t parse_unsigned64(std::string_view flag, std::string_view text) {
    std::string_view digits = text;
    constexpr std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
    if (!digits.empty() && digits.front() == '-' && all_digits(digits.substr(1))) {
        throw usage_error(
            fmt::format("{} must be a whole number from 0 to {}, not {}", flag, top, printable(text)));
    }
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    if (!all_digits(digits)) {
        throw usage_error(fmt::format("{}: '{}' is not a whole number (write digits only, e.g. 42)", flag,
                                      printable(text)));
    }
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec == std::errc::result_out_of_range || end != digits.data() + digits.size()) {
        throw usage_error(
            fmt::format("{} must be at most {} (2^64 − 1), not {}", flag, top, printable(text)));
    }
    return v;
}

double parse_real(std::string_view flag, std::string_view text) {
    // [+|−] digits [. digits] [e [+|−] digits], with a digit before or after the point.
    std::size_t i = 0, mantissa_digits = 0;
    const auto digits = [&] {
        std::size_t n = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++n;
        return n;
    };
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    mantissa_digits += digits();
    if (i < text.size() && text[i] == '.') {
        ++i;
        mantissa_digits += digits();
    }
    bool ok = mantissa_digits > 0;
    if (ok && i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
        ok = digits() > 0;
    }
    if (!ok || i != text.size()) {
        throw usage_error(
            fmt::format("{}: '{}' is not a number (write e.g. 0.01 or 1e-3)", flag, printable(text)));
    }
    // Only a validated decimal number reaches strtod (the program never changes the C locale).
    const std::string s(text);
    errno = 0;
    const double v = std::strtod(s.c_str(), nullptr);
    if (errno == ERANGE && std::isinf(v)) {
        throw usage_error(
            fmt::format("{}: {} is beyond the range of a number (±1.8e308)", flag, printable(text)));
    }
    return v;  // an underflow gives 0 or a subnormal: the caller's range check says what it needs
}

std::string format_bytes(double bytes) {
    if (bytes < 1024) return fmt::format("{:.0f} bytes", bytes);
    const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = -1;
    while (bytes >= 1024 && u < 5) bytes /= 1024, ++u;
    return fmt::format("{:.1f} {}", bytes, units[u]);
}

}  // namespace xgrad::app
