/// @file app/arguments.hpp
/// @brief What the xgrad command needs to read its command line strictly and to print what it read: the
/// one parser for every numeric flag, the two kinds of failure (usage: exit 2; runtime: exit 1), and an
/// escaper that makes any file content or path safe to print.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace xgrad::app {

/// Exit status of the xgrad command: 0 success; 1 the command line was understood but the run failed (a
/// file's contents are malformed or unsuitable, memory or disk ran out, a write failed, training diverged);
/// 2 the command line cannot be acted on (an unknown flag or subcommand, a malformed or out-of-range
/// value, a named file or directory that does not exist, a model too large for the machine).
enum exit_status : int { exit_ok = 0, exit_failure = 1, exit_usage = 2 };

/// A usage problem: printed with the hint to run --help, exit status 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// `text` made safe to print on one line: valid UTF-8 is kept, while control characters (NUL, newline,
/// escape, DEL, …) and bytes that are not UTF-8 become \xNN, so a message never ends at a NUL byte, never
/// spans lines and never moves the terminal's cursor. At most `max_bytes` bytes of `text` are shown (then
/// "… (N bytes)").
std::string printable(std::string_view text, std::size_t max_bytes = 200);

/// A whole number from `text`: an optional sign (+ or −, one of them) and decimal digits, nothing else (no
/// blanks, no 0x, no exponent). Throws usage_error naming `flag` for anything else or a value outside
/// [lo, hi] (saying the range).
long long parse_integer(std::string_view flag, std::string_view text, long long lo, long long hi);

/// A whole number in [0, 2^64 − 1] from `text` (decimal digits, an optional +). Throws usage_error naming
/// `flag` for a sign −, anything that is not a number, and a value ≥ 2^64.
std::uint64_t parse_unsigned64(std::string_view flag, std::string_view text);

/// A decimal real number from `text`: [+|−] digits [. digits] [e [+|−] digits] (at least one digit before
/// the exponent). No blanks, hex, "inf" or "nan". Throws usage_error naming `flag` otherwise, and for a
/// value whose magnitude is beyond a double.
double parse_real(std::string_view flag, std::string_view text);

/// `bytes` as "512 bytes", "3.4 MiB", "16.0 TiB".
std::string format_bytes(double bytes);

}  // namespace xgrad::app
