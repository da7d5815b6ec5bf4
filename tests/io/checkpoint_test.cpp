// Checkpoints (.npz): round trips, parameters, error messages, crafted and damaged archives, atomic saves
// (failing writes, SIGKILL mid-save) and interoperability with numpy when /usr/bin/python3 has it.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <xgrad/io/checkpoint.hpp>

#include "io/child.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using xgrad::checkpoint_error;
using xgrad::matrix;
using xgrad::parameter;

/// A fresh directory under the system temp dir, removed with everything in it at the end of the test.
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::random_device rd;
        path = fs::temp_directory_path() /
               ("xgrad-checkpoint-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Replaces the file (unlink first: on ext4, truncating and rewriting a file forces a flush on close, which
/// would make the loops over thousands of damaged archives slow).
void write_bytes(const std::string& path, const std::string& bytes) {
    ::unlink(path.c_str());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

/// Runs f, which must throw checkpoint_error (any other exception fails the test); returns what().
template <class F>
std::string checkpoint_error_of(F&& f) {
    try {
        f();
    } catch (const checkpoint_error& e) {
        return e.what();
    }
    FAIL("expected checkpoint_error, but nothing was thrown");
    return {};
}

template <class T>
bool bit_identical(const matrix<T>& a, const matrix<T>& b) {
    // (memcmp of an empty matrix's null data pointer would be undefined behaviour, even for 0 bytes: UBSan)
    return a.shape() == b.shape() &&
           (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <class T>
using named = std::vector<std::pair<std::string, matrix<T>>>;

template <class T>
std::vector<std::pair<std::string, const matrix<T>*>> refs(const named<T>& ts) {
    std::vector<std::pair<std::string, const matrix<T>*>> out;
    for (const auto& [name, m] : ts) out.emplace_back(name, &m);
    return out;
}

/// (rows·cols + j)/8 style values: exactly representable in float and double, easy to recompute in numpy.
template <class T>
matrix<T> ramp(std::size_t r, std::size_t c, double scale = 0.125, double offset = 0) {
    matrix<T> m({r, c});
    for (std::size_t i = 0; i < r; ++i)
        for (std::size_t j = 0; j < c; ++j) m(i, j) = static_cast<T>(offset + scale * double(i * c + j));
    return m;
}

// ---- a tiny independent ZIP/NPY writer, for crafted archives ----

std::uint32_t crc32_ref(const std::string& s) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t n = 0; n < 256; ++n) {
            std::uint32_t c = n;
            for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : s) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

std::string le16(std::uint32_t v) {
    return {char(v & 0xFF), char((v >> 8) & 0xFF)};
}
std::string le32(std::uint32_t v) {
    return le16(v & 0xFFFF) + le16(v >> 16);
}

template <class S>
std::string raw(const std::vector<S>& values) {
    return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(S));
}

/// An .npy stream with the given header dict (padded to 64 bytes) and raw data.
std::string npy(const std::string& dict, const std::string& data, int major = 1) {
    const std::size_t prefix = major == 1 ? 10 : 12;
    std::string h = dict;
    while ((prefix + h.size() + 1) % 64 != 0) h.push_back(' ');
    h.push_back('\n');
    std::string out("\x93NUMPY", 6);
    out.push_back(char(major));
    out.push_back('\0');
    out += major == 1 ? le16(std::uint32_t(h.size())) : le32(std::uint32_t(h.size()));
    return out + h + data;
}

std::string npy_dict(const std::string& descr, const std::string& shape, bool fortran = false) {
    return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
           ", 'shape': " + shape + ", }";
}

/// A valid deflate stream made of stored blocks (BTYPE 00), so method 8 is testable without a compressor.
std::string deflate_stored(const std::string& data) {
    std::string out;
    std::size_t pos = 0;
    do {
        const std::size_t n = std::min<std::size_t>(data.size() - pos, 65535);
        const bool last = pos + n == data.size();
        out.push_back(char(last ? 1 : 0));
        out += le16(std::uint32_t(n)) + le16(std::uint32_t(~n & 0xFFFF));
        out += data.substr(pos, n);
        pos += n;
    } while (pos < data.size());
    return out;
}

/// A raw deflate stream of `data` made by zlib (compresses, unlike deflate_stored).
std::string deflate_zlib(const std::string& data) {
    z_stream z{};
    REQUIRE(::deflateInit2(&z, 1, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(::deflateBound(&z, static_cast<uLong>(data.size())), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(::deflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(z.total_out);
    ::deflateEnd(&z);
    return out;
}

struct zip_item {
    std::string name;
    std::string content;
    bool deflate = false;
    bool compress = false;  ///< with deflate: real compression by zlib instead of stored blocks
};

std::string make_zip(const std::vector<zip_item>& items) {
    std::string body, central;
    for (const auto& it : items) {
        const std::string data =
            it.deflate ? (it.compress ? deflate_zlib(it.content) : deflate_stored(it.content)) : it.content;
        const std::uint32_t method = it.deflate ? 8 : 0;
        const std::string common = le16(20) + le16(0) + le16(method) + le16(0) + le16(0x21) +
                                   le32(crc32_ref(it.content)) + le32(std::uint32_t(data.size())) +
                                   le32(std::uint32_t(it.content.size())) +
                                   le16(std::uint32_t(it.name.size()));
        central += le32(0x02014b50) + le16(20) + common + le16(0) + le16(0) + le16(0) + le16(0) + le32(0) +
                   le32(std::uint32_t(body.size())) + it.name;
        body += le32(0x04034b50) + common + le16(0) + it.name + data;
    }
    const std::string end = le32(0x06054b50) + le16(0) + le16(0) + le16(std::uint32_t(items.size())) +
                            le16(std::uint32_t(items.size())) + le32(std::uint32_t(central.size())) +
                            le32(std::uint32_t(body.size())) + le16(0);
    return body + central + end;
}

bool numpy_available() {
    return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

/// Runs /usr/bin/python3 on `script` with arguments; true when it exits with status 0.
bool run_python(const temp_dir& dir, const std::string& script, const std::string& args) {
    const std::string file = dir / "script.py";
    write_bytes(file, script);
    const int status = std::system(("/usr/bin/python3 '" + file + "' " + args).c_str());
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

TEMPLATE_TEST_CASE("checkpoint: save then load is bit-identical", "[checkpoint]", float, double) {
    using T = TestType;
    temp_dir dir;
    const std::string path = dir / "model.npz";

    matrix<T> special({2, 3});
    special(0, 0) = std::numeric_limits<T>::quiet_NaN();
    special(0, 1) = std::numeric_limits<T>::infinity();
    special(0, 2) = -std::numeric_limits<T>::infinity();
    special(1, 0) = T(-0.0);
    special(1, 1) = std::numeric_limits<T>::denorm_min();
    special(1, 2) = std::numeric_limits<T>::max();
    const named<T> tensors = {
        {"0.weight", xgrad::test::random_matrix<T>(64, 33, 1)},
        {"0.bias", xgrad::test::random_matrix<T>(64, 1, 2)},
        {"scalar", xgrad::test::random_matrix<T>(1, 1, 3)},
        {"row", xgrad::test::random_matrix<T>(1, 17, 4)},
        {"layers/1/W", xgrad::test::random_matrix<T>(3, 4, 5)},
        {"größe", xgrad::test::random_matrix<T>(2, 2, 6)},
        {"empty", matrix<T>({0, 5})},
        {"special", special},
    };
    xgrad::save_npz<T>(path, refs(tensors));
    const auto loaded = xgrad::load_npz<T>(path);

    REQUIRE(loaded.size() == tensors.size());
    for (std::size_t k = 0; k < tensors.size(); ++k) {
        INFO("entry " << tensors[k].first);
        CHECK(loaded[k].first == tensors[k].first);
        CHECK(bit_identical(loaded[k].second, tensors[k].second));
    }
    for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path()))  // no temporary file left
        CHECK_THAT(entry.path().filename().string(), !Contains(".tmp-"));

    // Saving again over the existing file replaces it.
    const named<T> other = {{"only", xgrad::test::random_matrix<T>(5, 6, 7)}};
    xgrad::save_npz<T>(path, refs(other));
    const auto again = xgrad::load_npz<T>(path);
    REQUIRE(again.size() == 1);
    CHECK(again[0].first == "only");
    CHECK(bit_identical(again[0].second, other[0].second));
}

TEST_CASE("checkpoint: entries are NPY 1.0 with the data 64-byte aligned in the .npy stream",
          "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "a.npz";
    const matrix<float> m = ramp<float>(3, 4);
    xgrad::save_npz<float>(path, {{"w", &m}});
    const std::string bytes = read_bytes(path);

    const std::size_t at = bytes.find(std::string("\x93NUMPY", 6));
    REQUIRE(at != std::string::npos);
    CHECK(bytes[at + 6] == 1);
    CHECK(bytes[at + 7] == 0);
    const std::size_t header_len =
        static_cast<unsigned char>(bytes[at + 8]) | (static_cast<unsigned char>(bytes[at + 9]) << 8);
    CHECK((10 + header_len) % 64 == 0);
    const std::string header = bytes.substr(at + 10, header_len);
    CHECK_THAT(header, Contains("'descr': '<f4'") && Contains("'fortran_order': False") &&
                           Contains("'shape': (3, 4)"));
    CHECK(header.back() == '\n');
    CHECK(std::memcmp(bytes.data() + at + 10 + header_len, m.data(), 12 * sizeof(float)) == 0);
    CHECK(bytes.compare(30, 5, "w.npy") == 0);  // the entry name in the first local header
}

TEST_CASE("checkpoint: an empty list round-trips", "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "empty.npz";
    xgrad::save_npz<double>(path, {});
    CHECK(xgrad::load_npz<double>(path).empty());
}

TEST_CASE("checkpoint: float64 files load into float and float32 files into double", "[checkpoint]") {
    temp_dir dir;
    const matrix<double> d = ramp<double>(3, 5, 1.0 / 3);
    const matrix<float> f = ramp<float>(2, 2, 0.1);
    xgrad::save_npz<double>(dir / "d.npz", {{"d", &d}});
    xgrad::save_npz<float>(dir / "f.npz", {{"f", &f}});

    const auto as_float = xgrad::load_npz<float>(dir / "d.npz");
    REQUIRE(as_float.size() == 1);
    for (std::size_t k = 0; k < d.size(); ++k)
        CHECK(as_float[0].second.data()[k] == static_cast<float>(d.data()[k]));
    const auto as_double = xgrad::load_npz<double>(dir / "f.npz");
    REQUIRE(as_double.size() == 1);
    for (std::size_t k = 0; k < f.size(); ++k)
        CHECK(as_double[0].second.data()[k] == static_cast<double>(f.data()[k]));
}

TEMPLATE_TEST_CASE("checkpoint: save_parameters then load_parameters restores the values", "[checkpoint]",
                   float, double) {
    using T = TestType;
    temp_dir dir;
    const std::string path = dir / "params.npz";
    parameter<T> W1(xgrad::test::random_matrix<T>(8, 5, 11), "W1"),
        b1(xgrad::test::random_matrix<T>(8, 1, 12), "b1");
    parameter<T> W2(xgrad::test::random_matrix<T>(1, 8, 13), "W2"),
        b2(xgrad::test::random_matrix<T>(1, 1, 14), "b2");
    xgrad::save_parameters<T>(path, {{"0.weight", &W1}, {"0.bias", &b1}, {"1.weight", &W2}, {"1.bias", &b2}});

    parameter<T> V1(matrix<T>({8, 5}, T(0))), c1(matrix<T>({8, 1}, T(0)));
    parameter<T> V2(matrix<T>({1, 8}, T(0))), c2(matrix<T>({1, 1}, T(0)));
    const T* buffer = V1.value().data();
    // Order in the list does not matter; names do.
    xgrad::load_parameters<T>(path, {{"1.bias", &c2}, {"0.weight", &V1}, {"1.weight", &V2}, {"0.bias", &c1}});
    CHECK(bit_identical(V1.value(), W1.value()));
    CHECK(bit_identical(c1.value(), b1.value()));
    CHECK(bit_identical(V2.value(), W2.value()));
    CHECK(bit_identical(c2.value(), b2.value()));
    CHECK(V1.value().data() == buffer);  // copied into the existing buffer
}

TEST_CASE("checkpoint: load_parameters names every mismatch and modifies nothing", "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "model.npz";
    parameter<float> W(ramp<float>(128, 784), "W"), b(ramp<float>(128, 1), "b");
    xgrad::save_parameters<float>(path, {{"0.weight", &W}, {"0.bias", &b}});

    const matrix<float> zeros_w({256, 784}, 0.0f), zeros_b({128, 1}, 0.0f);
    parameter<float> W_big(zeros_w), b_model(zeros_b), extra(matrix<float>({2, 2}, 0.0f));

    SECTION("wrong shape") {
        const std::string msg = checkpoint_error_of([&] {
            xgrad::load_parameters<float>(path, {{"0.weight", &W_big}, {"0.bias", &b_model}});
        });
        CHECK(msg == path + ": '0.weight' has shape [128×784] but the model expects [256×784]");
    }
    SECTION("missing") {
        const std::string msg = checkpoint_error_of([&] {
            xgrad::load_parameters<float>(path, {{"0.bias", &b_model}, {"1.weight", &extra}});
        });
        CHECK_THAT(msg, Contains(path) && Contains("'1.weight' is missing (the model expects [2×2])") &&
                            Contains("unexpected entry '0.weight' [128×784]"));
    }
    SECTION("unexpected") {
        const std::string msg = checkpoint_error_of([&] {
            xgrad::load_parameters<float>(path, {{"0.bias", &b_model}});
        });
        CHECK(msg == path + ": unexpected entry '0.weight' [128×784] (not a parameter of the model)");
    }
    SECTION("renamed") {
        const std::string msg = checkpoint_error_of([&] {
            xgrad::load_parameters<float>(path, {{"0.Weight", &W_big}, {"0.bias", &b_model}});
        });
        CHECK_THAT(msg, Contains("'0.Weight' is missing") && Contains("unexpected entry '0.weight'"));
    }
    SECTION("duplicate or null parameters") {
        CHECK_THAT(checkpoint_error_of([&] {
                       xgrad::load_parameters<float>(path, {{"0.bias", &b_model}, {"0.bias", &b_model}});
                   }),
                   Contains("'0.bias' is given twice"));
        CHECK_THAT(checkpoint_error_of([&] {
                       xgrad::load_parameters<float>(path, {{"0.bias", nullptr}});
                   }),
                   Contains("null"));
    }
    SECTION("missing file") {
        const std::string msg = checkpoint_error_of([&] {
            xgrad::load_parameters<float>(dir / "nope.npz", {{"0.bias", &b_model}});
        });
        CHECK_THAT(msg, Contains("nope.npz") && Contains("No such file or directory"));
    }
    // Nothing was modified, even the parameter whose entry matched.
    CHECK(bit_identical(W_big.value(), zeros_w));
    CHECK(bit_identical(b_model.value(), zeros_b));
}

TEST_CASE("checkpoint: save_npz rejects bad names and null tensors before writing", "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "bad.npz";
    const matrix<double> m = ramp<double>(2, 2);
    CHECK_THAT(checkpoint_error_of([&] {
                   xgrad::save_npz<double>(path, {{"", &m}});
               }),
               Contains("empty name"));
    CHECK_THAT(checkpoint_error_of([&] {
                   xgrad::save_npz<double>(path, {{"a", &m}, {"a", &m}});
               }),
               Contains("'a' appears twice"));
    CHECK_THAT(checkpoint_error_of([&] {
                   xgrad::save_npz<double>(path, {{"a", nullptr}});
               }),
               Contains("null"));
    CHECK_THAT(checkpoint_error_of([&] {
                   xgrad::save_npz<double>(path, {{std::string("a\0b", 3), &m}});
               }),
               Contains("NUL"));
    CHECK(fs::is_empty(dir.path));
}

TEST_CASE("checkpoint: load errors name the file and the problem", "[checkpoint]") {
    temp_dir dir;
    CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<float>(dir / "missing.npz"); }),
               Contains("missing.npz") && Contains("No such file or directory"));
    CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<float>(dir.path.string()); }),
               Contains("not a regular file"));
    write_bytes(dir / "text.npz", "this is not a zip archive, just some text that is long enough\n");
    CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<float>(dir / "text.npz"); }),
               Contains("text.npz") && Contains("not a zip archive"));
    write_bytes(dir / "zero.npz", "");
    CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<float>(dir / "zero.npz"); }),
               Contains("not a zip archive"));
}

TEST_CASE("checkpoint: crafted arrays of other layouts map onto matrices", "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "crafted.npz";
    const std::vector<double> six = {1, 2, 3, 4, 5, 6};
    write_bytes(path, make_zip({
                          {"c.npy", npy(npy_dict("<f8", "(2, 3)"), raw(six))},
                          {"f.npy", npy(npy_dict("<f8", "(2, 3)", true), raw(six))},
                          {"v.npy", npy(npy_dict("<f4", "(3,)"), raw(std::vector<float>{7, 8, 9}))},
                          {"s.npy", npy(npy_dict("<f8", "()"), raw(std::vector<double>{2.5}))},
                          {"v2.npy", npy(npy_dict("<f8", "(2, 3)"), raw(six), 2)},
                          {"z.npy", npy(npy_dict("<f8", "(2, 3)"), raw(six)), true},
                          {"e.npy", npy(npy_dict("<f8", "(0,)"), "")},
                          {"q.npy", npy("{\"shape\":(1,2),\"fortran_order\":False,\"descr\":\"<f8\"}",
                                        raw(six).substr(0, 16))},
                      }));
    const auto loaded = xgrad::load_npz<double>(path);
    REQUIRE(loaded.size() == 8);
    const matrix<double> c = {{1, 2, 3}, {4, 5, 6}};
    const matrix<double> f = {{1, 3, 5}, {2, 4, 6}};  // column-major data
    CHECK(loaded[0].first == "c");
    CHECK(bit_identical(loaded[0].second, c));
    CHECK(bit_identical(loaded[1].second, f));
    CHECK(bit_identical(loaded[2].second, matrix<double>{{7}, {8}, {9}}));  // 1-D → column vector
    CHECK(bit_identical(loaded[3].second, matrix<double>{{2.5}}));          // 0-D → [1×1]
    CHECK(bit_identical(loaded[4].second, c));                              // NPY 2.0
    CHECK(bit_identical(loaded[5].second, c));                              // deflate
    CHECK(loaded[6].second.shape()[0] == 0);
    CHECK(bit_identical(loaded[7].second, matrix<double>{{1, 2}}));  // key order, double quotes, no spaces
}

TEST_CASE("checkpoint: unsupported dtypes, shapes and entries are rejected by name", "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "bad.npz";
    const std::string eight(8 * 6, '\0');
    const auto error_for = [&](const std::vector<zip_item>& items) {
        write_bytes(path, make_zip(items));
        return checkpoint_error_of([&] { xgrad::load_npz<double>(path); });
    };
    CHECK(error_for({{"ok.npy", npy(npy_dict("<f8", "(1,)"), eight.substr(0, 8))},
                     {"steps.npy", npy(npy_dict("<i8", "(2, 3)"), eight)}}) ==
          path +
              ": entry 'steps': dtype '<i8' is not supported (xgrad reads little-endian float32 '<f4' and "
              "float64 '<f8')");
    CHECK_THAT(error_for({{"w.npy", npy(npy_dict(">f8", "(2, 3)"), eight)}}),
               Contains("entry 'w'") && Contains("dtype '>f8' is not supported"));
    CHECK_THAT(error_for({{"h.npy", npy(npy_dict("<f2", "(2, 3)"), eight.substr(0, 12))}}),
               Contains("dtype '<f2'"));
    CHECK_THAT(error_for({{"r.npy", npy("{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (6,), }",
                                        eight)}}),
               Contains("entry 'r'") && Contains("dtype '[('x', '<f8')]' is not supported"));
    CHECK_THAT(error_for({{"t.npy", npy(npy_dict("<f8", "(1, 2, 3)"), eight)}}),
               Contains("entry 't'") && Contains("(1, 2, 3)") && Contains("0-, 1- and 2-D"));
    CHECK_THAT(error_for({{"meta.json", "{}"}}), Contains("'meta.json' is not a .npy array"));
    CHECK_THAT(error_for({{"a.npy", npy(npy_dict("<f8", "(6,)"), eight)},
                          {"a.npy", npy(npy_dict("<f8", "(6,)"), eight)}}),
               Contains("'a.npy' appears twice"));
    CHECK_THAT(error_for({{"m.npy", "\x93NUMPz" + npy(npy_dict("<f8", "(6,)"), eight).substr(6)}}),
               Contains("entry 'm'") && Contains("bad magic"));
    std::string v9 = npy(npy_dict("<f8", "(6,)"), eight);
    v9[6] = 9;
    CHECK_THAT(error_for({{"v.npy", v9}}), Contains("unsupported .npy format version 9.0"));
    CHECK_THAT(error_for({{"s.npy", npy(npy_dict("<f8", "(7,)"), eight)}}),
               Contains("entry 's'") && Contains("shape (7,)") && Contains("48 data bytes"));
    CHECK_THAT(error_for({{"u.npy", npy(npy_dict("<f8", "(99999999999, 99999999999)"), eight)}}),
               Contains("does not match"));
    CHECK_THAT(
        error_for({{"k.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (6,), 'x': 1}", eight)}}),
        Contains("unexpected or repeated key 'x'"));
    CHECK_THAT(error_for({{"k.npy", npy("{'descr': '<f8', 'shape': (6,)}", eight)}}), Contains("required"));
}

TEST_CASE("checkpoint: a damaged CRC or damaged data is reported as corruption", "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "crc.npz";
    const matrix<double> m = ramp<double>(4, 4);
    xgrad::save_npz<double>(path, {{"w", &m}});
    const std::string good = read_bytes(path);

    SECTION("data byte flipped") {
        std::string bad = good;
        bad[good.size() - 22 - 51 - 5] ^= 0x01;  // inside the data, just before the central directory
        write_bytes(path, bad);
        CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<double>(path); }),
                   Contains(path) && Contains("entry 'w'") && Contains("CRC-32 mismatch"));
    }
    SECTION("CRC field in the central directory changed") {
        std::string bad = good;
        const std::size_t central = good.rfind(std::string("PK\x01\x02", 4));
        REQUIRE(central != std::string::npos);
        bad[central + 16] ^= 0x40;
        write_bytes(path, bad);
        CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<double>(path); }), Contains("CRC-32 mismatch"));
    }
    SECTION("deflate entry with damaged data") {
        std::string content = npy(npy_dict("<f8", "(2,)"), raw(std::vector<double>{1, 2}));
        std::string zip = make_zip({{"z.npy", content, true}});
        zip[30 + 5 + 5 + content.size() - 5] ^= 0x10;  // local header, name, block header: the data
        write_bytes(path, zip);
        CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<double>(path); }), Contains("CRC-32 mismatch"));
    }
}

TEST_CASE("checkpoint: every truncation and every flipped byte throws checkpoint_error, never crashes",
          "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "cut.npz";
    const std::vector<double> vals = {1.5, -2, 3, 4e10, 5, 6};
    const std::string stored_archive = [&] {
        const matrix<double> a = ramp<double>(3, 5), b = ramp<double>(1, 1), c = ramp<double>(2, 1);
        xgrad::save_npz<double>(path, {{"a", &a}, {"bb", &b}, {"0.c", &c}});
        return read_bytes(path);
    }();
    const std::string deflate_archive =
        make_zip({{"x.npy", npy(npy_dict("<f8", "(6,)"), raw(vals)), true},
                  {"y.npy", npy(npy_dict("<f8", "(2, 3)"), raw(vals)), true}});
    for (const std::string* archive : {&stored_archive, &deflate_archive}) {
        write_bytes(path, *archive);
        REQUIRE(xgrad::load_npz<double>(path).size() >= 2);
        int truncated_throws = 0;
        for (std::size_t cut = 0; cut < archive->size(); ++cut) {
            write_bytes(path, archive->substr(0, cut));
            try {
                xgrad::load_npz<double>(path);
            } catch (const checkpoint_error&) {
                ++truncated_throws;
            }
        }
        CHECK(truncated_throws == static_cast<int>(archive->size()));

        // Flipped bytes: most are caught (CRC, signatures, sizes); a few land in fields nobody checks (times,
        // attributes). Either way: a checkpoint_error or a successful load, nothing else.
        int flipped_throws = 0;
        for (std::size_t pos = 0; pos < archive->size(); ++pos) {
            for (unsigned char mask : {0x01, 0x80, 0xFF}) {
                std::string bad = *archive;
                bad[pos] = static_cast<char>(bad[pos] ^ mask);
                write_bytes(path, bad);
                try {
                    xgrad::load_npz<double>(path);
                } catch (const checkpoint_error&) {
                    ++flipped_throws;
                }
            }
        }
        CHECK(flipped_throws > static_cast<int>(archive->size()));
    }
}

TEST_CASE("checkpoint: a failed save leaves the previous file intact and no temporary file", "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "model.npz";
    const matrix<double> old_w = ramp<double>(10, 10), new_w = ramp<double>(200, 200, 0.5, 1);
    xgrad::save_npz<double>(path, {{"w", &old_w}});
    const std::string old_bytes = read_bytes(path);
    const auto old_file_is_intact = [&] {
        CHECK(read_bytes(path) == old_bytes);
        const auto loaded = xgrad::load_npz<double>(path);
        REQUIRE(loaded.size() == 1);
        CHECK(bit_identical(loaded[0].second, old_w));
    };

    SECTION("the temporary file cannot be created (its name would be too long)") {
        // A 250-byte file name is valid, but the writer's temporary file beside it (<name>.tmp-<pid>-<n>)
        // exceeds NAME_MAX (255 bytes), so creating it fails with ENAMETOOLONG. (Not RLIMIT_NOFILE = 0: with
        // no file descriptor left, UBSan's vptr check cannot probe memory through a pipe and reports a false
        // "invalid vptr" on the exception's what() in the ASan build.)
        const std::string long_path = dir / (std::string(246, 'm') + ".npz");
        write_bytes(long_path, old_bytes);
        const std::string msg = checkpoint_error_of([&] {
            xgrad::save_npz<double>(long_path, {{"w", &new_w}});
        });
        CHECK_THAT(msg, Contains(long_path) && Contains("creating temporary file") &&
                            Contains("File name too long"));
        CHECK(read_bytes(long_path) == old_bytes);
        old_file_is_intact();
    }
    SECTION("the disk fills up in the middle of the write") {
        // RLIMIT_FSIZE makes write() fail with EFBIG past 64 KiB (SIGXFSZ ignored meanwhile).
        rlimit saved{};
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
        const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
        rlimit small = saved;
        small.rlim_cur = 64 * 1024;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
        std::string msg;
        try {
            xgrad::save_npz<double>(path, {{"w", &new_w}});
        } catch (const checkpoint_error& e) {
            msg = e.what();
        }
        ::setrlimit(RLIMIT_FSIZE, &saved);
        ::signal(SIGXFSZ, old_handler);
        CHECK_THAT(msg, Contains(path) && Contains("writing temporary file") && Contains("File too large"));
        old_file_is_intact();
    }
    SECTION("the rename fails (the target is a directory)") {
        const std::string target = dir / "a-directory";
        fs::create_directory(target);
        const std::string msg = checkpoint_error_of([&] {
            xgrad::save_npz<double>(target, {{"w", &new_w}});
        });
        CHECK_THAT(msg, Contains("renaming") && Contains("a-directory"));
        CHECK(fs::is_directory(target));
        old_file_is_intact();
    }
    SECTION("the directory does not exist") {
        const std::string msg = checkpoint_error_of([&] {
            xgrad::save_npz<double>(dir / "no/such/dir/model.npz", {{"w", &new_w}});
        });
        CHECK_THAT(msg, Contains("no/such/dir/model.npz") && Contains("No such file or directory"));
    }
    // Only the checkpoint is left in the directory (plus what a section created on purpose).
    for (const auto& entry : fs::directory_iterator(dir.path))
        CHECK_THAT(entry.path().filename().string(), !Contains(".tmp-"));
}

// ---- SIGKILL during a save ----
// The writer's test hook XGRAD_TEST_STOP_AT=<stage> (src/checkpoint.cpp) makes a save stop its process with
// SIGSTOP at a named stage; the parent waits for that event (waitpid with WUNTRACED), looks at the files and
// kills the child exactly there. No sleep, no clock: the outcome cannot depend on the machine's speed.

/// A forked child, SIGKILLed and reaped when the test leaves the scope early (a failed REQUIRE), so that no
/// stopped process is left behind.
struct child_process {
    pid_t pid = -1;
    ~child_process() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
    /// Waits until the child stops or ends (waitpid with WUNTRACED); returns the status.
    int wait_for_stop_or_end() const {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, WUNTRACED) == pid);
        return status;
    }
    /// SIGKILLs the child and reaps it; it must die of that signal.
    void kill_and_reap() {
        REQUIRE(::kill(pid, SIGKILL) == 0);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        pid = -1;
        CHECK(WIFSIGNALED(status));
        CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    }
};

/// Forks a child that runs `save` with XGRAD_TEST_STOP_AT=`stage` (empty: unset) and exits 0 after it (3 on
/// an exception). The child never returns into the test.
template <class F>
pid_t fork_saver(const char* stage, F&& save) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (*stage != '\0') ::setenv("XGRAD_TEST_STOP_AT", stage, 1);
        try {
            save();
        } catch (...) {
            ::_exit(3);
        }
        ::_exit(0);
    }
    return pid;
}

/// Sets an environment variable for one scope (restoring the previous value).
struct scoped_env {
    std::string name;
    std::optional<std::string> old;
    scoped_env(std::string n, const char* value) : name(std::move(n)) {
        if (const char* v = std::getenv(name.c_str())) old = v;
        ::setenv(name.c_str(), value, 1);
    }
    ~scoped_env() {
        if (old)
            ::setenv(name.c_str(), old->c_str(), 1);
        else
            ::unsetenv(name.c_str());
    }
};

/// The temporary files of process `pid` beside `path` (the durable writer names them `<path>.tmp-<pid>-<n>`).
std::vector<std::string> temporaries_of(const std::string& path, pid_t pid) {
    const std::string prefix = fs::path(path).filename().string() + ".tmp-" + std::to_string(pid) + "-";
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
        if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
    return out;
}

/// Two versions of a ~2 MiB checkpoint (same names and shapes: the same archive size), told apart by
/// their values.
named<double> checkpoint_version(int v) {
    return {{"w", ramp<double>(512, 512, 1e-3, v * 1000.0)}, {"b", ramp<double>(512, 1, 1, v)}};
}

TEST_CASE("checkpoint: SIGKILL at every stage of a save leaves the previous or the new checkpoint, complete",
          "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "model.npz";
    const named<double> old_version = checkpoint_version(0), new_version = checkpoint_version(1);
    // The bytes an uninterrupted save of the new version writes (the archive does not record its path).
    xgrad::save_npz<double>(dir / "reference.npz", refs(new_version));
    const std::string new_bytes = read_bytes(dir / "reference.npz");
    const std::uintmax_t full = new_bytes.size();

    const auto holds = [&](const named<double>& version) {
        const auto loaded = xgrad::load_npz<double>(path);
        return loaded.size() == 2 && bit_identical(loaded[0].second, version[0].second) &&
               bit_identical(loaded[1].second, version[1].second);
    };

    struct stage_case {
        const char* stage;
        bool renamed;           // the new checkpoint is at `path` once the child stops there
        std::uintmax_t in_tmp;  // bytes in the temporary file when the child stops (before the rename)
    };
    for (const stage_case& c : {stage_case{"created", false, 0}, stage_case{"half-written", false, full / 2},
                                stage_case{"written", false, full}, stage_case{"synced", false, full},
                                stage_case{"renamed", true, 0}, stage_case{"dir-synced", true, 0}}) {
        INFO("stopped at stage " << c.stage << ", then SIGKILL");
        xgrad::save_npz<double>(path, refs(old_version));
        const std::string old_bytes = read_bytes(path);

        child_process child{fork_saver(c.stage, [&] { xgrad::save_npz<double>(path, refs(new_version)); })};
        const int status = child.wait_for_stop_or_end();
        REQUIRE(WIFSTOPPED(status));
        REQUIRE(WSTOPSIG(status) == SIGSTOP);
        // The state while stopped is the stage's, exactly.
        const std::vector<std::string> temporaries = temporaries_of(path, child.pid);
        std::string tmp;
        if (c.renamed) {
            CHECK(temporaries.empty());
            CHECK(read_bytes(path) == new_bytes);
        } else {
            REQUIRE(temporaries.size() == 1);
            tmp = temporaries[0];
            CHECK(fs::file_size(tmp) == c.in_tmp);
            CHECK(read_bytes(tmp) == new_bytes.substr(0, c.in_tmp));
            CHECK(read_bytes(path) == old_bytes);
        }

        const pid_t child_pid = child.pid;
        child.kill_and_reap();
        if (c.renamed) {
            // The new checkpoint, complete: exactly what an uninterrupted save writes.
            CHECK(read_bytes(path) == new_bytes);
            CHECK(holds(new_version));
            CHECK(temporaries_of(path, child_pid).empty());
        } else {
            // The previous checkpoint, bit for bit; the stale temporary file is left (safe to delete).
            CHECK(read_bytes(path) == old_bytes);
            CHECK(holds(old_version));
            CHECK(fs::remove(tmp));
        }
    }
}

TEST_CASE("checkpoint: a save stopped by its test hook and continued finishes unchanged", "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "model.npz";
    const named<double> old_version = checkpoint_version(0), new_version = checkpoint_version(1);
    xgrad::save_npz<double>(dir / "reference.npz", refs(new_version));
    const std::string new_bytes = read_bytes(dir / "reference.npz");
    xgrad::save_npz<double>(path, refs(old_version));

    // Stopped half-way (the writes are split there), then continued: the same bytes as without the hook.
    child_process child{
        fork_saver("half-written", [&] { xgrad::save_npz<double>(path, refs(new_version)); })};
    int status = child.wait_for_stop_or_end();
    REQUIRE(WIFSTOPPED(status));
    REQUIRE(::kill(child.pid, SIGCONT) == 0);
    status = child.wait_for_stop_or_end();
    const pid_t child_pid = child.pid;
    child.pid = -1;  // reaped
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(read_bytes(path) == new_bytes);
    CHECK(temporaries_of(path, child_pid).empty());

    // A misspelt stage is an error before anything is written, not a hook that silently never stops.
    const scoped_env env("XGRAD_TEST_STOP_AT", "halfway");
    const std::string msg =
        checkpoint_error_of([&] { xgrad::save_npz<double>(path, refs(checkpoint_version(2))); });
    CHECK_THAT(msg, Contains(path) && Contains("XGRAD_TEST_STOP_AT='halfway' is not a stage"));
    CHECK(read_bytes(path) == new_bytes);
    CHECK(temporaries_of(path, ::getpid()).empty());
}

TEST_CASE("checkpoint: SIGKILL at arbitrary moments of repeated saves always leaves a complete checkpoint",
          "[checkpoint]") {
    // A child saves three versions in turn, forever; the parent kills it after an arbitrary number of
    // system calls (fs::exists). Where a kill lands depends on the machine, so only safety is asserted
    // (the checkpoint is always one complete version, bit for bit); where the kills landed is reported.
    temp_dir dir;
    const std::string path = dir / "killed.npz";
    std::vector<named<double>> versions;
    std::vector<std::string> bytes;
    for (int v = 0; v < 3; ++v) {
        versions.push_back(checkpoint_version(v));
        xgrad::save_npz<double>(path, refs(versions[v]));
        bytes.push_back(read_bytes(path));
    }
    xgrad::save_npz<double>(path, refs(versions[0]));
    const std::uintmax_t full = bytes[0].size();

    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> polls(0, 20000);
    int mid_write = 0, written_not_renamed = 0, between = 0;
    for (int round = 0; round < 12; ++round) {
        child_process child{fork_saver("", [&] {
            for (std::size_t k = 1;; ++k) xgrad::save_npz<double>(path, refs(versions[k % 3]));
        })};
        const pid_t child_pid = child.pid;
        std::error_code ec;
        for (int n = polls(rng); n > 0; --n) static_cast<void>(fs::exists(path, ec));
        child.kill_and_reap();

        INFO("round " << round);
        const std::string now = read_bytes(path);
        CHECK((now == bytes[0] || now == bytes[1] || now == bytes[2]));
        const auto loaded = xgrad::load_npz<double>(path);
        REQUIRE(loaded.size() == 2);
        const int v = static_cast<int>(std::lround(loaded[0].second(0, 0) / 1000.0));
        REQUIRE((v >= 0 && v < 3));
        CHECK(bit_identical(loaded[0].second, versions[v][0].second));
        CHECK(bit_identical(loaded[1].second, versions[v][1].second));

        // The writer renames each temporary before it creates the next: at most one is left.
        const std::vector<std::string> temporaries = temporaries_of(path, child_pid);
        CHECK(temporaries.size() <= 1);
        if (temporaries.empty())
            ++between;
        else if (fs::file_size(temporaries[0]) < full)
            ++mid_write;
        else
            ++written_not_renamed;
        for (const std::string& t : temporaries) fs::remove(t);
    }
    WARN("the 12 kills landed: " << mid_write << " while writing the temporary file, " << written_not_renamed
                                 << " after writing it and before the rename, " << between
                                 << " with no temporary file (after a rename or before the first save)");
}

TEST_CASE("checkpoint: numpy reads what xgrad writes", "[checkpoint]") {
    if (!numpy_available()) {
        WARN("skipped: /usr/bin/python3 cannot import numpy (apt-get install -y python3-numpy)");
        return;
    }
    temp_dir dir;
    const matrix<float> w = ramp<float>(3, 4), b = ramp<float>(3, 1, 0.5, -1), s = ramp<float>(1, 1, 0, 2.25),
                        r = ramp<float>(1, 5, 2);
    const matrix<double> d = ramp<double>(2, 3, 1.0 / 3);
    xgrad::save_npz<float>(dir / "f.npz", {{"0.weight", &w}, {"0.bias", &b}, {"scalar", &s}, {"row", &r}});
    xgrad::save_npz<double>(dir / "d.npz", {{"layers/d", &d}});

    const std::string script = R"(
import sys, numpy as np
f = np.load(sys.argv[1])
assert list(f.keys()) == ['0.weight', '0.bias', 'scalar', 'row'], list(f.keys())
for k, shape in [('0.weight', (3, 4)), ('0.bias', (3, 1)), ('scalar', (1, 1)), ('row', (1, 5))]:
    assert f[k].dtype == np.dtype('<f4') and f[k].shape == shape and f[k].flags.c_contiguous, (k, f[k].dtype, f[k].shape)
assert np.array_equal(f['0.weight'], (np.arange(12, dtype=np.float32) * 0.125).reshape(3, 4))
assert f['0.weight'][1, 2] == 0.75
assert np.array_equal(f['0.bias'][:, 0], np.float32(-1) + np.arange(3, dtype=np.float32) * 0.5)
assert f['scalar'][0, 0] == 2.25
assert np.array_equal(f['row'], np.arange(5, dtype=np.float32).reshape(1, 5) * 2)
d = np.load(sys.argv[2])
assert d['layers/d'].dtype == np.float64 and d['layers/d'].shape == (2, 3)
assert np.array_equal(d['layers/d'], np.arange(6).reshape(2, 3) * (1.0 / 3))
with open(sys.argv[1], 'rb') as fh:
    import zipfile
    with zipfile.ZipFile(fh) as z:
        assert z.testzip() is None
        assert [i.compress_type for i in z.infolist()] == [zipfile.ZIP_STORED] * 4
print('numpy', np.__version__, 'read the xgrad checkpoints')
)";
    CHECK(run_python(dir, script, "'" + (dir / "f.npz") + "' '" + (dir / "d.npz") + "'"));
}

TEST_CASE("checkpoint: xgrad reads what numpy writes (savez and savez_compressed)", "[checkpoint]") {
    if (!numpy_available()) {
        WARN("skipped: /usr/bin/python3 cannot import numpy (apt-get install -y python3-numpy)");
        return;
    }
    temp_dir dir;
    const std::string script = R"(
import sys, numpy as np
out = sys.argv[1]
arrays = dict(
    a=np.arange(12, dtype=np.float64).reshape(3, 4) / 3,
    f=np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5),
    v=np.arange(5, dtype=np.float32),
    s=np.array(2.5),
    e=np.zeros((0, 3)),
    big=(np.arange(300 * 200, dtype=np.float64) % 7).reshape(300, 200) + np.arange(200) / 1024,
)
np.savez(out + '/plain.npz', **arrays)
np.savez_compressed(out + '/compressed.npz', **arrays)
np.savez(out + '/ints.npz', w=np.zeros((2, 2)), steps=np.arange(4, dtype=np.int64))
np.savez(out + '/bigendian.npz', x=np.arange(3, dtype='>f8'))
np.savez(out + '/cube.npz', x=np.zeros((2, 2, 2)))
)";
    REQUIRE(run_python(dir, script, "'" + dir.path.string() + "'"));

    for (const char* file : {"plain.npz", "compressed.npz"}) {
        INFO(file);
        const auto loaded = xgrad::load_npz<double>(dir / file);
        REQUIRE(loaded.size() == 6);
        CHECK(loaded[0].first == "a");
        const matrix<double>& a = loaded[0].second;
        REQUIRE(xgrad::shape_of(a) == xgrad::shape2{3, 4});
        for (std::size_t i = 0; i < 3; ++i)
            for (std::size_t j = 0; j < 4; ++j) CHECK(a(i, j) == double(i * 4 + j) / 3);
        CHECK(loaded[1].first == "f");
        CHECK(bit_identical(loaded[1].second, matrix<double>{{0, 0.5, 1}, {1.5, 2, 2.5}}));
        CHECK(bit_identical(loaded[2].second, matrix<double>{{0}, {1}, {2}, {3}, {4}}));
        CHECK(bit_identical(loaded[3].second, matrix<double>{{2.5}}));
        CHECK(xgrad::shape_of(loaded[4].second) == xgrad::shape2{0, 3});
        const matrix<double>& big = loaded[5].second;
        REQUIRE(xgrad::shape_of(big) == xgrad::shape2{300, 200});
        for (std::size_t i = 0; i < 300; i += 37)
            for (std::size_t j = 0; j < 200; j += 13)
                CHECK(big(i, j) == double((i * 200 + j) % 7) + double(j) / 1024);
    }
    const auto plain = xgrad::load_npz<float>(dir / "plain.npz");
    const auto compressed = xgrad::load_npz<float>(dir / "compressed.npz");
    for (std::size_t k = 0; k < plain.size(); ++k)
        CHECK(bit_identical(plain[k].second, compressed[k].second));

    CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<double>(dir / "ints.npz"); }),
               Contains("ints.npz") && Contains("entry 'steps'") && Contains("dtype '<i8' is not supported"));
    CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<double>(dir / "bigendian.npz"); }),
               Contains("entry 'x'") && Contains("dtype '>f8' is not supported"));
    CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<double>(dir / "cube.npz"); }),
               Contains("entry 'x'") && Contains("(2, 2, 2)"));

    // numpy's compressed archive, truncated anywhere (in steps), is always an error.
    const std::string bytes = read_bytes(dir / "compressed.npz");
    const std::string cut_path = dir / "cut.npz";
    int throws = 0, tries = 0;
    for (std::size_t cut = 0; cut < bytes.size(); cut += 1 + cut / 50, ++tries) {
        write_bytes(cut_path, bytes.substr(0, cut));
        try {
            xgrad::load_npz<double>(cut_path);
        } catch (const checkpoint_error&) {
            ++throws;
        }
    }
    CHECK(throws == tries);

    // Damaged bytes in real deflate data (and its zip64 records): a clean error or a load, nothing else.
    for (std::size_t pos = 0; pos < bytes.size(); pos += 1 + pos / 100) {
        std::string bad = bytes;
        bad[pos] = static_cast<char>(bad[pos] ^ 0x5A);
        write_bytes(cut_path, bad);
        try {
            xgrad::load_npz<double>(cut_path);
        } catch (const checkpoint_error&) {
        }
    }
}

// ---- what an archive may cost, and what it may hold (issue 10) ----

TEST_CASE("checkpoint: load_parameters compares names and shapes from the headers before inflating any data",
          "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "model.npz";
    // 'w' and 'b' fit the model; 'extra' is not a parameter, and its data is damaged after its header (the
    // CRC is of other bytes). Only a reader that inflates 'extra' can notice the damage.
    const std::vector<double> six = {1, 2, 3, 4, 5, 6};
    std::string extra = npy(npy_dict("<f8", "(2,)"), raw(std::vector<double>{7, 8}));
    std::string zip = make_zip({{"w.npy", npy(npy_dict("<f8", "(2, 3)"), raw(six)), true, true},
                                {"b.npy", npy(npy_dict("<f8", "(2,)"), raw(std::vector<double>{1, 2})), true},
                                {"extra.npy", extra}});
    const std::size_t at = zip.rfind(extra);  // the stored bytes of 'extra'
    REQUIRE(at != std::string::npos);
    zip[at + extra.size() - 1] ^= 0x01;
    write_bytes(path, zip);
    CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<double>(path); }),
               Contains("entry 'extra'") && Contains("CRC-32 mismatch"));

    parameter<double> w(matrix<double>({2, 3}, 0.0), "w"), b(matrix<double>({2, 1}, 0.0), "b");
    CHECK(checkpoint_error_of([&] {
              xgrad::load_parameters<double>(path, {{"w", &w}, {"b", &b}});
          }) == path + ": unexpected entry 'extra' [2×1] (not a parameter of the model)");
    // A shape that does not fit is reported the same way, from the headers alone.
    parameter<double> w4(matrix<double>({4, 3}, 0.0), "w"), e(matrix<double>({2, 1}, 0.0), "extra");
    CHECK(checkpoint_error_of([&] {
              xgrad::load_parameters<double>(path, {{"w", &w4}, {"b", &b}, {"extra", &e}});
          }) == path + ": 'w' has shape [2×3] but the model expects [4×3]");
    CHECK(w.value()(0, 0) == 0.0);
}

TEST_CASE(
    "checkpoint: a small archive that declares a huge array costs no memory when the model does not want it",
    "[checkpoint]") {
    if (xgrad::test::address_sanitizer) {
        WARN("skipped: RLIMIT_AS cannot bound memory under AddressSanitizer");
        return;
    }
    temp_dir dir;
    const std::string path = dir / "bomb.npz";
    {
        // 'w' is (4096, 2048) float64 zeros: 64 MiB, about 64 KiB deflated. The model's w is [2×3].
        const std::string zeros(std::size_t(4096) * 2048 * 8, '\0');
        write_bytes(path,
                    make_zip({{"w.npy", npy(npy_dict("<f8", "(4096, 2048)"), zeros), true, true},
                              {"b.npy", npy(npy_dict("<f8", "(2,)"), raw(std::vector<double>{1, 2}))}}));
    }
    REQUIRE(fs::file_size(path) < 1024 * 1024);
    const auto result = xgrad::test::run_in_child(
        [&] {
            parameter<double> w(matrix<double>({2, 3}, 0.0), "w"), b(matrix<double>({2, 1}, 0.0), "b");
            xgrad::load_parameters<double>(path, {{"w", &w}, {"b", &b}});
        },
        16 << 20);  // 16 MiB: a quarter of what inflating 'w' would take
    INFO(result.outcome);
    CHECK(result.message() == path + ": 'w' has shape [4096×2048] but the model expects [2×3]");
}

TEST_CASE("checkpoint: NaN, infinities and values beyond the range of T are rejected by entry and position",
          "[checkpoint]") {
    temp_dir dir;
    const std::string path = dir / "bad.npz";
    const double inf = std::numeric_limits<double>::infinity(),
                 nan = std::numeric_limits<double>::quiet_NaN();
    parameter<double> w(matrix<double>({2, 3}, 7.0), "w");
    parameter<float> wf(matrix<float>({2, 3}, 7.0f), "w");
    const auto archive = [&](double value, std::size_t at, bool fortran = false) {
        std::vector<double> v = {1, 2, 3, 4, 5, 6};
        v[at] = value;
        write_bytes(path, make_zip({{"w.npy", npy(npy_dict("<f8", "(2, 3)", fortran), raw(v))}}));
    };
    archive(nan, 5);
    CHECK(checkpoint_error_of([&] {
              xgrad::load_parameters<double>(path, {{"w", &w}});
          }) ==
          path + ": entry 'w': the value at [1, 2] of [2×3] is NaN (parameters must be finite numbers)");
    archive(inf, 1);
    CHECK_THAT(checkpoint_error_of([&] {
                   xgrad::load_parameters<float>(path, {{"w", &wf}});
               }),
               Contains("entry 'w': the value at [0, 1] of [2×3] is +Inf"));
    archive(-inf, 1, true);  // Fortran order: element 1 of the data is [1, 0]
    CHECK_THAT(checkpoint_error_of([&] {
                   xgrad::load_parameters<double>(path, {{"w", &w}});
               }),
               Contains("entry 'w': the value at [1, 0] of [2×3] is -Inf"));
    for (double v : w.value()) CHECK(v == 7.0);  // nothing was modified
    for (float v : wf.value()) CHECK(v == 7.0f);

    // 1e300 fits a double but not a float: as float it would be +Inf.
    archive(-1e300, 3);
    CHECK(checkpoint_error_of([&] { xgrad::load_npz<float>(path); }) ==
          path +
              ": entry 'w': the value at [1, 0] of [2×3] is -1e+300, outside the range of float (at most "
              "3.40282e+38 in magnitude)");
    CHECK_THAT(checkpoint_error_of([&] {
                   xgrad::load_parameters<float>(path, {{"w", &wf}});
               }),
               Contains("outside the range of float"));
    REQUIRE(xgrad::load_npz<double>(path)[0].second(1, 0) == -1e300);
    xgrad::load_parameters<double>(path, {{"w", &w}});
    CHECK(w.value()(1, 0) == -1e300);
    // A float64 value that is tiny for float rounds, as any conversion does.
    archive(1e-300, 0);
    CHECK(xgrad::load_npz<float>(path)[0].second(0, 0) == 0.0f);
}

TEST_CASE("checkpoint: a FIFO or a device is refused without reading it", "[checkpoint]") {
    temp_dir dir;
    CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<float>("/dev/zero"); }),
               Contains("/dev/zero: cannot load checkpoint: not a regular file"));
    // A FIFO without a writer: opening it for reading would block for ever; the loader must not.
    const std::string fifo = dir / "pipe.npz";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THAT(checkpoint_error_of([&] { xgrad::load_npz<float>(fifo); }), Contains("not a regular file"));
}

TEST_CASE("checkpoint: numpy's savez_compressed with ZIP64 records and a damaged archive, through libzip",
          "[checkpoint]") {
    if (!numpy_available()) {
        WARN("skipped: /usr/bin/python3 cannot import numpy (apt-get install -y python3-numpy)");
        return;
    }
    temp_dir dir;
    // numpy writes every entry with ZIP64 extra fields (force_zip64): a model saved by numpy loads into the
    // parameters; its data cut or damaged is an error naming the entry.
    const std::string script = R"(
import sys, numpy as np
np.savez_compressed(sys.argv[1] + '/m.npz', w=np.arange(6, dtype=np.float32).reshape(2, 3) / 4, b=np.ones(2))
)";
    REQUIRE(run_python(dir, script, "'" + dir.path.string() + "'"));
    parameter<float> w(matrix<float>({2, 3}, 0.0f), "w"), b(matrix<float>({2, 1}, 0.0f), "b");
    xgrad::load_parameters<float>(dir / "m.npz", {{"w", &w}, {"b", &b}});
    CHECK(bit_identical(w.value(), matrix<float>{{0, 0.25f, 0.5f}, {0.75f, 1, 1.25f}}));
    CHECK(bit_identical(b.value(), matrix<float>{{1}, {1}}));

    // Compressed bytes of 'w' damaged: corrupt data or a CRC mismatch, named by entry.
    std::string bytes = read_bytes(dir / "m.npz");
    const std::size_t name = bytes.find("w.npy");
    REQUIRE(name != std::string::npos);
    const std::size_t data = name + 5 + 20 + 10;  // past the name and its ZIP64 extra field, into the data
    bytes[data] = static_cast<char>(bytes[data] ^ 0x5A);
    write_bytes(dir / "bad.npz", bytes);
    CHECK_THAT(checkpoint_error_of([&] {
                   xgrad::load_parameters<float>(dir / "bad.npz", {{"w", &w}, {"b", &b}});
               }),
               Contains("bad.npz: entry 'w'"));
}
