// Checkpoints as .npz: a minimal ZIP writer (stored entries, atomic replace) and a validating ZIP/NPY
// reader (stored and deflate entries, ZIP64, NPY 1.0–3.0). See checkpoint.hpp for the format choices.
//
// ZIP layout (APPNOTE.TXT 4.3): [local header, data]* central-directory-entry* [zip64 EOCD, locator]
// end-of-central-directory. The reader trusts only the central directory for sizes and offsets, checks
// each against the file size (and the central directory's position) before using it, and checks the CRC-32
// of every entry after streaming it into the destination matrix.
#include "xgrad/io/checkpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <xtensor/xmanipulation.hpp>

#include "xgrad/graph.hpp"
#include "xgrad/io/file.hpp"

namespace xgrad {
namespace {

static_assert(
    std::endian::native == std::endian::little,
    "checkpoint.cpp writes and reads little-endian data in place; a big-endian host needs byte swaps");
static_assert(matrix<float>::static_layout == xt::layout_type::row_major, "matrices must be row-major");

constexpr std::uint32_t local_sig = 0x04034b50;
constexpr std::uint32_t central_sig = 0x02014b50;
constexpr std::uint32_t eocd_sig = 0x06054b50;
constexpr std::uint32_t zip64_eocd_sig = 0x06064b50;
constexpr std::uint32_t zip64_locator_sig = 0x07064b50;
constexpr std::size_t local_header_size = 30;
constexpr std::size_t central_header_size = 46;
constexpr std::size_t eocd_size = 22;
constexpr std::size_t zip64_eocd_size = 56;
constexpr std::size_t zip64_locator_size = 20;
constexpr std::uint64_t u32_max = 0xFFFFFFFFu;
constexpr std::uint16_t zip_version = 20;      // 2.0: stored/deflate, no ZIP64
constexpr std::uint16_t dos_date_1980 = 0x21;  // 1980-01-01: a fixed timestamp keeps archives reproducible
constexpr char npy_magic[] = "\x93NUMPY";      // 6 bytes + NUL

[[noreturn]] void fail(std::string message) {
    throw checkpoint_error(std::move(message));
}

std::string errno_text(int e) {
    return std::generic_category().message(e);
}

// ---- little-endian encoding ----

void put16(std::string& b, std::uint16_t v) {
    b.push_back(static_cast<char>(v & 0xFF));
    b.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& b, std::uint32_t v) {
    put16(b, static_cast<std::uint16_t>(v & 0xFFFF));
    put16(b, static_cast<std::uint16_t>(v >> 16));
}
std::uint16_t get16(const unsigned char* p) {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t get32(const unsigned char* p) {
    return static_cast<std::uint32_t>(get16(p)) | (static_cast<std::uint32_t>(get16(p + 2)) << 16);
}
std::uint64_t get64(const unsigned char* p) {
    return static_cast<std::uint64_t>(get32(p)) | (static_cast<std::uint64_t>(get32(p + 4)) << 32);
}

/// zlib's crc32 takes uInt lengths: feed large buffers in chunks.
std::uint32_t crc_update(std::uint32_t crc, const void* data, std::size_t n) {
    auto p = static_cast<const Bytef*>(data);
    while (n > 0) {
        const uInt chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
        crc = static_cast<std::uint32_t>(::crc32(crc, p, chunk));
        p += chunk;
        n -= chunk;
    }
    return crc;
}

template <class T>
constexpr const char* descr_of() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "checkpoints hold float or double");
    return std::is_same_v<T, float> ? "<f4" : "<f8";
}

/// "(3, 4)", "(3,)", "()": a shape the way numpy prints it.
std::string py_shape(const std::vector<std::uint64_t>& dims) {
    if (dims.size() == 1) return fmt::format("({},)", dims[0]);
    return fmt::format("({})", fmt::join(dims, ", "));
}

// ---- writing ----

/// The NPY 1.0 preamble and header of a C-order (rows, cols) array, padded with spaces and a final newline
/// so that its total length is a multiple of 64 (numpy's ARRAY_ALIGN).
std::string npy_header(const char* descr, const shape2& s) {
    std::string dict =
        fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}, {}), }}", descr, s[0], s[1]);
    const std::size_t unpadded = 10 + dict.size() + 1;
    dict.append((unpadded + 63) / 64 * 64 - unpadded, ' ');
    dict.push_back('\n');
    std::string out(npy_magic, 6);
    out.push_back('\x01');
    out.push_back('\x00');
    put16(out, static_cast<std::uint16_t>(dict.size()));
    return out + dict;
}

/// `s` with NUL bytes shown as a backslash and a zero, so that a message survives what().
std::string printable(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\0')
            out += "\\0";
        else
            out += c;
    }
    return out;
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

/// A local or central header for a stored entry (the two share most fields).
std::string zip_header(bool central, const std::string& name, std::uint32_t crc, std::uint32_t size,
                       std::uint32_t local_offset) {
    std::string h;
    put32(h, central ? central_sig : local_sig);
    if (central) put16(h, (3u << 8) | zip_version);  // made by: Unix
    put16(h, zip_version);                           // needed to extract
    put16(h, is_ascii(name) ? 0 : 0x0800);           // bit 11: name is UTF-8
    put16(h, 0);                                     // method: stored
    put16(h, 0);                                     // time 00:00
    put16(h, dos_date_1980);
    put32(h, crc);
    put32(h, size);  // compressed
    put32(h, size);  // uncompressed
    put16(h, static_cast<std::uint16_t>(name.size()));
    put16(h, 0);  // extra field length
    if (central) {
        put16(h, 0);               // comment length
        put16(h, 0);               // disk number
        put16(h, 0);               // internal attributes
        put32(h, 0100644u << 16);  // external attributes: regular file, rw-r--r--
        put32(h, local_offset);
    }
    return h + name;
}

// ---- reading: the file ----

/// A read-only file with bounds-checked positional reads.
class input_file {
public:
    explicit input_file(const std::string& path) : m_path(path) {
        m_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (m_fd < 0) fail(fmt::format("{}: cannot open checkpoint: {}", path, errno_text(errno)));
        struct stat st {};
        if (::fstat(m_fd, &st) != 0) {
            const int e = errno;
            ::close(m_fd);
            fail(fmt::format("{}: cannot stat checkpoint: {}", path, errno_text(e)));
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(m_fd);
            fail(fmt::format("{}: cannot load checkpoint: not a regular file", path));
        }
        m_size = static_cast<std::uint64_t>(st.st_size);
    }
    ~input_file() { ::close(m_fd); }
    input_file(const input_file&) = delete;
    input_file& operator=(const input_file&) = delete;

    const std::string& path() const noexcept { return m_path; }
    std::uint64_t size() const noexcept { return m_size; }

    /// Reads [offset, offset + n); `what` names the structure for the truncation message.
    void read_at(std::uint64_t offset, void* dst, std::size_t n, std::string_view what) const {
        if (offset > m_size || n > m_size - offset)
            fail(fmt::format(
                "{}: truncated or corrupt: {} ({} bytes at offset {}) extends past the end of the "
                "file ({} bytes)",
                m_path, what, n, offset, m_size));
        auto p = static_cast<char*>(dst);
        while (n > 0) {
            const ssize_t got =
                ::pread(m_fd, p, std::min<std::size_t>(n, 1u << 30), static_cast<off_t>(offset));
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) fail(fmt::format("{}: cannot read checkpoint: {}", m_path, errno_text(errno)));
            if (got == 0) fail(fmt::format("{}: file shrank while being read ({})", m_path, what));
            p += got;
            offset += static_cast<std::uint64_t>(got);
            n -= static_cast<std::size_t>(got);
        }
    }

private:
    std::string m_path;
    int m_fd = -1;
    std::uint64_t m_size = 0;
};

// ---- reading: the ZIP directory ----

struct zip_entry {
    std::string name;  // as stored ("0.weight.npy")
    std::uint16_t method = 0;
    std::uint32_t crc = 0;
    std::uint64_t compressed = 0;
    std::uint64_t uncompressed = 0;
    std::uint64_t local_offset = 0;
};

struct zip_directory {
    std::vector<zip_entry> entries;
    std::uint64_t cd_offset = 0;  // entry data must end before this
};

zip_directory read_directory(const input_file& f) {
    const std::string& path = f.path();
    const std::uint64_t size = f.size();
    if (size < eocd_size)
        fail(fmt::format(
            "{}: not a zip archive: the file is {} bytes, too short for an end-of-central-directory "
            "record (truncated?)",
            path, size));

    // The end record is the last 22 bytes plus a comment of up to 65535 bytes: search backwards.
    const std::size_t tail_size = static_cast<std::size_t>(std::min<std::uint64_t>(size, eocd_size + 0xFFFF));
    std::vector<unsigned char> tail(tail_size);
    f.read_at(size - tail_size, tail.data(), tail_size, "end of archive");
    std::size_t at = tail_size;  // position in `tail`
    for (std::size_t i = tail_size - eocd_size + 1; i-- > 0;) {
        if (get32(&tail[i]) == eocd_sig && i + eocd_size + get16(&tail[i + 20]) == tail_size) {
            at = i;
            break;
        }
    }
    if (at == tail_size)
        fail(fmt::format("{}: not a zip archive: no end-of-central-directory record (truncated or corrupt?)",
                         path));
    const std::uint64_t eocd_pos = size - tail_size + at;
    const unsigned char* e = &tail[at];
    std::uint64_t disk = get16(e + 4), cd_disk = get16(e + 6), entries_here = get16(e + 8),
                  entries = get16(e + 10), cd_size = get32(e + 12), cd_offset = get32(e + 16);
    std::uint64_t cd_limit = eocd_pos;  // the central directory ends before the end record(s)

    // ZIP64: a locator right before the end record points at the 64-bit end record.
    if (eocd_pos >= zip64_locator_size) {
        unsigned char loc[zip64_locator_size];
        f.read_at(eocd_pos - zip64_locator_size, loc, sizeof loc, "zip64 end-of-central-directory locator");
        if (get32(loc) == zip64_locator_sig) {
            const std::uint64_t z64_pos = get64(loc + 8);
            const std::uint64_t z64_limit = eocd_pos - zip64_locator_size;
            if (z64_pos > z64_limit || z64_limit - z64_pos < zip64_eocd_size)
                fail(fmt::format("{}: corrupt zip archive: zip64 end record offset {} is out of range", path,
                                 z64_pos));
            unsigned char z[zip64_eocd_size];
            f.read_at(z64_pos, z, sizeof z, "zip64 end-of-central-directory record");
            if (get32(z) != zip64_eocd_sig)
                fail(fmt::format("{}: corrupt zip archive: bad zip64 end-of-central-directory signature",
                                 path));
            disk = get32(z + 16);
            cd_disk = get32(z + 20);
            entries_here = get64(z + 24);
            entries = get64(z + 32);
            cd_size = get64(z + 40);
            cd_offset = get64(z + 48);
            cd_limit = z64_pos;
        }
    }
    if (disk != 0 || cd_disk != 0 || entries_here != entries)
        fail(fmt::format("{}: multi-disk (split) zip archives are not supported", path));
    if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset)
        fail(fmt::format(
            "{}: truncated or corrupt zip archive: the central directory (offset {}, {} bytes) does "
            "not fit before the end record at offset {}",
            path, cd_offset, cd_size, cd_limit));
    if (entries > cd_size / central_header_size)
        fail(fmt::format("{}: corrupt zip archive: {} entries cannot fit in a central directory of {} bytes",
                         path, entries, cd_size));

    std::vector<unsigned char> cd(static_cast<std::size_t>(cd_size));
    f.read_at(cd_offset, cd.data(), cd.size(), "central directory");

    zip_directory dir;
    dir.cd_offset = cd_offset;
    dir.entries.reserve(static_cast<std::size_t>(entries));
    std::size_t p = 0;
    for (std::uint64_t k = 0; k < entries; ++k) {
        if (cd.size() - p < central_header_size || get32(&cd[p]) != central_sig)
            fail(fmt::format("{}: corrupt zip archive: central directory entry {} is damaged", path, k));
        const unsigned char* h = &cd[p];
        const std::size_t name_len = get16(h + 28), extra_len = get16(h + 30), comment_len = get16(h + 32);
        if (cd.size() - p - central_header_size < name_len + extra_len + comment_len)
            fail(fmt::format("{}: corrupt zip archive: central directory entry {} overruns the directory",
                             path, k));
        zip_entry z;
        z.name.assign(reinterpret_cast<const char*>(h + central_header_size), name_len);
        const std::uint16_t flags = get16(h + 8);
        z.method = get16(h + 10);
        z.crc = get32(h + 16);
        z.compressed = get32(h + 20);
        z.uncompressed = get32(h + 24);
        std::uint64_t start_disk = get16(h + 34);
        z.local_offset = get32(h + 42);

        // ZIP64 extended information (id 1): 8-byte values for the fields saturated above, in this order.
        const unsigned char* x = h + central_header_size + name_len;
        for (std::size_t q = 0; q + 4 <= extra_len;) {
            const std::uint16_t id = get16(x + q), len = get16(x + q + 2);
            if (q + 4 + len > extra_len)
                fail(fmt::format("{}: corrupt zip archive: entry '{}' has a damaged extra field", path,
                                 z.name));
            if (id == 0x0001) {
                const unsigned char* v = x + q + 4;
                std::size_t left = len;
                const auto take = [&](std::uint64_t& field, std::uint64_t saturated, std::size_t bytes) {
                    if (field != saturated) return;
                    if (left < bytes)
                        fail(fmt::format("{}: corrupt zip archive: entry '{}' has a short zip64 extra field",
                                         path, z.name));
                    field = bytes == 8 ? get64(v) : get32(v);
                    v += bytes;
                    left -= bytes;
                };
                take(z.uncompressed, u32_max, 8);
                take(z.compressed, u32_max, 8);
                take(z.local_offset, u32_max, 8);
                take(start_disk, 0xFFFF, 4);
            }
            q += 4 + len;
        }
        p += central_header_size + name_len + extra_len + comment_len;

        if (z.name.find('\0') != std::string::npos)
            fail(fmt::format("{}: corrupt zip archive: entry name '{}' contains a NUL byte", path,
                             printable(z.name)));
        if (flags & 0x0001)
            fail(fmt::format("{}: entry '{}' is encrypted; encrypted archives are not supported", path,
                             z.name));
        if (z.method != 0 && z.method != 8)
            fail(
                fmt::format("{}: entry '{}' uses compression method {}; only stored (0) and deflate (8) are "
                            "supported",
                            path, z.name, z.method));
        if (start_disk != 0) fail(fmt::format("{}: multi-disk (split) zip archives are not supported", path));
        if (z.local_offset > cd_offset || cd_offset - z.local_offset < local_header_size)
            fail(
                fmt::format("{}: corrupt zip archive: entry '{}' has local header offset {} outside the data "
                            "area (which ends at {})",
                            path, z.name, z.local_offset, cd_offset));
        dir.entries.push_back(std::move(z));
    }
    return dir;
}

// ---- reading: one entry's bytes, inflated if needed, with its CRC ----

/// Streams the uncompressed bytes of one entry, exactly `uncompressed` of them, then checks the CRC.
class entry_stream {
public:
    entry_stream(const input_file& f, const zip_entry& z, std::uint64_t data_offset, std::string context)
        : m_file(f),
          m_entry(z),
          m_pos(data_offset),
          m_in_left(z.compressed),
          m_out_left(z.uncompressed),
          m_ctx(std::move(context)) {
        if (z.method == 8) {
            m_in.resize(1 << 16);
            if (::inflateInit2(&m_z, -MAX_WBITS) != Z_OK)
                fail(fmt::format("{}: cannot initialise zlib", m_ctx));
            m_inflating = true;
        }
    }
    ~entry_stream() {
        if (m_inflating) ::inflateEnd(&m_z);
    }
    entry_stream(const entry_stream&) = delete;
    entry_stream& operator=(const entry_stream&) = delete;

    /// Reads exactly n bytes; throws if the entry has fewer left.
    void read(void* dst, std::size_t n) {
        if (n > m_out_left)
            fail(fmt::format("{}: truncated: the entry ends {} bytes early", m_ctx, n - m_out_left));
        if (n == 0) return;
        if (m_inflating)
            inflate_into(static_cast<unsigned char*>(dst), n);
        else {
            m_file.read_at(m_pos, dst, n, fmt::format("data of entry '{}'", m_entry.name));
            m_pos += n;
            m_in_left -= n;
        }
        m_crc = crc_update(m_crc, dst, n);
        m_out_left -= n;
    }

    /// After all bytes were read: the compressed stream must end here, and the CRC must match.
    void finish() {
        if (m_inflating && !m_ended) {
            unsigned char extra = 0;
            m_z.next_out = &extra;
            m_z.avail_out = 1;
            while (!m_ended) {
                refill();
                const int rc = ::inflate(&m_z, Z_NO_FLUSH);
                check_inflate(rc);
                if (m_z.avail_out == 0)
                    fail(fmt::format("{}: corrupt: decompresses to more than its declared {} bytes", m_ctx,
                                     m_entry.uncompressed));
                if (rc == Z_STREAM_END) m_ended = true;
            }
        }
        if (m_inflating && (m_z.avail_in != 0 || m_in_left != 0))
            fail(fmt::format("{}: corrupt: {} stray bytes after the compressed data", m_ctx,
                             m_z.avail_in + m_in_left));
        if (m_crc != m_entry.crc)
            fail(fmt::format("{}: corrupt: CRC-32 mismatch (the archive says {:08x}, the data gives {:08x})",
                             m_ctx, m_entry.crc, m_crc));
    }

private:
    void refill() {
        if (m_z.avail_in > 0 || m_in_left == 0) return;
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(m_in_left, m_in.size()));
        m_file.read_at(m_pos, m_in.data(), n, fmt::format("compressed data of entry '{}'", m_entry.name));
        m_pos += n;
        m_in_left -= n;
        m_z.next_in = m_in.data();
        m_z.avail_in = static_cast<uInt>(n);
    }

    void check_inflate(int rc) const {
        if (rc == Z_OK || rc == Z_STREAM_END) return;
        if (rc == Z_BUF_ERROR && m_z.avail_in == 0 && m_in_left == 0)
            fail(fmt::format("{}: truncated: the compressed data ends early", m_ctx));
        fail(fmt::format("{}: corrupt compressed data ({})", m_ctx, m_z.msg ? m_z.msg : zError(rc)));
    }

    void inflate_into(unsigned char* dst, std::size_t n) {
        while (n > 0) {
            if (m_ended) fail(fmt::format("{}: truncated: the compressed data ends early", m_ctx));
            refill();
            const uInt want = static_cast<uInt>(std::min<std::size_t>(n, UINT_MAX));
            m_z.next_out = dst;
            m_z.avail_out = want;
            const int rc = ::inflate(&m_z, Z_NO_FLUSH);
            check_inflate(rc);
            const std::size_t got = want - m_z.avail_out;
            if (rc == Z_STREAM_END) m_ended = true;
            if (got == 0 && rc == Z_OK && m_z.avail_in == 0 && m_in_left == 0)
                fail(fmt::format("{}: truncated: the compressed data ends early", m_ctx));
            dst += got;
            n -= got;
        }
    }

    const input_file& m_file;
    const zip_entry& m_entry;
    std::uint64_t m_pos;
    std::uint64_t m_in_left;
    std::uint64_t m_out_left;
    std::string m_ctx;
    std::uint32_t m_crc = 0;
    bool m_inflating = false;
    bool m_ended = false;
    z_stream m_z{};
    std::vector<unsigned char> m_in;
};

// ---- reading: the .npy header ----

struct npy_header_info {
    std::string descr;
    bool fortran_order = false;
    std::vector<std::uint64_t> shape;
};

/// Parses the Python dict literal of an .npy header, e.g.
/// "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }" (numpy accepts exactly these three keys).
class header_parser {
public:
    header_parser(std::string_view text, const std::string& ctx) : m_s(text), m_ctx(ctx) {}

    npy_header_info parse() {
        npy_header_info h;
        bool have_descr = false, have_order = false, have_shape = false;
        expect('{');
        for (;;) {
            skip_ws();
            if (peek() == '}') break;
            const std::string key = string_literal();
            expect(':');
            skip_ws();
            if (key == "descr" && !have_descr) {
                h.descr = peek() == '\'' || peek() == '"' ? string_literal() : raw_value();
                have_descr = true;
            } else if (key == "fortran_order" && !have_order) {
                h.fortran_order = boolean();
                have_order = true;
            } else if (key == "shape" && !have_shape) {
                h.shape = tuple();
                have_shape = true;
            } else {
                bad(fmt::format("unexpected or repeated key '{}'", key));
            }
            skip_ws();
            if (peek() == ',') {
                ++m_i;
                continue;
            }
            skip_ws();
            if (peek() != '}') bad("expected ',' or '}'");
        }
        ++m_i;
        skip_ws();
        if (m_i != m_s.size()) bad("unexpected text after the dictionary");
        if (!have_descr || !have_order || !have_shape)
            bad("'descr', 'fortran_order' and 'shape' are all required");
        return h;
    }

private:
    [[noreturn]] void bad(std::string_view what) const {
        fail(fmt::format("{}: corrupt .npy header ({}): \"{}\"", m_ctx, what,
                         m_s.substr(0, std::min<std::size_t>(m_s.size(), 200))));
    }
    char peek() const { return m_i < m_s.size() ? m_s[m_i] : '\0'; }
    void skip_ws() {
        while (m_i < m_s.size() &&
               (m_s[m_i] == ' ' || m_s[m_i] == '\n' || m_s[m_i] == '\t' || m_s[m_i] == '\r'))
            ++m_i;
    }
    void expect(char c) {
        skip_ws();
        if (peek() != c) bad(fmt::format("expected '{}'", c));
        ++m_i;
    }
    std::string string_literal() {
        skip_ws();
        const char q = peek();
        if (q != '\'' && q != '"') bad("expected a quoted string");
        const std::size_t end = m_s.find(q, m_i + 1);
        if (end == std::string_view::npos) bad("unterminated string");
        std::string out(m_s.substr(m_i + 1, end - m_i - 1));
        m_i = end + 1;
        return out;
    }
    /// A non-string descr (a structured dtype's list): kept as text for the error message.
    std::string raw_value() {
        const std::size_t start = m_i;
        int depth = 0;
        for (; m_i < m_s.size(); ++m_i) {
            const char c = m_s[m_i];
            if (c == '[' || c == '(' || c == '{') ++depth;
            if (c == ']' || c == ')' || c == '}') {
                if (depth == 0) break;
                --depth;
            }
            if (c == ',' && depth == 0) break;
        }
        return std::string(m_s.substr(start, m_i - start));
    }
    bool boolean() {
        if (m_s.substr(m_i, 4) == "True") {
            m_i += 4;
            return true;
        }
        if (m_s.substr(m_i, 5) == "False") {
            m_i += 5;
            return false;
        }
        bad("'fortran_order' must be True or False");
    }
    std::vector<std::uint64_t> tuple() {
        std::vector<std::uint64_t> dims;
        expect('(');
        for (;;) {
            skip_ws();
            if (peek() == ')') break;
            if (peek() < '0' || peek() > '9') bad("'shape' must be a tuple of non-negative integers");
            std::uint64_t v = 0;
            while (peek() >= '0' && peek() <= '9') {
                const unsigned d = static_cast<unsigned>(peek() - '0');
                if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) bad("dimension too large");
                v = v * 10 + d;
                ++m_i;
            }
            if (peek() == 'L') ++m_i;  // Python 2 longs, as old numpy wrote them
            dims.push_back(v);
            if (dims.size() > 64) bad("too many dimensions");
            skip_ws();
            if (peek() == ',') {
                ++m_i;
                continue;
            }
            skip_ws();
            if (peek() != ')') bad("expected ',' or ')' in 'shape'");
        }
        ++m_i;
        return dims;
    }

    std::string_view m_s;
    const std::string& m_ctx;
    std::size_t m_i = 0;
};

/// Reads n elements of type S from the stream into dst (type T), converting in chunks when S ≠ T.
template <class S, class T>
void read_elements(entry_stream& in, T* dst, std::size_t n) {
    if constexpr (std::is_same_v<S, T>) {
        in.read(dst, n * sizeof(T));
    } else {
        S buf[4096];
        while (n > 0) {
            const std::size_t k = std::min<std::size_t>(n, std::size(buf));
            in.read(buf, k * sizeof(S));
            for (std::size_t i = 0; i < k; ++i) dst[i] = static_cast<T>(buf[i]);
            dst += k;
            n -= k;
        }
    }
}

/// Reads one .npy stream of `size` bytes into a matrix (see checkpoint.hpp for the shape mapping).
template <class T>
matrix<T> read_npy(entry_stream& in, std::uint64_t size, const std::string& ctx) {
    unsigned char pre[12];
    if (size < 10)
        fail(fmt::format("{}: truncated: {} bytes is too short for an .npy array (need at least 10)", ctx,
                         size));
    in.read(pre, 10);
    if (std::memcmp(pre, npy_magic, 6) != 0)
        fail(fmt::format("{}: not an .npy array (bad magic string)", ctx));
    const unsigned major = pre[6], minor = pre[7];
    std::uint64_t header_len = 0, prefix = 10;
    if (major == 1) {
        header_len = get16(pre + 8);
    } else if (major == 2 || major == 3) {
        if (size < 12) fail(fmt::format("{}: truncated .npy header", ctx));
        in.read(pre + 10, 2);
        header_len = get32(pre + 8);
        prefix = 12;
    } else {
        fail(fmt::format("{}: unsupported .npy format version {}.{}", ctx, major, minor));
    }
    if (header_len > size - prefix)
        fail(
            fmt::format("{}: truncated or corrupt: the .npy header claims {} bytes but the entry has only {} "
                        "after the preamble",
                        ctx, header_len, size - prefix));
    std::string text(static_cast<std::size_t>(header_len), '\0');
    in.read(text.data(), text.size());
    const npy_header_info h = header_parser(text, ctx).parse();

    std::size_t item = 0;
    if (h.descr == "<f4")
        item = 4;
    else if (h.descr == "<f8")
        item = 8;
    else
        fail(fmt::format(
            "{}: dtype '{}' is not supported (xgrad reads little-endian float32 '<f4' and float64 "
            "'<f8')",
            ctx, h.descr));
    if (h.shape.size() > 2)
        fail(fmt::format("{}: has shape {}; only 0-, 1- and 2-D arrays can be loaded as matrices", ctx,
                         py_shape(h.shape)));
    const std::uint64_t rows = h.shape.empty() ? 1 : h.shape[0];
    const std::uint64_t cols = h.shape.size() == 2 ? h.shape[1] : 1;
    const std::uint64_t data_size = size - prefix - header_len;
    // Overflow-safe: rows·cols·item must equal the bytes actually present.
    const bool fits = (rows == 0 || cols == 0)
                          ? data_size == 0
                          : (cols <= data_size / item / rows && rows * cols * item == data_size);
    if (!fits)
        fail(fmt::format(
            "{}: truncated or corrupt: shape {} of dtype '{}' does not match the {} data bytes of the "
            "entry",
            ctx, py_shape(h.shape), h.descr, data_size));

    const bool transposed = h.fortran_order && h.shape.size() == 2;
    matrix<T> m(transposed ? shape2{static_cast<std::size_t>(cols), static_cast<std::size_t>(rows)}
                           : shape2{static_cast<std::size_t>(rows), static_cast<std::size_t>(cols)});
    if (item == 4)
        read_elements<float>(in, m.data(), m.size());
    else
        read_elements<double>(in, m.data(), m.size());
    if (transposed) return matrix<T>(xt::transpose(m));
    return m;
}

}  // namespace

// ---- public API ----

template <class T>
void save_npz(const std::string& path, const std::vector<std::pair<std::string, const matrix<T>*>>& tensors) {
    struct planned {
        std::string local, npy;
        const T* data;
        std::size_t bytes;
    };
    if (tensors.size() > 0xFFFF)
        fail(fmt::format("{}: cannot save {} tensors in one archive (the limit without ZIP64 is 65535)", path,
                         tensors.size()));
    std::vector<planned> plan;
    plan.reserve(tensors.size());
    std::unordered_set<std::string_view> seen;
    std::string central;
    std::uint64_t offset = 0;
    for (const auto& [name, m] : tensors) {
        if (name.empty()) fail(fmt::format("{}: cannot save a tensor with an empty name", path));
        if (name.find('\0') != std::string::npos)
            fail(fmt::format("{}: tensor name '{}' contains a NUL byte", path, printable(name)));
        if (name.size() > 0xFFFF - 4)
            fail(fmt::format("{}: tensor name '{}…' is too long", path, name.substr(0, 40)));
        if (!seen.insert(name).second) fail(fmt::format("{}: tensor name '{}' appears twice", path, name));
        if (m == nullptr) fail(fmt::format("{}: tensor '{}' is a null pointer", path, name));

        const std::string entry = name + ".npy";
        std::string npy = npy_header(descr_of<T>(), shape_of(*m));
        const std::uint64_t bytes = static_cast<std::uint64_t>(m->size()) * sizeof(T);
        const std::uint64_t entry_size = npy.size() + bytes;
        if (entry_size >= u32_max || offset >= u32_max)
            fail(
                fmt::format("{}: cannot save: the archive would exceed 4 GiB at tensor '{}' {} (ZIP64 is not "
                            "written)",
                            path, name, to_string(shape_of(*m))));
        const std::uint32_t crc = crc_update(crc_update(0, npy.data(), npy.size()), m->data(), bytes);
        const auto size32 = static_cast<std::uint32_t>(entry_size);
        const auto offset32 = static_cast<std::uint32_t>(offset);
        central += zip_header(true, entry, crc, size32, offset32);
        planned p{zip_header(false, entry, crc, size32, offset32), std::move(npy), m->data(),
                  static_cast<std::size_t>(bytes)};
        offset += p.local.size() + entry_size;
        plan.push_back(std::move(p));
    }
    if (offset + central.size() >= u32_max)
        fail(fmt::format("{}: cannot save: the archive would exceed 4 GiB (ZIP64 is not written)", path));

    std::string end;
    put32(end, eocd_sig);
    put16(end, 0);  // this disk
    put16(end, 0);  // disk with the central directory
    put16(end, static_cast<std::uint16_t>(plan.size()));
    put16(end, static_cast<std::uint16_t>(plan.size()));
    put32(end, static_cast<std::uint32_t>(central.size()));
    put32(end, static_cast<std::uint32_t>(offset));
    put16(end, 0);  // comment length

    std::vector<io::piece> pieces;
    pieces.reserve(plan.size() * 3 + 2);
    for (const planned& p : plan) {
        pieces.push_back({p.local.data(), p.local.size()});
        pieces.push_back({p.npy.data(), p.npy.size()});
        pieces.push_back({p.data, p.bytes});
    }
    pieces.push_back({central.data(), central.size()});
    pieces.push_back({end.data(), end.size()});
    try {
        io::write_atomically(path, pieces);
    } catch (const io_error& e) {
        fail(e.what());  // the writer's message names the file, the step and the reason
    }
}

template <class T>
std::vector<std::pair<std::string, matrix<T>>> load_npz(const std::string& path) {
    const input_file f(path);
    const zip_directory dir = read_directory(f);

    std::vector<std::pair<std::string, matrix<T>>> out;
    out.reserve(dir.entries.size());
    std::unordered_set<std::string_view> seen;
    for (const zip_entry& z : dir.entries) {
        if (z.name.size() < 5 || z.name.compare(z.name.size() - 4, 4, ".npy") != 0)
            fail(fmt::format("{}: entry '{}' is not a .npy array (its name does not end in .npy)", path,
                             z.name));
        if (!seen.insert(z.name).second) fail(fmt::format("{}: entry '{}' appears twice", path, z.name));
        std::string key = z.name.substr(0, z.name.size() - 4);
        const std::string ctx = fmt::format("{}: entry '{}'", path, key);

        unsigned char h[local_header_size];
        f.read_at(z.local_offset, h, sizeof h, fmt::format("local header of entry '{}'", z.name));
        if (get32(h) != local_sig) fail(fmt::format("{}: corrupt: bad local header signature", ctx));
        const std::size_t name_len = get16(h + 26), extra_len = get16(h + 28);
        const std::uint64_t data_offset = z.local_offset + local_header_size + name_len + extra_len;
        if (data_offset > dir.cd_offset || z.compressed > dir.cd_offset - data_offset)
            fail(fmt::format(
                "{}: truncated or corrupt: its data ({} bytes at offset {}) runs into the central "
                "directory at offset {}",
                ctx, z.compressed, data_offset, dir.cd_offset));
        std::string local_name(name_len, '\0');
        f.read_at(z.local_offset + local_header_size, local_name.data(), name_len, "local file name");
        if (local_name != z.name)
            fail(fmt::format("{}: corrupt: the local header names it '{}'", ctx, local_name));
        if (z.method == 0 && z.compressed != z.uncompressed)
            fail(fmt::format("{}: corrupt: stored entry with compressed size {} ≠ size {}", ctx, z.compressed,
                             z.uncompressed));
        // Deflate cannot expand data more than 1032:1; a larger claim is corruption, not a reason to
        // allocate.
        if (z.method == 8 && z.uncompressed / 1032 > z.compressed)
            fail(fmt::format("{}: corrupt: claims {} bytes from {} compressed bytes", ctx, z.uncompressed,
                             z.compressed));

        entry_stream in(f, z, data_offset, ctx);
        matrix<T> m = read_npy<T>(in, z.uncompressed, ctx);
        in.finish();
        out.emplace_back(std::move(key), std::move(m));
    }
    return out;
}

template <class T>
void save_parameters(const std::string& path,
                     const std::vector<std::pair<std::string, const parameter<T>*>>& params) {
    std::vector<std::pair<std::string, const matrix<T>*>> tensors;
    tensors.reserve(params.size());
    for (const auto& [name, p] : params) {
        if (p == nullptr) fail(fmt::format("{}: parameter '{}' is a null pointer", path, name));
        tensors.emplace_back(name, &p->value());
    }
    save_npz<T>(path, tensors);
}

template <class T>
void load_parameters(const std::string& path,
                     const std::vector<std::pair<std::string, parameter<T>*>>& params) {
    std::unordered_map<std::string_view, std::size_t> wanted;  // name → index in params
    for (std::size_t i = 0; i < params.size(); ++i) {
        const auto& [name, p] = params[i];
        if (p == nullptr) fail(fmt::format("{}: parameter '{}' is a null pointer", path, name));
        if (!wanted.emplace(name, i).second)
            fail(fmt::format("{}: parameter name '{}' is given twice", path, name));
    }

    const auto loaded = load_npz<T>(path);
    std::vector<const matrix<T>*> source(params.size(), nullptr);
    std::vector<std::string> problems;
    for (const auto& [name, m] : loaded) {
        const auto it = wanted.find(name);
        if (it == wanted.end()) {
            problems.push_back(fmt::format("unexpected entry '{}' {} (not a parameter of the model)", name,
                                           to_string(shape_of(m))));
            continue;
        }
        const parameter<T>& p = *params[it->second].second;
        if (shape_of(m) != p.shape())
            problems.push_back(fmt::format("'{}' has shape {} but the model expects {}", name,
                                           to_string(shape_of(m)), to_string(p.shape())));
        else
            source[it->second] = &m;
    }
    std::unordered_set<std::string_view> present;
    for (const auto& entry : loaded) present.insert(entry.first);
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (!present.contains(params[i].first))
            problems.push_back(fmt::format("'{}' is missing (the model expects {})", params[i].first,
                                           to_string(params[i].second->shape())));
    }
    if (!problems.empty()) {
        constexpr std::size_t shown = 10;
        std::string message = path + ": ";
        for (std::size_t i = 0; i < problems.size() && i < shown; ++i)
            message += (i ? "; " : "") + problems[i];
        if (problems.size() > shown)
            message += fmt::format("; and {} more problems", problems.size() - shown);
        fail(std::move(message));
    }
    // Everything checked: copy into the existing buffers (same shapes, no allocation, cannot fail).
    for (std::size_t i = 0; i < params.size(); ++i)
        std::copy(source[i]->begin(), source[i]->end(), params[i].second->value().begin());
}

template void save_npz<float>(const std::string&,
                              const std::vector<std::pair<std::string, const matrix<float>*>>&);
template void save_npz<double>(const std::string&,
                               const std::vector<std::pair<std::string, const matrix<double>*>>&);
template std::vector<std::pair<std::string, matrix<float>>> load_npz<float>(const std::string&);
template std::vector<std::pair<std::string, matrix<double>>> load_npz<double>(const std::string&);
template void save_parameters<float>(const std::string&,
                                     const std::vector<std::pair<std::string, const parameter<float>*>>&);
template void save_parameters<double>(const std::string&,
                                      const std::vector<std::pair<std::string, const parameter<double>*>>&);
template void load_parameters<float>(const std::string&,
                                     const std::vector<std::pair<std::string, parameter<float>*>>&);
template void load_parameters<double>(const std::string&,
                                      const std::vector<std::pair<std::string, parameter<double>*>>&);

}  // namespace xgrad
