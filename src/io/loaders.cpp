// Data files: the IDX (MNIST, Fashion-MNIST) and CSV loaders. The data sets they return are data::dataset
// (src/core/data.cpp).
//
// Memory is bounded by what the files really hold: every size a header promises is checked against the bytes
// present (and the documented limits of loaders.hpp) before anything is allocated, and both loaders stream
// their input (or, for a gzip IDX file, decode it whole into the matrix it becomes), so the peak is about
// the data set they return plus small buffers (and the compressed file).
#include "xgrad/io/loaders.hpp"

#include <fcntl.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

namespace xgrad::data {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------------
// Files

std::string errno_text(int e) {
    return e ? std::strerror(e) : "unknown error";
}

/// "a FIFO", "a character device", …: what a path that is not a regular file is.
std::string_view file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

/// An open regular file. Opening never blocks and never reads: a FIFO, a device (/dev/zero) or a directory
/// is refused from fstat of a non-blocking open, before a single byte is read.
class regular_file {
public:
    explicit regular_file(const fs::path& p) : m_path(p.string()) {
        m_fd = ::open(m_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (m_fd < 0) {
            const int e = errno;
            if (e == ENOENT) throw data_error(fmt::format("{}: cannot open: no such file", m_path));
            throw data_error(fmt::format("{}: cannot open: {}", m_path, errno_text(e)));
        }
        struct stat st {};
        if (::fstat(m_fd, &st) != 0) {
            const int e = errno;
            ::close(m_fd);
            throw data_error(fmt::format("{}: cannot open: {}", m_path, errno_text(e)));
        }
        if (S_ISDIR(st.st_mode)) {
            ::close(m_fd);
            throw data_error(fmt::format("{}: cannot open: is a directory", m_path));
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(m_fd);
            throw data_error(fmt::format("{}: cannot read: it is {}; data files must be regular files",
                                         m_path, file_kind(st.st_mode)));
        }
        m_size = static_cast<std::uint64_t>(st.st_size);
        ::fcntl(m_fd, F_SETFL, ::fcntl(m_fd, F_GETFL) & ~O_NONBLOCK);
    }
    ~regular_file() {
        if (m_fd >= 0) ::close(m_fd);
    }
    regular_file(const regular_file&) = delete;
    regular_file& operator=(const regular_file&) = delete;

    const std::string& path() const { return m_path; }
    int fd() const { return m_fd; }
    std::uint64_t size() const { return m_size; }
    /// Gives up the descriptor (gzdopen takes it over).
    int release() { return std::exchange(m_fd, -1); }

    /// Reads up to n bytes; fewer only at the end of the file.
    std::size_t read(void* buf, std::size_t n) {
        auto* out = static_cast<char*>(buf);
        std::size_t have = 0;
        while (have < n) {
            const ssize_t got = ::read(m_fd, out + have, std::min<std::size_t>(n - have, 1u << 30));
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) throw data_error(fmt::format("{}: read error: {}", m_path, errno_text(errno)));
            if (got == 0) break;
            have += static_cast<std::size_t>(got);
        }
        return have;
    }

private:
    std::string m_path;
    int m_fd = -1;
    std::uint64_t m_size = 0;
};

/// A regular file read sequentially, plain or gzip-compressed (gzip magic 1f 8b), through zlib.
class byte_reader {
public:
    explicit byte_reader(const fs::path& p) {
        regular_file f(p);
        m_path = f.path();
        m_file_size = f.size();
        unsigned char magic[2] = {0, 0};
        const ssize_t got = ::pread(f.fd(), magic, 2, 0);
        m_gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        const int fd = f.release();
        m_gz = gzdopen(fd, "rb");
        if (!m_gz) {
            ::close(fd);
            throw data_error(fmt::format("{}: cannot open: {}", m_path, errno_text(errno)));
        }
        gzbuffer(m_gz, 1u << 17);
    }
    byte_reader(const byte_reader&) = delete;
    byte_reader& operator=(const byte_reader&) = delete;
    ~byte_reader() {
        if (m_gz) gzclose(m_gz);
    }

    const std::string& path() const { return m_path; }
    bool gzip() const { return m_gzip; }
    /// The size of the file itself (compressed, for a gzip file).
    std::uint64_t file_size() const { return m_file_size; }

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
    /// zlib's error text without the "<fd:N>: " or "path: " it prefixes.
    std::string zlib_message(int* errnum) const {
        std::string_view msg = gzerror(m_gz, errnum);
        if (msg.starts_with("<fd:")) {
            const auto colon = msg.find(": ");
            if (colon != std::string_view::npos) msg.remove_prefix(colon + 2);
        }
        if (msg.starts_with(m_path + ": ")) msg.remove_prefix(m_path.size() + 2);
        return std::string(msg);
    }

    std::string m_path;
    gzFile m_gz = nullptr;
    bool m_gzip = false;
    std::uint64_t m_file_size = 0;
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

/// Reads and checks the header of an IDX file of unsigned bytes with `rank` dimensions; `value_size` is the
/// size of the T each byte becomes (the decoded matrix must fit in max_idx_matrix_bytes).
idx_header read_idx_header(byte_reader& r, unsigned rank, std::string_view kind, std::size_t value_size,
                           std::string_view type) {
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
    if (product > max_idx_matrix_bytes / value_size) {
        std::uint64_t matrix_bytes = 0;
        const std::string size = __builtin_mul_overflow(product, std::uint64_t(value_size), &matrix_bytes)
                                     ? std::string("more than 2^64")
                                     : std::to_string(matrix_bytes);
        throw data_error(fmt::format(
            "{}: bad header: {} ({} bytes) would make a {} matrix of {} bytes, more than the {} bytes "
            "accepted (max_idx_matrix_bytes)",
            r.path(), h.what, product, type, size, max_idx_matrix_bytes));
    }
    h.bytes = product;
    return h;
}

/// Before anything is allocated: can the file hold the payload its header promises? A plain file must have
/// exactly that size; a gzip file cannot decompress to more than 1032 times its own size (deflate's limit).
void check_payload_fits(const byte_reader& r, const idx_header& h) {
    const std::uint64_t need = h.offset + h.bytes, size = r.file_size();
    if (!r.gzip()) {
        if (size < need)
            throw data_error(fmt::format(
                "{}: truncated: the header promises {} ({} bytes) but the data ends after {} bytes", r.path(),
                h.what, h.bytes, size - h.offset));
        if (size > need)
            throw data_error(
                fmt::format("{}: {} more bytes after the {} bytes of data the header promises ({}): the file "
                            "does not match its "
                            "header",
                            r.path(), size - need, h.bytes, h.what));
        return;
    }
    constexpr std::uint64_t deflate_ratio = 1032;
    if (need / deflate_ratio > size) {
        throw data_error(
            fmt::format("{}: truncated: the header promises {} ({} bytes) but a gzip file of {} bytes "
                        "decompresses to at most "
                        "{} bytes (deflate's limit is 1032:1)",
                        r.path(), h.what, h.bytes, size, size * deflate_ratio));
    }
}

/// Streams the payload promised by `h` to `sink(bytes, count, offset)` in chunks of at most `chunk` bytes,
/// each ending on a multiple of `unit` bytes where possible. Truncation and trailing bytes are errors.
template <class Sink>
void stream_idx_payload(byte_reader& r, const idx_header& h, std::size_t unit, Sink&& sink) {
    const std::string decompressed = r.gzip() ? "decompressed " : "";
    constexpr std::size_t chunk = std::size_t(1) << 20;
    const std::size_t step = unit >= chunk ? chunk : chunk / unit * unit;
    std::vector<std::uint8_t> buf(static_cast<std::size_t>(std::min<std::uint64_t>(step, h.bytes)));
    std::uint64_t have = 0;
    while (have < h.bytes) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(step, h.bytes - have));
        const std::size_t got = r.read(buf.data(), want);
        if (got < want) {
            throw data_error(
                fmt::format("{}: truncated: the header promises {} ({} bytes) but the {}data ends "
                            "after {} bytes{}",
                            r.path(), h.what, h.bytes, decompressed, have + got, r.cut_note()));
        }
        sink(buf.data(), got, have);
        have += got;
    }
    unsigned char extra = 0;
    if (r.read(&extra, 1) != 0) {
        throw data_error(
            fmt::format("{}: more data after the {} bytes of data the header promises ({}): the file "
                        "does not match its header",
                        r.path(), h.bytes, h.what));
    }
    if (r.cut()) {
        throw data_error(
            fmt::format("{}: truncated gzip stream: all {} bytes of data are present but the stream "
                        "ends before its trailer (zlib: {})",
                        r.path(), h.bytes, r.cut_message()));
    }
}

/// A gzip IDX file decoded in one call by libdeflate (2.2× zlib's streaming inflate on Fashion-MNIST's
/// training images, docs/performance.md) into `out`, exactly the header's `offset + bytes`. Taken only when
/// the file can be nothing but that: its ISIZE trailer (the decompressed size mod 2³²) is that size and the
/// compressed file, which is read whole, is at most that size plus deflate's stored-block overhead and 64
/// KiB (check_payload_fits has already compared the header with the file's real size). Returns false for
/// anything else — another size, a stream libdeflate refuses (corrupt, cut short, a CRC or ISIZE mismatch),
/// more than one gzip member, bytes after the member — having written only into `out`; the caller then
/// streams the file through zlib (stream_idx_payload), which gives every error its catalogued message, or
/// accepts what zlib accepts.
bool inflate_whole(const byte_reader& r, const idx_header& h, std::uint8_t* out) {
    if (!r.gzip()) return false;
    const std::uint64_t need = h.offset + h.bytes, size = r.file_size();
    constexpr std::uint64_t slack = 1u << 16;
    if (size < 18 || size > need + need / 8192 + slack) return false;  // stored blocks: 5 bytes per 65535
    regular_file f(r.path());
    if (f.size() != size) return false;
    unsigned char isize[4];
    if (::pread(f.fd(), isize, 4, static_cast<off_t>(size - 4)) != 4) return false;
    const std::uint32_t claimed = std::uint32_t(isize[0]) | (std::uint32_t(isize[1]) << 8) |
                                  (std::uint32_t(isize[2]) << 16) | (std::uint32_t(isize[3]) << 24);
    if (claimed != static_cast<std::uint32_t>(need)) return false;
    // Uninitialised: the read fills every byte (a vector would first zero the ~26 MB of a training set).
    const auto in_size = static_cast<std::size_t>(size);
    const auto in = std::make_unique_for_overwrite<std::uint8_t[]>(in_size);
    if (f.read(in.get(), in_size) != in_size) return false;
    std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> d(
        libdeflate_alloc_decompressor(), libdeflate_free_decompressor);
    if (!d) return false;
    std::size_t used = 0, got = 0;
    const libdeflate_result res = libdeflate_gzip_decompress_ex(d.get(), in.get(), in_size, out,
                                                                static_cast<std::size_t>(need), &used, &got);
    return res == LIBDEFLATE_SUCCESS && used == in_size && got == need;
}

/// x[p·n + j0 + a] = scaled[pix[a·stride + p]] for the images a < m and the pixels p0 ≤ p < p1: bytes of
/// image after image into columns of x, in 64×64 blocks (both sides stay in cache).
/// The same for any m images: image(a) is a pointer to the bytes of the image that becomes column j0 + a.
template <class T, class Image>
void images_to_columns(Image&& image, std::size_t m, std::size_t p0, std::size_t p1, T* x, std::size_t n,
                       std::size_t j0, const std::array<T, 256>& scaled) {
    constexpr std::size_t blk = 64;
    const std::uint8_t* rows[blk];
    for (std::size_t a0 = 0; a0 < m; a0 += blk) {
        const std::size_t a1 = std::min(m, a0 + blk);
        for (std::size_t a = a0; a < a1; ++a) rows[a - a0] = image(a);
        for (std::size_t q0 = p0; q0 < p1; q0 += blk) {
            const std::size_t q1 = std::min(p1, q0 + blk);
            for (std::size_t p = q0; p < q1; ++p)
                for (std::size_t a = a0; a < a1; ++a) x[p * n + j0 + a] = scaled[rows[a - a0][p]];
        }
    }
}

template <class T>
void pixels_to_columns(const std::uint8_t* pix, std::size_t stride, std::size_t m, std::size_t p0,
                       std::size_t p1, T* x, std::size_t n, std::size_t j0,
                       const std::array<T, 256>& scaled) {
    images_to_columns([&](std::size_t a) { return pix + a * stride; }, m, p0, p1, x, n, j0, scaled);
}

/// x [f × n] ← the n images of f pixels that sit, as the IDX file's bytes (a header of `offset` bytes, then
/// image after image), at the start of x's own storage: no second buffer for the pixels. Row p of x
/// occupies bytes [p·R, (p + 1)·R) of the storage (R = n·sizeof(T)), so the rows that begin past the last
/// byte still needed are written first; the pixels of the rows left (p < p_min) are then moved, image by
/// image, to the start (a compaction towards lower addresses, so nothing unread is overwritten) and the
/// same is done for them, with p_min shrinking about sizeof(T)-fold each round. The last row (p_min = 1),
/// its bytes moved to the start, goes from the last example to the first: x[j] covers bytes
/// [j·sizeof(T), (j + 1)·sizeof(T)), which hold the pixels of examples ≥ j, already read.
template <class T>
void columns_in_place(T* x, std::size_t f, std::size_t n, std::size_t offset,
                      const std::array<T, 256>& scaled) {
    auto* bytes = reinterpret_cast<std::uint8_t*>(x);
    const std::size_t row_bytes = n * sizeof(T);
    std::size_t base = offset, stride = f, count = f;  // pixels [0, count) of image j at base + j·stride
    while (count > 1) {
        const std::size_t end = base + n * stride;                    // bytes still needed: [0, end)
        const std::size_t p_min = (end + row_bytes - 1) / row_bytes;  // the first row beyond them
        if (p_min >= count) {  // no row is free (a few tiny images): the rest through a small copy
            std::vector<std::uint8_t> rest(n * count);
            for (std::size_t j = 0; j < n; ++j)
                std::memcpy(rest.data() + j * count, bytes + base + j * stride, count);
            pixels_to_columns(rest.data(), count, n, 0, count, x, n, 0, scaled);
            return;
        }
        pixels_to_columns(bytes + base, stride, n, p_min, count, x, n, 0, scaled);
        for (std::size_t j = 0; j < n; ++j) std::memmove(bytes + j * p_min, bytes + base + j * stride, p_min);
        base = 0;
        stride = count = p_min;
    }
    if (count == 1) {
        for (std::size_t j = 0; j < n; ++j) bytes[j] = bytes[base + j * stride];  // to the start (f = 1)
        for (std::size_t j = n; j-- > 0;) x[j] = scaled[bytes[j]];
    }
}

// ---------------------------------------------------------------------------------------------------
// CSV

/// A cell (or a line) as it may be shown in a message: quoted, at most 40 bytes of it (cut at a UTF-8
/// character boundary and marked with "…"), control characters such as NUL written as \xNN.
std::string shown(std::string_view s) {
    constexpr std::size_t keep = 40;
    bool cut = false;
    if (s.size() > keep) {
        std::size_t n = keep;
        while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not inside a character
        s = s.substr(0, n);
        cut = true;
    }
    std::string out = "'";
    for (char c : s) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else
            out += c;
    }
    return out + (cut ? "…'" : "'");
}

/// A regular file read line by line ('\n' ends a line), each line at most max_csv_line_bytes long: the
/// memory it needs is one line and a 64 KiB buffer, whatever the file holds.
class line_reader {
public:
    explicit line_reader(const fs::path& p) : m_file(p), m_buf(std::size_t(1) << 16) {}

    const std::string& path() const { return m_file.path(); }
    /// The number of the line last returned (1-based).
    std::size_t line_number() const { return m_line; }

    /// The next line, without its '\n'; false at the end of the file.
    bool next(std::string& line) {
        line.clear();
        bool any = false;
        for (;;) {
            if (m_pos == m_end) {
                if (!refill()) {
                    if (any) ++m_line;
                    return any;
                }
            }
            any = true;
            const char* start = m_buf.data() + m_pos;
            const auto* nl = static_cast<const char*>(std::memchr(start, '\n', m_end - m_pos));
            const std::size_t k = nl ? static_cast<std::size_t>(nl - start) : m_end - m_pos;
            if (line.size() + k > max_csv_line_bytes) {
                throw data_error(fmt::format(
                    "{}:{}: the line is longer than the {} bytes accepted (max_csv_line_bytes); it starts {}",
                    path(), m_line + 1, max_csv_line_bytes,
                    shown(line.empty() ? std::string_view(start, k) : line)));
            }
            line.append(start, k);
            m_pos += k;
            if (nl) {
                ++m_pos;
                ++m_line;
                return true;
            }
        }
    }

private:
    bool refill() {
        if (m_eof) return false;
        m_pos = 0;
        m_end = m_file.read(m_buf.data(), m_buf.size());
        if (m_end == 0) m_eof = true;
        return m_end > 0;
    }

    regular_file m_file;
    std::vector<char> m_buf;
    std::size_t m_pos = 0, m_end = 0, m_line = 0;
    bool m_eof = false;
};

std::string_view trim(std::string_view s) {
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!s.empty() && blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && blank(s.back())) s.remove_suffix(1);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    return s;
}

/// Calls f(column, trimmed cell) for every cell of `line`, left to right, without storing them.
template <class F>
void for_each_cell(std::string_view line, char delimiter, F&& f) {
    std::size_t start = 0, column = 0;
    while (true) {
        const std::size_t end = line.find(delimiter, start);
        f(column++, line.substr(start, end == std::string_view::npos ? line.npos : end - start));
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

/// Values appended in blocks (no reallocation, so no moment with two copies), read back in order.
template <class T>
class value_store {
public:
    void push(T v) {
        if (m_blocks.empty() || m_last == block) {
            m_blocks.push_back(std::make_unique<T[]>(block));
            m_last = 0;
        }
        m_blocks.back()[m_last++] = v;
        ++m_size;
    }
    std::size_t size() const { return m_size; }
    /// Calls f(k, value) for k = 0, 1, … in order, releasing each block once it is read.
    template <class F>
    void drain(F&& f) {
        std::size_t k = 0;
        while (!m_blocks.empty()) {
            const std::size_t n = m_blocks.size() == 1 ? m_last : block;
            const T* b = m_blocks.front().get();
            for (std::size_t i = 0; i < n; ++i) f(k++, b[i]);
            m_blocks.pop_front();
        }
        m_size = 0;
    }

private:
    static constexpr std::size_t block = std::size_t(1) << 16;
    std::deque<std::unique_ptr<T[]>> m_blocks;
    std::size_t m_last = 0, m_size = 0;
};

}  // namespace
// ---------------------------------------------------------------------------------------------------
// IDX

namespace {

/// An IDX image file and its label file, opened and checked against each other and against their sizes
/// (magic, dimensions, equal counts, what the files can hold): nothing is allocated before this passes.
struct idx_pair {
    std::size_t classes;  // checked before either file is opened
    byte_reader ri, rl;
    idx_header hi, hl;

    idx_pair(const fs::path& images, const fs::path& labels, std::size_t classes_, std::size_t value_size,
             std::string_view type)
        : classes(checked_classes(classes_)), ri(images), rl(labels) {
        hi = read_idx_header(ri, 3, "images", value_size, type);
        hl = read_idx_header(rl, 1, "labels", value_size, type);
        if (hi.dims[0] != hl.dims[0]) {
            throw data_error(fmt::format("{} holds {} images but {} holds {} labels", ri.path(), hi.dims[0],
                                         rl.path(), hl.dims[0]));
        }
        check_payload_fits(rl, hl);
        check_payload_fits(ri, hi);
    }
    static std::size_t checked_classes(std::size_t classes) {
        if (classes == 0 || classes > 256)
            throw data_error(fmt::format("load_idx: classes must be in [1, 256], not {}", classes));
        return classes;
    }
    std::size_t count() const { return hi.dims[0]; }
    std::size_t pixels() const { return std::size_t(hi.dims[1]) * hi.dims[2]; }

    /// Every label, checked against `classes` in file order, to put(labels, count, first example).
    template <class Put>
    void read_labels(Put&& put) {
        const auto checked = [&](const std::uint8_t* lab, std::size_t count, std::uint64_t first) {
            for (std::size_t k = 0; k < count; ++k) {
                if (lab[k] >= classes) {
                    throw data_error(fmt::format("{}: label {} of example {} is not in [0, {})", rl.path(),
                                                 lab[k], first + k, classes));
                }
            }
            put(lab, count, first);
        };
        if (std::vector<std::uint8_t> whole(rl.gzip() ? hl.offset + hl.bytes : 0);
            rl.gzip() && inflate_whole(rl, hl, whole.data())) {
            checked(whole.data() + hl.offset, count(), 0);
        } else {
            stream_idx_payload(rl, hl, 1, checked);
        }
    }
};

template <class T>
constexpr std::string_view type_name() {
    return std::is_same_v<T, float> ? "float" : "double";
}

template <class T>
std::array<T, 256> pixel_values() {
    std::array<T, 256> scaled;
    for (int v = 0; v < 256; ++v) scaled[v] = static_cast<T>(v) / T(255);  // exactly rounded v/255
    return scaled;
}

}  // namespace

template <class T>
dataset<T> load_idx(const fs::path& images, const fs::path& labels, std::size_t classes) {
    // Both headers first, then whether both files can hold what they promise: nothing is allocated until both
    // files agree with each other and with their sizes.
    idx_pair files(images, labels, classes, sizeof(T), type_name<T>());
    // Straight into the result: the peak is the data set plus small buffers (and, for a gzip file decoded
    // whole, the compressed file).
    const std::size_t n = files.count(), f = files.pixels();
    dataset<T> ds;
    ds.y = matrix<T>({1, n});
    files.read_labels([&](const std::uint8_t* lab, std::size_t count, std::uint64_t first) {
        for (std::size_t k = 0; k < count; ++k) ds.y.data()[first + k] = static_cast<T>(lab[k]);
    });
    ds.x = matrix<T>({f, n});
    const std::array<T, 256> scaled = pixel_values<T>();
    T* x = ds.x.data();
    byte_reader& ri = files.ri;
    const idx_header& hi = files.hi;
    // A gzip file decoded whole into x's own storage (it holds sizeof(T) bytes per pixel) and turned into
    // columns there.
    if (ri.gzip() && hi.offset + hi.bytes <= ds.x.size() * sizeof(T) &&
        inflate_whole(ri, hi, reinterpret_cast<std::uint8_t*>(x))) {
        columns_in_place(x, f, n, static_cast<std::size_t>(hi.offset), scaled);
    } else {
        stream_idx_payload(ri, hi, f, [&](const std::uint8_t* pix, std::size_t count, std::uint64_t first) {
            if (first % f == 0 && count % f == 0) {  // whole images
                pixels_to_columns(pix, f, count / f, 0, f, x, n, static_cast<std::size_t>(first / f), scaled);
            } else {
                // Images larger than a chunk arrive in pieces.
                for (std::size_t k = 0; k < count; ++k) {
                    const std::uint64_t o = first + k;
                    x[(o % f) * n + o / f] = scaled[pix[k]];
                }
            }
        });
    }
    ds.classes = classes;
    return ds;
}

namespace {

/// One data set per list of example indices (column j of part q is example parts[q][j], each <
/// files.count()), as subset(load_idx(…), parts[q]) gives them, without the whole set as T: the pixels are
/// decoded as the file's bytes and each part made from them.
template <class T>
std::vector<dataset<T>> idx_parts(idx_pair& files, std::span<const std::vector<std::size_t>> parts) {
    const std::size_t n = files.count(), f = files.pixels();
    std::vector<std::uint8_t> y(n);
    files.read_labels([&](const std::uint8_t* lab, std::size_t count, std::uint64_t first) {
        std::copy_n(lab, count, y.data() + first);
    });
    // The pixels as the file's bytes (header included when decoded whole), then each part from them.
    byte_reader& ri = files.ri;
    const idx_header& hi = files.hi;
    const auto bytes =
        std::make_unique_for_overwrite<std::uint8_t[]>(static_cast<std::size_t>(hi.offset + hi.bytes));
    const std::uint8_t* pix = bytes.get() + hi.offset;
    if (!(ri.gzip() && inflate_whole(ri, hi, bytes.get()))) {
        stream_idx_payload(ri, hi, f, [&](const std::uint8_t* chunk, std::size_t count, std::uint64_t first) {
            std::copy_n(chunk, count, bytes.get() + hi.offset + first);
        });
    }
    const std::array<T, 256> scaled = pixel_values<T>();
    std::vector<dataset<T>> out(parts.size());
    for (std::size_t q = 0; q < parts.size(); ++q) {
        const std::vector<std::size_t>& part = parts[q];
        const std::size_t m = part.size();
        dataset<T>& ds = out[q];
        ds.y = matrix<T>({1, m});
        for (std::size_t j = 0; j < m; ++j) ds.y.data()[j] = static_cast<T>(y[part[j]]);
        ds.x = matrix<T>({f, m});
        images_to_columns([&](std::size_t a) { return pix + part[a] * f; }, m, 0, f, ds.x.data(), m, 0,
                          scaled);
        ds.classes = files.classes;
    }
    return out;
}

}  // namespace

template <class T>
std::pair<dataset<T>, dataset<T>> load_idx_split(const fs::path& images, const fs::path& labels,
                                                 double validation_fraction, std::uint64_t seed,
                                                 std::size_t classes) {
    split_columns(0, validation_fraction, seed);  // the fraction checked before either file is opened
    idx_pair files(images, labels, classes, sizeof(T), type_name<T>());
    auto [train, validation] = split_columns(files.count(), validation_fraction, seed);
    const std::vector<std::size_t> parts[] = {std::move(train), std::move(validation)};
    std::vector<dataset<T>> sets = idx_parts<T>(files, parts);
    return {std::move(sets[0]), std::move(sets[1])};
}

namespace {

/// The image and label files of an MNIST-style directory for split "train" or "test".
std::pair<fs::path, fs::path> mnist_files(const fs::path& dir, std::string_view split) {
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
    fs::path images = find("images", "idx3");
    return {std::move(images), find("labels", "idx1")};
}

}  // namespace

template <class T>
dataset<T> load_mnist(const fs::path& dir, std::string_view split) {
    const auto [images, labels] = mnist_files(dir, split);
    dataset<T> ds = load_idx<T>(images, labels, 10);
    ds.class_names = mnist_class_names();
    return ds;
}

template <class T>
std::pair<dataset<T>, dataset<T>> load_mnist_split(const fs::path& dir, std::string_view split,
                                                   double validation_fraction, std::uint64_t seed) {
    const auto [images, labels] = mnist_files(dir, split);
    auto sets = load_idx_split<T>(images, labels, validation_fraction, seed, 10);
    sets.first.class_names = sets.second.class_names = mnist_class_names();
    return sets;
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

/// "'a', 'b', 'c', …" (at most 8 names) for messages.
std::string name_list(const std::vector<std::string>& names) {
    std::string s;
    for (std::size_t i = 0; i < names.size() && i < 8; ++i) s += (i ? ", " : "") + shown(names[i]);
    if (names.size() > 8) s += fmt::format(", … ({} in all)", names.size());
    return s;
}

template <class T>
dataset<T> load_csv(const fs::path& path, const csv_options& options) {
    bool labelled = options.label_column.has_value() || options.label_name.has_value();
    const bool by_name = !options.class_names.empty();
    if (options.classes || by_name) {
        if (!labelled)
            throw data_error(
                "load_csv: csv_options::classes or class_names is set but label_column is not (a table "
                "without labels has no classes)");
    }
    if (options.classes) {
        if (*options.classes == 0 || *options.classes > max_csv_classes)
            throw data_error(fmt::format("load_csv: csv_options::classes must be in [1, {}], not {}",
                                         max_csv_classes, *options.classes));
    }
    if (by_name && options.class_names.size() > max_csv_classes)
        throw data_error(fmt::format("load_csv: csv_options::class_names holds {} names, more than {}",
                                     options.class_names.size(), max_csv_classes));
    if (options.label_name && !options.header)
        throw data_error("load_csv: csv_options::label_name needs a header (csv_options::header)");
    std::unordered_map<std::string, std::uint32_t> wanted;  // class_names → class
    for (std::size_t k = 0; k < options.class_names.size(); ++k)
        wanted.emplace(options.class_names[k], static_cast<std::uint32_t>(k));
    const std::size_t expected_features =
        !options.feature_names.empty() ? options.feature_names.size() : options.features;

    line_reader in(path);
    const std::string& name = in.path();
    constexpr std::string_view type = std::is_same_v<T, float> ? "float" : "double";

    std::string line;
    std::vector<std::string> header;
    value_store<T> values;              // n × features, row-major
    std::vector<std::uint32_t> labels;  // n: the class (by_name, classes) or the id of the label's text
    std::unordered_map<std::string, std::uint32_t> ids;  // label text → id, in order of first appearance
    std::vector<std::string> texts;                      // id → label text
    std::vector<std::size_t> first_line_of;              // id → the first line it is on
    bool any_text = false;                               // a label that is not a number
    std::vector<T> row;                                  // the features of the current line
    std::size_t columns = 0, first_line = 0, label_col = 0;
    bool have_columns = false;
    auto column_name = [&](std::size_t c) {
        return header.empty() ? fmt::format("column {}", c + 1)
                              : fmt::format("column {} ({})", c + 1, shown(header[c]));
    };
    auto set_columns = [&](std::size_t count) {
        columns = count;
        have_columns = true;
        first_line = in.line_number();
        if (labelled && options.label_name) {
            const auto it = std::find(header.begin(), header.end(), *options.label_name);
            if (it == header.end() && options.labels_optional) {
                labelled = false;
            } else if (it == header.end()) {
                throw data_error(fmt::format("{}:{}: no column named {} ({}); the columns are {}", name,
                                             in.line_number(), shown(*options.label_name),
                                             options.advice.label_name, name_list(header)));
            } else {
                label_col = static_cast<std::size_t>(it - header.begin());
            }
        } else if (labelled && options.labels_optional && expected_features > 0 &&
                   count == expected_features) {
            labelled = false;  // exactly the features: a table without labels
        }
        if (labelled && !options.label_name) {
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
        const std::size_t f = count - (labelled ? 1 : 0);
        if (expected_features > 0 && f != expected_features) {
            throw data_error(fmt::format(
                "{}:{}: {} feature column{}{}, but {} expects {}{}", name, in.line_number(), f,
                f == 1 ? "" : "s",
                labelled ? fmt::format(" besides the labels in {}", column_name(label_col)) : "",
                options.feature_names.empty() ? std::string("csv_options::features")
                                              : options.advice.feature_names,
                expected_features,
                options.feature_names.empty() ? std::string()
                                              : fmt::format(" ({})", name_list(options.feature_names))));
        }
        if (!options.feature_names.empty() && !header.empty()) {
            std::size_t k = 0;
            for (std::size_t c = 0; c < count; ++c) {
                if (labelled && c == label_col) continue;
                if (header[c] != options.feature_names[k]) {
                    throw data_error(fmt::format(
                        "{}:{}: {} should be {}, feature {} of {} (the feature columns must be the same, "
                        "in the same order)",
                        name, in.line_number(), column_name(c), shown(options.feature_names[k]), k + 1,
                        options.advice.feature_names));
                }
                ++k;
            }
        }
    };
    // Every cell, header or data, is at most max_csv_cell_bytes long.
    auto check_cell = [&](std::size_t c, std::string_view raw) {
        if (raw.size() > max_csv_cell_bytes) {
            throw data_error(fmt::format(
                "{}:{}: {}: a cell of {} bytes, longer than the {} bytes accepted "
                "(max_csv_cell_bytes): {}",
                name, in.line_number(), column_name(c), raw.size(), max_csv_cell_bytes, shown(raw)));
        }
    };

    while (in.next(line)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const std::size_t cells =
            static_cast<std::size_t>(std::count(line.begin(), line.end(), options.delimiter)) + 1;
        if (!have_columns && options.header) {
            bool all_numbers = true;
            for_each_cell(line, options.delimiter, [&](std::size_t c, std::string_view raw) {
                check_cell(c, raw);
                all_numbers = all_numbers && parse_number(trim(raw)).has_value();
                header.emplace_back(trim(raw));
            });
            if (all_numbers) {
                throw data_error(
                    fmt::format("{}:{}: expected a header of column names, but the first line {} holds only "
                                "numbers: if the file has no header, {}; xgrad does not guess, and reading "
                                "this line as a header would lose a row",
                                name, in.line_number(), shown(trim(line)), options.advice.no_header));
            }
            set_columns(cells);
            continue;
        }
        if (!have_columns) set_columns(cells);
        if (cells != columns) {
            throw data_error(fmt::format(
                "{}:{}: ragged row: {} cell{} but {} (line {}) has {}", name, in.line_number(), cells,
                cells == 1 ? "" : "s", options.header ? "the header" : "the first row", first_line, columns));
        }
        row.clear();
        for_each_cell(line, options.delimiter, [&](std::size_t c, std::string_view raw) {
            check_cell(c, raw);
            const std::string_view cell = trim(raw);
            if (labelled && c == label_col) {
                if (cell.empty()) {
                    throw data_error(fmt::format("{}:{}: the label in {} is empty", name, in.line_number(),
                                                 column_name(c)));
                }
                if (by_name) {
                    const auto it = wanted.find(std::string(cell));
                    if (it == wanted.end()) {
                        throw data_error(fmt::format(
                            "{}:{}: label {} in {} is not one of the {} classes of {} ({})", name,
                            in.line_number(), shown(cell), column_name(c), options.class_names.size(),
                            options.advice.class_names, name_list(options.class_names)));
                    }
                    labels.push_back(it->second);
                    return;
                }
                const auto v = parse_number(cell);
                if (options.classes) {
                    if (!v || *v < 0 || *v != std::floor(*v) || *v >= static_cast<double>(max_csv_classes)) {
                        throw data_error(fmt::format(
                            "{}:{}: label {} in {} is not a class index (an integer in [0, {}]); {}", name,
                            in.line_number(), shown(cell), column_name(c), *options.classes - 1,
                            options.advice.not_a_label));
                    }
                    const auto label = static_cast<std::uint32_t>(*v);
                    if (label >= *options.classes) {
                        throw data_error(fmt::format(
                            "{}:{}: label {} in {} is not below the {} classes of csv_options::classes", name,
                            in.line_number(), shown(cell), column_name(c), *options.classes));
                    }
                    labels.push_back(label);
                    return;
                }
                any_text = any_text || !v;
                auto [it, fresh] =
                    ids.try_emplace(std::string(cell), static_cast<std::uint32_t>(texts.size()));
                if (fresh) {
                    if (texts.size() == max_csv_classes) {
                        throw data_error(
                            fmt::format("{}:{}: label {} in {} is the {}th distinct label; at most {} "
                                        "classes are accepted (max_csv_classes)",
                                        name, in.line_number(), shown(cell), column_name(c),
                                        max_csv_classes + 1, max_csv_classes));
                    }
                    texts.emplace_back(cell);
                    first_line_of.push_back(in.line_number());
                }
                labels.push_back(it->second);
                return;
            }
            const auto v = parse_number(cell);
            if (!v) {
                throw data_error(fmt::format("{}:{}: {}: {} is not a number", name, in.line_number(),
                                             column_name(c),
                                             cell.empty() ? std::string("empty cell") : shown(cell)));
            }
            // Beyond the range of T (1e39 as float, 1e999 as anything): would load as Inf (fuzz_csv found the
            // first one).
            if (!(std::abs(*v) <= static_cast<double>(std::numeric_limits<T>::max()))) {
                throw data_error(fmt::format("{}:{}: {}: {} is too large for {} (at most {:g} in magnitude)",
                                             name, in.line_number(), column_name(c), shown(cell), type,
                                             static_cast<double>(std::numeric_limits<T>::max())));
            }
            row.push_back(static_cast<T>(*v));
        });
        for (const T v : row) values.push(v);
    }
    if (!have_columns) throw data_error(fmt::format("{}: empty file", name));
    const std::size_t f = columns - (labelled ? 1 : 0);
    const std::size_t n = values.size() / f;
    if (n == 0) throw data_error(fmt::format("{}: no data rows after the header", name));

    std::size_t classes = 0;
    std::vector<std::string> class_names;
    if (labelled && by_name) {
        classes = options.class_names.size();
        class_names = options.class_names;
    } else if (labelled && options.classes) {
        classes = *options.classes;
    } else if (labelled && any_text) {
        // Class names: the distinct labels in byte order.
        std::vector<std::uint32_t> order(texts.size());
        for (std::uint32_t k = 0; k < order.size(); ++k) order[k] = k;
        std::sort(order.begin(), order.end(), [&](auto a, auto b) { return texts[a] < texts[b]; });
        std::vector<std::uint32_t> rank(texts.size());
        for (std::uint32_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
        for (auto& l : labels) l = rank[l];
        for (const auto k : order) class_names.push_back(texts[k]);
        classes = class_names.size();
    } else if (labelled) {
        // Every label is a number: each must be a class index, and the class count is max label + 1,
        // provided every class below it has an example: one stray label (65535 in a file of 0s and 1s) must
        // not make a model of 65536 classes.
        std::vector<std::uint32_t> value(texts.size());
        std::uint32_t top = 0;
        std::size_t top_line = 0;
        for (std::size_t k = 0; k < texts.size(); ++k) {
            const double v = *parse_number(texts[k]);
            if (v < 0 || v != std::floor(v) || v >= static_cast<double>(max_csv_classes)) {
                throw data_error(
                    fmt::format("{}:{}: label {} in {} is not a class index (an integer in [0, {}]); {}",
                                name, first_line_of[k], shown(texts[k]), column_name(label_col),
                                max_csv_classes - 1, options.advice.not_a_label));
            }
            value[k] = static_cast<std::uint32_t>(v);
            if (k == 0 || value[k] > top || (value[k] == top && first_line_of[k] < top_line)) {
                top = value[k];
                top_line = first_line_of[k];
            }
        }
        for (auto& l : labels) l = value[l];
        classes = std::size_t(top) + 1;
        std::vector<bool> seen(classes, false);
        for (const std::uint32_t l : labels) seen[l] = true;
        const auto missing = std::find(seen.begin(), seen.end(), false);
        if (missing != seen.end()) {
            const std::size_t k = static_cast<std::size_t>(missing - seen.begin());
            const auto absent = std::count(seen.begin(), seen.end(), false);
            throw data_error(fmt::format(
                "{}:{}: label {} in {} makes {} classes, but {} of them {} no example (the first: {}); the "
                "class count is max label + 1 only when every class 0…{} occurs; {}",
                name, top_line, top, column_name(label_col), classes, absent, absent == 1 ? "has" : "have", k,
                top, options.advice.missing_classes));
        }
    }

    dataset<T> ds;
    ds.x = matrix<T>({f, n});
    values.drain([&](std::size_t k, T v) { ds.x(k % f, k / f) = v; });
    if (labelled) {
        ds.y = matrix<T>({1, n});
        for (std::size_t j = 0; j < n; ++j) ds.y(0, j) = static_cast<T>(labels[j]);
        ds.classes = classes;
        ds.class_names = std::move(class_names);
    } else {
        ds.y = matrix<T>({0, n});
    }
    for (std::size_t c = 0; c < header.size(); ++c)
        if (!labelled || c != label_col) ds.feature_names.push_back(header[c]);
    return ds;
}
#define XGRAD_INSTANTIATE(T)                                                                               \
    template dataset<T> load_idx<T>(const fs::path&, const fs::path&, std::size_t);                        \
    template dataset<T> load_mnist<T>(const fs::path&, std::string_view);                                  \
    template std::pair<dataset<T>, dataset<T>> load_idx_split<T>(const fs::path&, const fs::path&, double, \
                                                                 std::uint64_t, std::size_t);              \
    template std::pair<dataset<T>, dataset<T>> load_mnist_split<T>(const fs::path&, std::string_view,      \
                                                                   double, std::uint64_t);                 \
    template dataset<T> load_csv<T>(const fs::path&, const csv_options&);

XGRAD_INSTANTIATE(float)
XGRAD_INSTANTIATE(double)

}  // namespace xgrad::data
