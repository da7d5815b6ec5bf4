// Data sets: IDX and CSV loaders, Playground-style synthetic sets, scaling, split and mini-batches.
#include "xgrad/data.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <numbers>
#include <numeric>
#include <sstream>
#include <type_traits>

#include <fmt/format.h>

namespace xgrad::data {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------------
// Random numbers with a fixed mapping from the engine's output (std::*_distribution is unspecified).

/// Uniform in [0, 1) from the top 53 bits.
double uniform01(std::mt19937_64& g) {
    return static_cast<double>(g() >> 11) * 0x1.0p-53;
}

double uniform(std::mt19937_64& g, double lo, double hi) {
    return lo + (hi - lo) * uniform01(g);
}

/// Standard normal by Box–Muller: √(−2 ln u₁) · cos(2π u₂), u₁ ∈ (0, 1].
double normal(std::mt19937_64& g) {
    const double u1 = 1.0 - uniform01(g);
    const double u2 = uniform01(g);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

/// Uniform in [0, n), n ≥ 1, without modulo bias: reject the 2^64 mod n lowest outputs.
std::size_t uniform_index(std::mt19937_64& g, std::size_t n) {
    const std::uint64_t m = n;
    const std::uint64_t threshold = (0 - m) % m;  // 2^64 mod n
    std::uint64_t v;
    do v = g();
    while (v < threshold);
    return static_cast<std::size_t>(v % m);
}

/// Fisher–Yates with uniform_index.
template <class V>
void shuffle(V& v, std::mt19937_64& g) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_index(g, i)]);
}

std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed) {
    std::vector<std::size_t> p(n);
    std::iota(p.begin(), p.end(), std::size_t(0));
    std::mt19937_64 g(seed);
    shuffle(p, g);
    return p;
}

// ---------------------------------------------------------------------------------------------------
// Files

std::string errno_text(int e) {
    return e ? std::strerror(e) : "unknown error";
}

/// Throws data_error unless `p` names something that can be opened as a regular file.
void check_openable(const fs::path& p) {
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (!fs::exists(st)) throw data_error(fmt::format("{}: cannot open: no such file", p.string()));
    if (fs::is_directory(st)) throw data_error(fmt::format("{}: cannot open: is a directory", p.string()));
}

/// A file read sequentially, plain or gzip-compressed (gzip magic 1f 8b), through zlib.
class byte_reader {
public:
    explicit byte_reader(const fs::path& p) : m_path(p.string()) {
        check_openable(p);
        std::FILE* f = std::fopen(m_path.c_str(), "rb");
        if (!f) throw data_error(fmt::format("{}: cannot open: {}", m_path, errno_text(errno)));
        unsigned char magic[2] = {0, 0};
        const std::size_t got = std::fread(magic, 1, 2, f);
        std::fclose(f);
        m_gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        if (!m_gzip) {
            std::error_code ec;
            m_plain_size = fs::file_size(p, ec);
            if (ec) throw data_error(fmt::format("{}: cannot read its size: {}", m_path, ec.message()));
        }
        m_gz = gzopen(m_path.c_str(), "rb");
        if (!m_gz) throw data_error(fmt::format("{}: cannot open: {}", m_path, errno_text(errno)));
        gzbuffer(m_gz, 1u << 17);
    }
    byte_reader(const byte_reader&) = delete;
    byte_reader& operator=(const byte_reader&) = delete;
    ~byte_reader() {
        if (m_gz) gzclose(m_gz);
    }

    const std::string& path() const { return m_path; }
    bool gzip() const { return m_gzip; }
    /// The file's size when it is not compressed (then known before reading).
    std::optional<std::uint64_t> plain_size() const {
        return m_gzip ? std::nullopt : std::optional<std::uint64_t>(m_plain_size);
    }

    /// Reads up to n bytes; fewer only at the end of the data. Corrupt gzip data throws.
    std::size_t read(void* buf, std::size_t n) {
        auto* out = static_cast<unsigned char*>(buf);
        std::size_t have = 0;
        while (have < n) {
            const unsigned want = static_cast<unsigned>(std::min<std::size_t>(n - have, 1u << 30));
            const int got = gzread(m_gz, out + have, want);
            if (got < 0) {
                int errnum = 0;
                const std::string msg = zlib_message(&errnum);
                if (errnum == Z_ERRNO)
                    throw data_error(fmt::format("{}: read error: {}", m_path, errno_text(errno)));
                throw data_error(fmt::format("{}: corrupt gzip stream (zlib: {})", m_path, msg));
            }
            have += static_cast<std::size_t>(got);
            if (static_cast<unsigned>(got) < want) {
                int errnum = 0;
                const std::string msg = zlib_message(&errnum);
                if (errnum == Z_BUF_ERROR) {
                    m_cut = msg;  // the compressed stream ends early (soft error in zlib)
                } else if (errnum != Z_OK) {
                    throw data_error(fmt::format("{}: corrupt gzip stream (zlib: {})", m_path, msg));
                }
                break;
            }
        }
        return have;
    }

    /// "" or "; the gzip stream itself is cut short (zlib: unexpected end of file)".
    std::string cut_note() const {
        return m_cut.empty() ? std::string()
                             : fmt::format("; the gzip stream itself is cut short (zlib: {})", m_cut);
    }
    bool cut() const { return !m_cut.empty(); }
    const std::string& cut_message() const { return m_cut; }

private:
    /// zlib's error text without the "path: " it prefixes.
    std::string zlib_message(int* errnum) const {
        std::string_view msg = gzerror(m_gz, errnum);
        if (msg.starts_with(m_path + ": ")) msg.remove_prefix(m_path.size() + 2);
        return std::string(msg);
    }

    std::string m_path;
    gzFile m_gz = nullptr;
    bool m_gzip = false;
    std::uint64_t m_plain_size = 0;
    std::string m_cut;
};

// ---------------------------------------------------------------------------------------------------
// IDX

std::uint32_t be32(const unsigned char* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           std::uint32_t(p[3]);
}

/// A validated IDX header of unsigned bytes: dims, their product and a description for messages.
struct idx_header {
    std::vector<std::uint32_t> dims;
    std::uint64_t bytes = 0;   // product of dims
    std::uint64_t offset = 0;  // header size: 4 + 4·rank
    std::string what;          // "60000 images of 28×28"
};

/// Reads and checks the header of an IDX file of unsigned bytes with `rank` dimensions.
idx_header read_idx_header(byte_reader& r, unsigned rank, std::string_view kind) {
    const std::uint32_t expected = 0x0800u | rank;
    idx_header h;
    h.offset = 4 + 4 * std::uint64_t(rank);
    std::array<unsigned char, 4 + 4 * 3> buf{};
    const std::size_t got = r.read(buf.data(), h.offset);
    if (got < 4 || (be32(buf.data()) == expected && got < h.offset)) {
        throw data_error(
            fmt::format("{}: truncated header: the {}data ends after {} bytes, an IDX {} header "
                        "is {} bytes{}",
                        r.path(), r.gzip() ? "decompressed " : "", got, kind, h.offset, r.cut_note()));
    }
    const std::uint32_t magic = be32(buf.data());
    if (magic != expected) {
        std::string hint;
        if (magic == 0x0801u && rank != 1) hint = " — this looks like a labels file";
        if (magic == 0x0803u && rank != 3) hint = " — this looks like an images file";
        if ((magic >> 8) == 0x08u && hint.empty())
            hint = fmt::format(" — an IDX file of {} dimensions", magic & 0xffu);
        throw data_error(
            fmt::format("{}: not an IDX {} file: magic number 0x{:08x}, expected 0x{:08x} (unsigned "
                        "bytes, {} dimension{}){}",
                        r.path(), kind, magic, expected, rank, rank == 1 ? "" : "s", hint));
    }
    std::uint64_t product = 1;
    bool overflow = false;
    for (unsigned d = 0; d < rank; ++d) {
        h.dims.push_back(be32(buf.data() + 4 + 4 * d));
        overflow = overflow || __builtin_mul_overflow(product, std::uint64_t(h.dims.back()), &product);
    }
    if (rank == 3) {
        h.what = fmt::format("{} images of {}×{}", h.dims[0], h.dims[1], h.dims[2]);
    } else {
        h.what = fmt::format("{} labels", h.dims[0]);
    }
    if (overflow) {
        throw data_error(fmt::format("{}: bad header: {}: the size overflows 64 bits", r.path(), h.what));
    }
    if (rank == 3 && (h.dims[1] == 0 || h.dims[2] == 0)) {
        throw data_error(fmt::format("{}: bad header: {}: images without pixels", r.path(), h.what));
    }
    if (product > max_idx_bytes) {
        throw data_error(fmt::format("{}: bad header: {} ({} bytes) is more than the {} bytes accepted",
                                     r.path(), h.what, product, max_idx_bytes));
    }
    h.bytes = product;
    return h;
}

/// The payload promised by `h`, exactly: truncation and trailing bytes are errors. A plain file's size is
/// checked before allocating; a gzip stream is read in 1 MiB chunks into a buffer that grows with the data
/// actually decompressed (never beyond h.bytes).
std::vector<std::uint8_t> read_idx_payload(byte_reader& r, const idx_header& h) {
    const std::string decompressed = r.gzip() ? "decompressed " : "";
    auto truncated = [&](std::uint64_t have) {
        return data_error(
            fmt::format("{}: truncated: the header promises {} ({} bytes) but the {}data ends "
                        "after {} bytes{}",
                        r.path(), h.what, h.bytes, decompressed, have, r.cut_note()));
    };
    auto trailing = [&](std::string_view extra) {
        return data_error(
            fmt::format("{}: {} after the {} bytes of data the header promises ({}): the file "
                        "does not match its header",
                        r.path(), extra, h.bytes, h.what));
    };
    if (auto size = r.plain_size()) {
        if (*size < h.offset + h.bytes) throw truncated(*size - h.offset);
        if (*size > h.offset + h.bytes)
            throw trailing(fmt::format("{} more bytes", *size - h.offset - h.bytes));
    }
    constexpr std::size_t chunk = std::size_t(1) << 20;
    std::vector<std::uint8_t> buf;
    std::size_t have = 0;
    while (have < h.bytes) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, h.bytes - have));
        if (buf.size() < have + want) {
            const std::size_t grown = static_cast<std::size_t>(
                std::min<std::uint64_t>(h.bytes, std::max<std::uint64_t>(have + want, 2 * buf.size())));
            buf.reserve(grown);  // exactly `grown`: resize alone may over-allocate
            buf.resize(grown);
        }
        const std::size_t got = r.read(buf.data() + have, want);
        have += got;
        if (got < want) throw truncated(have);
    }
    unsigned char extra = 0;
    if (r.read(&extra, 1) != 0) throw trailing("more data");
    if (r.cut()) {
        throw data_error(
            fmt::format("{}: truncated gzip stream: all {} bytes of data are present but the stream "
                        "ends before its trailer (zlib: {})",
                        r.path(), h.bytes, r.cut_message()));
    }
    return buf;
}

// ---------------------------------------------------------------------------------------------------
// CSV

std::string_view trim(std::string_view s) {
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!s.empty() && blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && blank(s.back())) s.remove_suffix(1);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    return s;
}

void split_cells(std::string_view line, char delimiter, std::vector<std::string_view>& cells) {
    cells.clear();
    std::size_t start = 0;
    while (true) {
        const std::size_t end = line.find(delimiter, start);
        cells.push_back(trim(line.substr(start, end == std::string_view::npos ? line.npos : end - start)));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
}

/// A cell as a finite double; std::nullopt for text that is not one ("nan", "inf", "abc", "").
/// A number beyond the double range ("1e999") reads as ±Inf (the caller says it is too large); one below
/// the smallest subnormal ("1e-999") reads as ±0, as strtod rounds it.
std::optional<double> parse_number(std::string_view s) {
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    if (s.empty()) return std::nullopt;
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (end != s.data() + s.size()) return std::nullopt;
    if (ec == std::errc::result_out_of_range) {
        // from_chars leaves v alone when the number overflows or underflows: let strtod round it.
        const std::string text(s);
        char* stop = nullptr;
        v = std::strtod(text.c_str(), &stop);
        return stop == text.c_str() + text.size() ? std::optional<double>(v) : std::nullopt;
    }
    if (ec != std::errc() || !std::isfinite(v)) return std::nullopt;
    return v;
}

constexpr double max_csv_label = 65535;

// ---------------------------------------------------------------------------------------------------
// Synthetic sets

struct point {
    double x, y;
    int label;
};

void check_synthetic(std::string_view fn, double noise) {
    if (!(noise >= 0) || !std::isfinite(noise))
        throw data_error(fmt::format("{}: noise must be a finite number ≥ 0, not {}", fn, noise));
}

/// Shuffles the points (with the generator that made them) into x [2 × n], y [1 × n].
template <class T>
dataset<T> from_points(std::vector<point>& pts, std::size_t classes, std::mt19937_64& g) {
    shuffle(pts, g);
    const std::size_t n = pts.size();
    dataset<T> ds;
    ds.x = matrix<T>({2, n});
    ds.y = matrix<T>({1, n});
    for (std::size_t j = 0; j < n; ++j) {
        ds.x(0, j) = static_cast<T>(pts[j].x);
        ds.x(1, j) = static_cast<T>(pts[j].y);
        ds.y(0, j) = static_cast<T>(pts[j].label);
    }
    ds.classes = classes;
    ds.feature_names = {"x1", "x2"};
    return ds;
}

template <class T>
void gather_columns(const matrix<T>& src, std::span<const std::size_t> cols, matrix<T>& dst) {
    const std::size_t rows = src.shape()[0], n = src.shape()[1], m = cols.size();
    detail::ensure_shape(dst, {rows, m});
    for (std::size_t r = 0; r < rows; ++r) {
        const T* s = src.data() + r * n;
        T* d = dst.data() + r * m;
        for (std::size_t k = 0; k < m; ++k) d[k] = s[cols[k]];
    }
}

/// Rows of the label matrix a batch or subset carries: 0 for an unlabelled set.
template <class T>
std::size_t label_rows(const dataset<T>& ds, std::string_view fn) {
    if (ds.y.size() == 0) return 0;
    if (ds.y.shape()[1] != ds.size()) {
        throw data_error(fmt::format("{}: the labels are {} but x has {} columns (examples)", fn,
                                     to_string(shape_of(ds.y)), ds.size()));
    }
    return ds.y.shape()[0];
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// IDX

template <class T>
dataset<T> load_idx(const fs::path& images, const fs::path& labels, std::size_t classes) {
    if (classes == 0 || classes > 256)
        throw data_error(fmt::format("load_idx: classes must be in [1, 256], not {}", classes));
    // Both headers first: nothing is allocated until both files agree with each other.
    byte_reader ri(images), rl(labels);
    const idx_header hi = read_idx_header(ri, 3, "images");
    const idx_header hl = read_idx_header(rl, 1, "labels");
    if (hi.dims[0] != hl.dims[0]) {
        throw data_error(fmt::format("{} holds {} images but {} holds {} labels", ri.path(), hi.dims[0],
                                     rl.path(), hl.dims[0]));
    }
    const std::vector<std::uint8_t> lab = read_idx_payload(rl, hl);
    const std::size_t n = hi.dims[0];
    for (std::size_t j = 0; j < n; ++j) {
        if (lab[j] >= classes) {
            throw data_error(
                fmt::format("{}: label {} of example {} is not in [0, {})", rl.path(), lab[j], j, classes));
        }
    }
    const std::vector<std::uint8_t> pix = read_idx_payload(ri, hi);

    dataset<T> ds;
    const std::size_t f = std::size_t(hi.dims[1]) * hi.dims[2];
    ds.x = matrix<T>({f, n});
    std::array<T, 256> scaled;
    for (int v = 0; v < 256; ++v) scaled[v] = static_cast<T>(v) / T(255);  // exactly rounded v/255
    // Transpose [n × f] bytes into [f × n] in 64×64 blocks (both sides stay in cache).
    constexpr std::size_t blk = 64;
    T* x = ds.x.data();
    for (std::size_t j0 = 0; j0 < n; j0 += blk) {
        const std::size_t j1 = std::min(n, j0 + blk);
        for (std::size_t p0 = 0; p0 < f; p0 += blk) {
            const std::size_t p1 = std::min(f, p0 + blk);
            for (std::size_t p = p0; p < p1; ++p)
                for (std::size_t j = j0; j < j1; ++j) x[p * n + j] = scaled[pix[j * f + p]];
        }
    }
    ds.y = matrix<T>({1, n});
    for (std::size_t j = 0; j < n; ++j) ds.y.data()[j] = static_cast<T>(lab[j]);
    ds.classes = classes;
    return ds;
}

template <class T>
dataset<T> load_mnist(const fs::path& dir, std::string_view split) {
    std::string prefix;
    if (split == "train") {
        prefix = "train";
    } else if (split == "test" || split == "t10k") {
        prefix = "t10k";
    } else {
        throw data_error(fmt::format("load_mnist: split must be \"train\" or \"test\", not \"{}\"", split));
    }
    auto find = [&](std::string_view kind, std::string_view idx) {
        std::vector<fs::path> tried;
        for (const char* sep : {"-", "."}) {
            for (const char* ext : {".gz", ""}) {
                tried.push_back(dir / fmt::format("{}-{}{}{}-ubyte{}", prefix, kind, sep, idx, ext));
                std::error_code ec;
                if (fs::is_regular_file(tried.back(), ec)) return tried.back();
            }
        }
        std::string list;
        for (const auto& p : tried) list += fmt::format("\n  {}", p.string());
        std::error_code ec;
        const std::string_view note = fs::is_directory(dir, ec) ? "" : " (the directory does not exist)";
        throw data_error(fmt::format("load_mnist: no {} {} file in {}{}; tried:{}", split, kind, dir.string(),
                                     note, list));
    };
    const fs::path images = find("images", "idx3");
    const fs::path labels = find("labels", "idx1");
    dataset<T> ds = load_idx<T>(images, labels, 10);
    ds.class_names = mnist_class_names();
    return ds;
}

std::vector<std::string> mnist_class_names() {
    return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
}

std::vector<std::string> fashion_mnist_class_names() {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

// ---------------------------------------------------------------------------------------------------
// CSV

template <class T>
dataset<T> load_csv(const fs::path& path, const csv_options& options) {
    const std::string name = path.string();
    check_openable(path);
    std::string text;
    {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw data_error(fmt::format("{}: cannot open: {}", name, errno_text(errno)));
        std::ostringstream ss;
        ss << in.rdbuf();
        text = std::move(ss).str();
    }

    std::vector<std::string_view> cells;
    std::vector<std::string> header;
    std::vector<double> values;      // n × features, row-major
    std::vector<double> label_vals;  // n
    std::size_t columns = 0, first_line = 0, label_col = 0, line_no = 0;
    bool have_columns = false, labelled = options.label_column.has_value();
    auto column_name = [&](std::size_t c) {
        return header.empty() ? fmt::format("column {}", c + 1)
                              : fmt::format("column {} ('{}')", c + 1, header[c]);
    };
    auto set_columns = [&](std::size_t count) {
        columns = count;
        have_columns = true;
        if (labelled) {
            const int lc = *options.label_column;
            const long long idx = lc >= 0 ? lc : static_cast<long long>(count) + lc;
            if (idx < 0 || idx >= static_cast<long long>(count)) {
                throw data_error(
                    fmt::format("{}: label_column {} is outside the table's {} columns", name, lc, count));
            }
            label_col = static_cast<std::size_t>(idx);
        }
        if (count - (labelled ? 1 : 0) == 0) {
            throw data_error(fmt::format("{}: no feature columns (the table has {} column{}{})", name, count,
                                         count == 1 ? "" : "s", labelled ? ", the labels" : ""));
        }
    };

    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string_view line(text.data() + pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        split_cells(line, options.delimiter, cells);
        if (!have_columns && options.header) {
            set_columns(cells.size());
            first_line = line_no;
            for (auto c : cells) header.emplace_back(c);
            continue;
        }
        if (!have_columns) {
            set_columns(cells.size());
            first_line = line_no;
        }
        if (cells.size() != columns) {
            throw data_error(fmt::format("{}:{}: ragged row: {} cell{} but {} {} has {}", name, line_no,
                                         cells.size(), cells.size() == 1 ? "" : "s",
                                         options.header ? "the header" : "the first row",
                                         fmt::format("(line {})", first_line), columns));
        }
        for (std::size_t c = 0; c < columns; ++c) {
            const auto v = parse_number(cells[c]);
            if (labelled && c == label_col) {
                if (!v || *v < 0 || *v != std::floor(*v) || *v > max_csv_label) {
                    throw data_error(fmt::format(
                        "{}:{}: label '{}' in {} is not a class index (an integer in [0, {}]); use "
                        "csv_options::label_column = std::nullopt for a table without labels",
                        name, line_no, cells[c], column_name(c), max_csv_label));
                }
                label_vals.push_back(*v);
                continue;
            }
            if (!v) {
                throw data_error(fmt::format(
                    "{}:{}: {}: {} is not a number", name, line_no, column_name(c),
                    cells[c].empty() ? std::string("empty cell") : fmt::format("'{}'", cells[c])));
            }
            // Beyond the range of T (1e39 as float, 1e999 as anything): would load as Inf (fuzz_csv found the
            // first one).
            if (!(std::abs(*v) <= static_cast<double>(std::numeric_limits<T>::max()))) {
                throw data_error(fmt::format(
                    "{}:{}: {}: '{}' is too large for {} (at most {:g} in magnitude)", name, line_no,
                    column_name(c), cells[c], std::is_same_v<T, float> ? "float" : "double",
                    static_cast<double>(std::numeric_limits<T>::max())));
            }
            values.push_back(*v);
        }
    }
    if (!have_columns) throw data_error(fmt::format("{}: empty file", name));
    const std::size_t f = columns - (labelled ? 1 : 0);
    const std::size_t n = values.size() / f;
    if (n == 0) throw data_error(fmt::format("{}: no data rows after the header", name));

    dataset<T> ds;
    ds.x = matrix<T>({f, n});
    for (std::size_t j = 0; j < n; ++j)
        for (std::size_t p = 0; p < f; ++p) ds.x(p, j) = static_cast<T>(values[j * f + p]);
    if (labelled) {
        ds.y = matrix<T>({1, n});
        double top = -1;
        for (std::size_t j = 0; j < n; ++j) {
            ds.y(0, j) = static_cast<T>(label_vals[j]);
            top = std::max(top, label_vals[j]);
        }
        ds.classes = static_cast<std::size_t>(top) + 1;
    } else {
        ds.y = matrix<T>({0, n});
    }
    for (std::size_t c = 0; c < header.size(); ++c)
        if (!labelled || c != label_col) ds.feature_names.push_back(header[c]);
    return ds;
}

// ---------------------------------------------------------------------------------------------------
// Synthetic sets (after the TensorFlow Playground's dataset.ts)

template <class T>
dataset<T> make_circle(std::size_t n, double noise, std::uint64_t seed) {
    check_synthetic("make_circle", noise);
    constexpr double radius = 5, two_pi = 2 * std::numbers::pi;
    std::mt19937_64 g(seed);
    std::vector<point> pts;
    pts.reserve(n);
    auto add = [&](double r_lo, double r_hi) {
        const double r = uniform(g, r_lo, r_hi), angle = uniform(g, 0, two_pi);
        const double x = r * std::sin(angle), y = r * std::cos(angle);
        const double nx = uniform(g, -radius, radius) * noise, ny = uniform(g, -radius, radius) * noise;
        const int label = std::hypot(x + nx, y + ny) < radius * 0.5 ? 1 : 0;
        pts.push_back({x, y, label});
    };
    for (std::size_t i = 0; i < n / 2; ++i) add(0, radius * 0.5);       // inside: class 1
    for (std::size_t i = n / 2; i < n; ++i) add(radius * 0.7, radius);  // ring: class 0
    return from_points<T>(pts, 2, g);
}

template <class T>
dataset<T> make_xor(std::size_t n, double noise, std::uint64_t seed) {
    check_synthetic("make_xor", noise);
    constexpr double padding = 0.3;
    std::mt19937_64 g(seed);
    std::vector<point> pts;
    pts.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        double x = uniform(g, -5, 5);
        x += x > 0 ? padding : -padding;
        double y = uniform(g, -5, 5);
        y += y > 0 ? padding : -padding;
        const double nx = uniform(g, -5, 5) * noise, ny = uniform(g, -5, 5) * noise;
        pts.push_back({x, y, (x + nx) * (y + ny) >= 0 ? 1 : 0});
    }
    return from_points<T>(pts, 2, g);
}

template <class T>
dataset<T> make_gauss(std::size_t n, double noise, std::uint64_t seed) {
    check_synthetic("make_gauss", noise);
    const double sd = std::sqrt(0.5 + 7 * noise);  // variance 0.5 … 4 for noise 0 … 0.5
    std::mt19937_64 g(seed);
    std::vector<point> pts;
    pts.reserve(n);
    auto add = [&](double cx, double cy, int label) {
        const double x = cx + sd * normal(g), y = cy + sd * normal(g);
        pts.push_back({x, y, label});
    };
    for (std::size_t i = 0; i < n / 2; ++i) add(2, 2, 1);
    for (std::size_t i = n / 2; i < n; ++i) add(-2, -2, 0);
    return from_points<T>(pts, 2, g);
}

template <class T>
dataset<T> make_spiral(std::size_t n, std::size_t arms, double noise, std::uint64_t seed) {
    check_synthetic("make_spiral", noise);
    if (arms < 2) throw data_error(fmt::format("make_spiral: arms must be at least 2, not {}", arms));
    constexpr double two_pi = 2 * std::numbers::pi;
    std::mt19937_64 g(seed);
    std::vector<point> pts;
    pts.reserve(n);
    for (std::size_t k = 0; k < arms; ++k) {
        const std::size_t m = n / arms + (k < n % arms ? 1 : 0);
        const double delta = two_pi * static_cast<double>(k) / static_cast<double>(arms);
        for (std::size_t i = 0; i < m; ++i) {
            const double frac = static_cast<double>(i) / static_cast<double>(m);
            const double r = 5 * frac, t = 1.75 * frac * two_pi + delta;
            const double x = r * std::sin(t) + uniform(g, -1, 1) * noise;
            const double y = r * std::cos(t) + uniform(g, -1, 1) * noise;
            pts.push_back({x, y, static_cast<int>(k)});
        }
    }
    return from_points<T>(pts, arms, g);
}

// ---------------------------------------------------------------------------------------------------
// standardizer

namespace {
template <class T>
constexpr const char* real_name() {
    return std::is_same_v<T, float> ? "float" : "double";
}
template <class T>
bool fits(double v) {
    return std::abs(v) <= static_cast<double>(std::numeric_limits<T>::max());
}
}  // namespace

// The statistics and the scaling are computed in double: for float data nothing overflows there (|x| ≤
// 3.4e38, so squares ≤ 1.2e77); x − mean in float would (−3.4e38 − 1.1e38). What T cannot hold is refused,
// naming the feature, before anything is stored or written.
template <class T>
standardizer<T>& standardizer<T>::fit(const matrix<T>& x) {
    const std::size_t f = x.shape()[0], n = x.shape()[1];
    if (n == 0)
        throw data_error(
            fmt::format("standardizer::fit: x is {}: no columns (examples)", to_string(shape_of(x))));
    matrix<T> offsets({f, 1}), scales({f, 1});
    for (std::size_t r = 0; r < f; ++r) {
        const T* row = x.data() + r * n;
        for (std::size_t j = 0; j < n; ++j) {
            if (!std::isfinite(row[j])) {
                throw data_error(fmt::format(
                    "standardizer::fit: feature {} of example {} is {} (every value must be finite)", r, j,
                    row[j]));
            }
        }
        const auto [lo, hi] = std::minmax_element(row, row + n);
        double offset = 0, scale = 0;
        if (m_method == scaling::standard) {
            for (std::size_t j = 0; j < n; ++j) offset += static_cast<double>(row[j]);
            offset /= static_cast<double>(n);
            for (std::size_t j = 0; j < n; ++j) {
                const double d = static_cast<double>(row[j]) - offset;
                scale += d * d;
            }
            scale = std::sqrt(scale / static_cast<double>(n));
        } else {
            offset = static_cast<double>(*lo);
            scale = static_cast<double>(*hi) - static_cast<double>(*lo);
        }
        const bool offset_ok = std::isfinite(offset) && fits<T>(offset);
        if (!offset_ok || !std::isfinite(scale) || !fits<T>(scale)) {
            const char* stat = !offset_ok                      ? "mean"
                               : m_method == scaling::standard ? "standard deviation"
                                                               : "range max − min";
            throw data_error(
                fmt::format("standardizer::fit: feature {} (values from {} to {}): its {} {:.6g} is beyond "
                            "what {} holds; "
                            "rescale this feature first",
                            r, *lo, *hi, stat, offset_ok ? scale : offset, real_name<T>()));
        }
        offsets(r, 0) = static_cast<T>(offset);
        scales(r, 0) = scale > 0 && static_cast<T>(scale) > T(0) ? static_cast<T>(scale) : T(1);
    }
    m_offset = std::move(offsets);
    m_scale = std::move(scales);
    return *this;
}

template <class T>
void standardizer<T>::check(const matrix<T>& x, const char* what) const {
    if (!fitted()) throw data_error(fmt::format("standardizer::{}: not fitted (call fit first)", what));
    if (x.shape()[0] != m_offset.shape()[0]) {
        throw data_error(
            fmt::format("standardizer::{}: x is {} but the standardizer was fitted on {} features", what,
                        to_string(shape_of(x)), m_offset.shape()[0]));
    }
}

template <class T>
template <class F>
void standardizer<T>::map(matrix<T>& x, const char* what, F&& f) const {
    check(x, what);
    const std::size_t rows = x.shape()[0], n = x.shape()[1];
    // First check every result, then write: a refused x is left as it was.
    for (std::size_t r = 0; r < rows; ++r) {
        const T* row = x.data() + r * n;
        const double o = static_cast<double>(m_offset(r, 0)), s = static_cast<double>(m_scale(r, 0));
        for (std::size_t j = 0; j < n; ++j) {
            const double v = f(static_cast<double>(row[j]), o, s);
            if (!std::isfinite(v) || !fits<T>(v)) {
                throw data_error(fmt::format(
                    "standardizer::{}: feature {} of example {} is {}, which maps to {:.6g} with offset {} "
                    "and scale {}: {} cannot hold it (the data is far outside what the standardizer was "
                    "fitted on)",
                    what, r, j, row[j], v, m_offset(r, 0), m_scale(r, 0), real_name<T>()));
            }
        }
    }
    for (std::size_t r = 0; r < rows; ++r) {
        T* row = x.data() + r * n;
        const double o = static_cast<double>(m_offset(r, 0)), s = static_cast<double>(m_scale(r, 0));
        for (std::size_t j = 0; j < n; ++j) row[j] = static_cast<T>(f(static_cast<double>(row[j]), o, s));
    }
}

template <class T>
void standardizer<T>::apply(matrix<T>& x) const {
    map(x, "apply", [](double v, double o, double s) { return (v - o) / s; });
}

template <class T>
void standardizer<T>::invert(matrix<T>& x) const {
    map(x, "invert", [](double v, double o, double s) { return v * s + o; });
}

// ---------------------------------------------------------------------------------------------------
// subset, split

template <class T>
dataset<T> subset(const dataset<T>& ds, std::span<const std::size_t> columns) {
    const std::size_t n = ds.size();
    const std::size_t yrows = label_rows(ds, "subset");
    for (std::size_t k = 0; k < columns.size(); ++k) {
        if (columns[k] >= n) {
            throw data_error(fmt::format("subset: column {} (entry {}) is outside the data set's {} examples",
                                         columns[k], k, n));
        }
    }
    dataset<T> out;
    gather_columns(ds.x, columns, out.x);
    if (yrows) {
        gather_columns(ds.y, columns, out.y);
    } else {
        out.y = matrix<T>({0, columns.size()});
    }
    out.classes = ds.classes;
    out.class_names = ds.class_names;
    out.feature_names = ds.feature_names;
    return out;
}

template <class T>
std::pair<dataset<T>, dataset<T>> split(const dataset<T>& ds, double validation_fraction,
                                        std::uint64_t seed) {
    if (!(validation_fraction >= 0 && validation_fraction <= 1)) {
        throw data_error(
            fmt::format("split: validation_fraction must be in [0, 1], not {}", validation_fraction));
    }
    const std::size_t n = ds.size();
    const auto n_val = std::min<std::size_t>(
        n, static_cast<std::size_t>(std::llround(static_cast<double>(n) * validation_fraction)));
    const std::vector<std::size_t> p = permutation(n, seed);
    const std::span<const std::size_t> all(p);
    return {subset(ds, all.subspan(n_val)), subset(ds, all.first(n_val))};
}

// ---------------------------------------------------------------------------------------------------
// batcher

template <class T>
batcher<T>::batcher(const dataset<T>& ds, std::size_t batch_size, std::uint64_t seed, bool shuffle)
    : m_ds(&ds), m_batch(batch_size), m_shuffle(shuffle), m_rng(seed) {
    if (batch_size == 0) throw data_error("batcher: batch_size must be at least 1");
    label_rows(ds, "batcher");
}

template <class T>
void batcher<T>::start_epoch() {
    const std::size_t n = m_ds->size();
    m_order.resize(n);  // no allocation after the first epoch
    std::iota(m_order.begin(), m_order.end(), std::size_t(0));
    if (m_shuffle) shuffle(m_order, m_rng);
    m_begin = m_count = 0;
    m_started = true;
    ++m_epoch;
}

template <class T>
bool batcher<T>::next() {
    if (!m_started) start_epoch();
    const std::size_t n = m_ds->size(), pos = m_begin + m_count;
    if (pos >= n) return false;
    const std::size_t count = std::min(m_batch, n - pos);
    const std::span<const std::size_t> cols = std::span<const std::size_t>(m_order).subspan(pos, count);
    m_batch_full = count == m_batch;
    matrix<T>& bx = m_batch_full ? m_x_full : m_x_tail;
    matrix<T>& by = m_batch_full ? m_y_full : m_y_tail;
    gather_columns(m_ds->x, cols, bx);
    if (label_rows(*m_ds, "batcher::next")) {
        gather_columns(m_ds->y, cols, by);
    } else {
        detail::ensure_shape(by, {0, count});
    }
    m_begin = pos;
    m_count = count;
    return true;
}

// ---------------------------------------------------------------------------------------------------

#define XGRAD_INSTANTIATE(T)                                                                       \
    template dataset<T> load_idx<T>(const fs::path&, const fs::path&, std::size_t);                \
    template dataset<T> load_mnist<T>(const fs::path&, std::string_view);                          \
    template dataset<T> load_csv<T>(const fs::path&, const csv_options&);                          \
    template dataset<T> make_circle<T>(std::size_t, double, std::uint64_t);                        \
    template dataset<T> make_xor<T>(std::size_t, double, std::uint64_t);                           \
    template dataset<T> make_gauss<T>(std::size_t, double, std::uint64_t);                         \
    template dataset<T> make_spiral<T>(std::size_t, std::size_t, double, std::uint64_t);           \
    template dataset<T> subset<T>(const dataset<T>&, std::span<const std::size_t>);                \
    template std::pair<dataset<T>, dataset<T>> split<T>(const dataset<T>&, double, std::uint64_t); \
    template class standardizer<T>;                                                                \
    template class batcher<T>;

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad::data
