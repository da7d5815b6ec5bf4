/// @file harness.hpp
/// @brief What each fuzz target does with one input, shared by the libFuzzer entry points (fuzz/*.cpp) and
/// by the regression test that replays fuzz/regressions/* and fuzz/corpus/* in every build
/// (tests/reliability/fuzz_regressions_test.cpp).
///
/// The loaders read files, so an input is written to a scratch file first: a memfd (no disk traffic),
/// opened by the loaders through /proc/self/fd/N. A loader may throw xgrad::error (that is its job); any
/// other exception escapes (libFuzzer reports it as a crash), and a result that breaks the loader's promises
/// (shapes, labels, finite values) aborts through fail().
#pragma once

#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <xgrad/graph.hpp>
#include <xgrad/io/checkpoint.hpp>
#include <xgrad/io/loaders.hpp>

namespace xgrad::fuzz {

/// A loader returned something it promises never to return: print and abort (libFuzzer saves the input).
/// The regression test defines XGRAD_FUZZ_HARNESS_THROWS to get a std::logic_error instead.
[[noreturn]] inline void fail(const char* what) {
#ifdef XGRAD_FUZZ_HARNESS_THROWS
    throw std::logic_error(std::string("broken promise: ") + what);
#else
    std::fprintf(stderr, "xgrad fuzz harness: broken promise: %s\n", what);
    std::abort();
#endif
}

/// A file in memory with a path that open(), stat() and gzopen() accept.
class scratch_file {
public:
    explicit scratch_file(const char* name) {
        m_fd = ::memfd_create(name, MFD_CLOEXEC);
        if (m_fd < 0) throw std::runtime_error("memfd_create failed");
        m_path = "/proc/self/fd/" + std::to_string(m_fd);
    }
    ~scratch_file() { ::close(m_fd); }
    scratch_file(const scratch_file&) = delete;
    scratch_file& operator=(const scratch_file&) = delete;

    const std::string& path() const { return m_path; }
    void assign(const void* data, std::size_t size) {
        if (::ftruncate(m_fd, 0) != 0) throw std::runtime_error("ftruncate failed");
        auto p = static_cast<const char*>(data);
        std::size_t done = 0;
        while (done < size) {
            const ssize_t n = ::pwrite(m_fd, p + done, size - done, static_cast<off_t>(done));
            if (n <= 0) throw std::runtime_error("pwrite failed");
            done += static_cast<std::size_t>(n);
        }
    }
    void assign(std::string_view s) { assign(s.data(), s.size()); }

private:
    int m_fd = -1;
    std::string m_path;
};

/// `data` as a gzip stream (level 6), with `cut` bytes removed from its end.
inline std::string gzip(std::string_view data, std::size_t cut = 0) {
    z_stream z{};
    if (::deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) fail("deflateInit2");
    std::string out(::deflateBound(&z, static_cast<uLong>(data.size())) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    if (::deflate(&z, Z_FINISH) != Z_STREAM_END) fail("deflate");
    out.resize(z.total_out);
    ::deflateEnd(&z);
    out.resize(out.size() - std::min(cut, out.size()));
    return out;
}

template <class T>
void check_dataset(const data::dataset<T>& ds, bool labelled) {
    const std::size_t n = ds.x.shape()[1];
    if (ds.y.shape()[1] != n) fail("x and y have different numbers of columns");
    if (labelled && ds.y.shape()[0] != 1) fail("labels are not a [1×n] row");
    if (!labelled && (ds.y.shape()[0] != 0 || ds.classes != 0)) fail("an unlabelled set has labels");
    if (n == 0 && labelled) fail("a loaded data set has no examples");
    for (const T v : ds.x)
        if (!std::isfinite(v)) fail("a feature is not finite");
    for (const T v : ds.y)
        if (!(v >= 0) || v != std::floor(v) || !(static_cast<std::size_t>(v) < ds.classes))
            fail("a label is not a class index in [0, classes)");
}

// ---------------------------------------------------------------------------------------------------
// IDX: [flags][images length: 2 bytes LE][images file][labels file]
//   flags bit 0 / bit 1: gzip the images / labels file; bits 2–3: bytes cut from the end of each gzip
//   stream (0, 1, 5, half); bits 4–7: classes (0 → 10, k → 16k).

inline void idx(const std::uint8_t* data, std::size_t size) {
    static scratch_file images("xgrad-fuzz-images"), labels("xgrad-fuzz-labels");
    if (size < 3) return;
    const unsigned flags = data[0];
    const std::size_t n_images = std::min<std::size_t>(size - 3, data[1] | (std::size_t(data[2]) << 8));
    const std::string_view img(reinterpret_cast<const char*>(data) + 3, n_images);
    const std::string_view lab(reinterpret_cast<const char*>(data) + 3 + n_images, size - 3 - n_images);
    const auto cut = [&](std::size_t compressed) -> std::size_t {
        switch ((flags >> 2) & 3) {
            case 1:
                return 1;
            case 2:
                return 5;
            case 3:
                return compressed / 2;
            default:
                return 0;
        }
    };
    const auto put = [&](scratch_file& f, std::string_view bytes, bool gz) {
        if (!gz) return f.assign(bytes);
        const std::string full = gzip(bytes);
        f.assign(std::string_view(full).substr(0, full.size() - cut(full.size())));
    };
    put(images, img, flags & 1);
    put(labels, lab, flags & 2);
    const std::size_t classes = (flags >> 4) == 0 ? 10 : 16 * (flags >> 4);
    try {
        const auto ds = data::load_idx<float>(images.path(), labels.path(), classes);
        check_dataset(ds, true);
        if (ds.classes != classes) fail("load_idx changed the number of classes");
        for (const float v : ds.x)
            if (!(v >= 0.0f && v <= 1.0f)) fail("a pixel is outside [0, 1]");
    } catch (const xgrad::error&) {
    }
}

// ---------------------------------------------------------------------------------------------------
// CSV: [options][text]
//   options bit 0: header; bits 1–2: label column −1, 0, none, 1; bit 3: ';' instead of ','; bit 4: double;
//   bit 5 (with labels): classes = 3 given, else inferred (then every class below the largest label occurs).

inline void csv(const std::uint8_t* data, std::size_t size) {
    static scratch_file file("xgrad-fuzz-csv");
    if (size < 1) return;
    const unsigned flags = data[0];
    file.assign(data + 1, size - 1);
    data::csv_options o;
    o.header = flags & 1;
    switch ((flags >> 1) & 3) {
        case 0:
            o.label_column = -1;
            break;
        case 1:
            o.label_column = 0;
            break;
        case 2:
            o.label_column = std::nullopt;
            break;
        default:
            o.label_column = 1;
            break;
    }
    o.delimiter = flags & 8 ? ';' : ',';
    if ((flags & 32) && o.label_column) o.classes = 3;
    const auto check = [&](const auto& ds) {
        check_dataset(ds, o.label_column.has_value());
        if (o.classes && ds.classes != *o.classes) fail("load_csv changed the given number of classes");
        if (o.label_column && !o.classes) {
            std::vector<bool> seen(ds.classes, false);
            for (const auto v : ds.y) seen[static_cast<std::size_t>(v)] = true;
            for (const bool b : seen)
                if (!b) fail("an inferred class count includes a class without examples");
        }
    };
    try {
        if (flags & 16) {
            check(data::load_csv<double>(file.path(), o));
        } else {
            check(data::load_csv<float>(file.path(), o));
        }
    } catch (const xgrad::error&) {
    }
}

// ---------------------------------------------------------------------------------------------------
// NPZ: the archive itself. load_npz as float and as double (same names and shapes; float may refuse what
// double accepts: values beyond float's range), then load_parameters into a model of w [2×3] and b [2×1]
// (all-or-nothing: on failure the parameters keep their values; on success every value is finite).

inline void npz(const std::uint8_t* data, std::size_t size) {
    static scratch_file file("xgrad-fuzz-npz");
    file.assign(data, size);
    std::vector<std::pair<std::string, matrix<float>>> f;
    bool float_ok = true;
    try {
        f = load_npz<float>(file.path());
    } catch (const xgrad::error&) {
        float_ok = false;
    }
    std::vector<std::pair<std::string, matrix<double>>> d;
    bool double_ok = true;
    try {
        d = load_npz<double>(file.path());
    } catch (const xgrad::error&) {
        double_ok = false;
    }
    if (float_ok && !double_ok) fail("load_npz<double> rejects what load_npz<float> accepted");
    if (float_ok && f.size() != d.size()) fail("float and double loads differ in entry count");
    for (std::size_t k = 0; k < f.size(); ++k) {
        if (f[k].first != d[k].first || f[k].second.shape() != d[k].second.shape())
            fail("float and double loads differ in names or shapes");
    }
    parameter<double> w(matrix<double>({2, 3}, 7.0), "w"), b(matrix<double>({2, 1}, 7.0), "b");
    try {
        load_parameters<double>(file.path(), {{"w", &w}, {"b", &b}});
        if (!double_ok || d.size() != 2)
            fail("load_parameters accepted an archive load_npz refuses or without two entries");
        for (const double v : w.value())
            if (!std::isfinite(v)) fail("load_parameters accepted a value that is not finite");
        for (const double v : b.value())
            if (!std::isfinite(v)) fail("load_parameters accepted a value that is not finite");
    } catch (const xgrad::error&) {
        for (const double v : w.value())
            if (v != 7.0) fail("a failed load_parameters modified a parameter");
        for (const double v : b.value())
            if (v != 7.0) fail("a failed load_parameters modified a parameter");
    }
}

}  // namespace xgrad::fuzz
