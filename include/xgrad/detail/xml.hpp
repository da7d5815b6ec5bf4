/// @file detail/xml.hpp
/// @brief The one escaper for XML text: Graphviz HTML-like labels (dot.cpp) and every SVG picture use it.
#pragma once

#include <string>
#include <string_view>

namespace xgrad::detail {

/// Text made safe inside an SVG (XML) element or a double-quoted attribute: & < > " ' become entities, and
/// control characters that XML 1.0 forbids (all below U+0020 but tab, newline and carriage return) become
/// U+FFFD, so any file name or title gives a valid document.
inline std::string xml_escape(std::string_view text) {
    std::string r;
    r.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                r += "&amp;";
                break;
            case '<':
                r += "&lt;";
                break;
            case '>':
                r += "&gt;";
                break;
            case '"':
                r += "&quot;";
                break;
            case '\'':
                r += "&apos;";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                    r += "\xEF\xBF\xBD";  // U+FFFD
                } else {
                    r += c;
                }
        }
    }
    return r;
}

}  // namespace xgrad::detail
