// Slide figures beside the graph's: a figure as the slide prints it, the value the graph computes, and a
// verdict. Slide figures are quoted text; every number on the right is computed by the caller.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace lecture {

enum class verdict {
    agrees,     ///< the computed value rounds to the slide's figure
    truncated,  ///< it agrees only when cut off after the slide's last digit (rounding gives another)
    differs     ///< neither
};

/// One checked figure.
struct figure {
    std::string what;     ///< what the slide computes, e.g. "neuron 1: σ(0.52)"
    std::string slide;    ///< the slide's figure as printed, e.g. "0.62"
    double computed = 0;  ///< what the graph computes
    verdict v = verdict::agrees;
    std::string note;  ///< why they differ (empty when they agree)
};

/// Digits after the decimal point of a figure as printed: "0.00037" → 5, "423.5" → 1, "2" → 0.
inline int decimals(std::string_view s) {
    const auto dot = s.find('.');
    return dot == std::string_view::npos ? 0 : static_cast<int>(s.size() - dot - 1);
}

inline double round_to(double x, int d) {
    const double f = std::pow(10.0, d);
    return std::round(x * f) / f;
}

inline double truncate_to(double x, int d) {
    const double f = std::pow(10.0, d);
    return std::trunc(x * f) / f;
}

inline verdict judge(std::string_view slide, double computed) {
    const double s = std::stod(std::string(slide));
    const int d = decimals(slide);
    const double tol = 1e-9 * std::pow(10.0, -d);
    if (std::abs(round_to(computed, d) - s) <= tol) return verdict::agrees;
    if (std::abs(truncate_to(computed, d) - s) <= tol) return verdict::truncated;
    return verdict::differs;
}

/// A figure with its verdict; `note` explains a disagreement (kept only when there is one).
inline figure check(std::string what, std::string slide, double computed, std::string note = {}) {
    figure f{std::move(what), std::move(slide), computed, verdict::agrees, {}};
    f.v = judge(f.slide, computed);
    if (f.v != verdict::agrees) f.note = std::move(note);
    return f;
}

/// The computed value with two more decimals than the slide prints (at least 4 significant digits).
inline std::string shown(const figure& f) {
    const int d = decimals(f.slide) + 2;
    std::string s = fmt::format("{:.{}f}", f.computed, d);
    if (std::abs(f.computed) < 0.01 && f.computed != 0) s = fmt::format("{:.4g}", f.computed);
    return s;
}

inline std::string verdict_text(const figure& f) {
    const int d = decimals(f.slide);
    switch (f.v) {
        case verdict::agrees:
            return "agrees";
        case verdict::truncated:
            return fmt::format("agrees only if cut off; rounds to {:.{}f}", round_to(f.computed, d), d);
        case verdict::differs:
            return fmt::format("DIFFERS (rounds to {:.{}f})", round_to(f.computed, d), d);
    }
    return "?";
}

/// Number of UTF-8 code points (for aligning columns that contain σ, Σ, ·).
inline std::size_t width(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

inline std::string padded(const std::string& s, std::size_t w) {
    const std::size_t n = width(s);
    return n >= w ? s + " " : s + std::string(w - n, ' ');
}

/// A table: what, the slide says, the graph computes, verdict; notes under the rows that disagree.
inline void print_figures(std::FILE* out, const std::vector<figure>& figs) {
    fmt::print(out, "  {}{}{}{}\n", padded("", 46), padded("the slide says", 16),
               padded("the graph computes", 20), "verdict");
    for (const auto& f : figs) {
        fmt::print(out, "  {}{}{}{}\n", padded(f.what, 46), padded(f.slide, 16), padded(shown(f), 20),
                   verdict_text(f));
        if (!f.note.empty()) fmt::print(out, "      ↳ {}\n", f.note);
    }
}

/// Number of figures with each verdict, for the summary lines.
inline std::size_t count(const std::vector<figure>& figs, verdict v) {
    std::size_t n = 0;
    for (const auto& f : figs) n += f.v == v;
    return n;
}

}  // namespace lecture
