// Data files: the IDX (MNIST, Fashion-MNIST) and CSV loaders. The data sets they return are data::dataset
// (src/core/data.cpp).
#include "xgrad/io/loaders.hpp"

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
#define XGRAD_INSTANTIATE(T)                                                        \
    template dataset<T> load_idx<T>(const fs::path&, const fs::path&, std::size_t); \
    template dataset<T> load_mnist<T>(const fs::path&, std::string_view);           \
    template dataset<T> load_csv<T>(const fs::path&, const csv_options&);

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad::data
