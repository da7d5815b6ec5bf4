// Shared by the tests of tests/reliability/: running a bad input, checking what it gets, and recording it as
// a row of the table in docs/reliability.md.
//
// expect_error<E>(id, input, f, {pieces}) runs f, which must throw E (anything else, or nothing, fails the
// test), checks that the message contains every piece, and — when the environment variable
// XGRAD_RELIABILITY_ROWS names a file — appends one row "id \t input \t E \t message \t test case" to it.
// tests/reliability/table.sh turns those rows into the table (and checks that the document holds it).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <typeinfo>

#include "support.hpp"

namespace xgrad::reliability {

namespace fs = std::filesystem;

/// A fresh directory, removed with its contents at the end of the test. Messages show it as "$TMP".
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::random_device rd;
        path = fs::temp_directory_path() /
               ("xgrad-reliability-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        fs::create_directories(path);
        current() = path.string();
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
        current().clear();
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::string operator/(std::string_view name) const { return (path / name).string(); }
    /// The directory that "$TMP" stands for in recorded messages.
    static std::string& current() {
        static std::string dir;
        return dir;
    }
};

/// The message with the test's temporary directory written as "$TMP" and a checkpoint's temporary file
/// "<path>.tmp-<pid>" with "<pid>" (stable across runs).
inline std::string normalized(std::string message) {
    const std::string& dir = temp_dir::current();
    if (!dir.empty()) {
        for (std::size_t at; (at = message.find(dir)) != std::string::npos;)
            message.replace(at, dir.size(), "$TMP");
    }
    return std::regex_replace(message, std::regex(R"(\.tmp-[0-9]+)"), ".tmp-<pid>");
}

template <class E>
std::string_view error_name() {
    if constexpr (std::is_same_v<E, xgrad::shape_error>) return "shape_error";
    if constexpr (std::is_same_v<E, xgrad::graph_error>) return "graph_error";
    if constexpr (std::is_same_v<E, xgrad::argument_error>) return "argument_error";
    if constexpr (std::is_same_v<E, xgrad::numeric_error>) return "numeric_error";
    if constexpr (std::is_same_v<E, xgrad::op_contract_error>) return "op_contract_error";
    if constexpr (std::is_same_v<E, xgrad::data_error>) return "data_error";
    if constexpr (std::is_same_v<E, xgrad::checkpoint_error>) return "checkpoint_error";
    return "error";
}

/// Tabs and newlines would break a row: shown as spaces and "⏎".
inline std::string one_line(std::string s) {
    std::string out;
    for (char c : s) {
        if (c == '\n')
            out += " ⏎ ";
        else if (c == '\t')
            out += ' ';
        else
            out += c;
    }
    return out;
}

inline void record(std::string_view id, std::string_view input, std::string_view error,
                   const std::string& message) {
    const char* file = std::getenv("XGRAD_RELIABILITY_ROWS");
    if (file == nullptr || *file == '\0') return;
    std::ofstream out(file, std::ios::app);
    out << id << '\t' << one_line(std::string(input)) << '\t' << error << '\t' << one_line(message) << '\t'
        << Catch::getResultCapture().getCurrentTestName() << '\n';
}

/// Runs f, which must throw E; checks the message for every piece; records the row. Returns the message.
template <class E, class F>
std::string expect_error(std::string_view id, std::string_view input, F&& f,
                         std::initializer_list<std::string_view> pieces) {
    INFO("bad input " << id << ": " << input);
    std::string message;
    bool thrown = false;
    try {
        f();
    } catch (const E& e) {
        message = normalized(e.what());
        thrown = true;
    } catch (const std::exception& e) {
        FAIL("expected " << error_name<E>() << " but got another exception: " << e.what());
    }
    if (!thrown) FAIL("expected " << error_name<E>() << " but nothing was thrown");
    INFO("message: " << message);
    for (std::string_view piece : pieces) CHECK_THAT(message, Catch::Contains(std::string(piece)));
    record(id, input, error_name<E>(), message);
    return message;
}

/// "reliability/<file>:<line>" as messages print a call site in tests/reliability/.
inline std::string at(std::string_view file, std::uint_least32_t line) {
    return "reliability/" + std::string(file) + ":" + std::to_string(line);
}

inline void write_file(const std::string& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace xgrad::reliability
