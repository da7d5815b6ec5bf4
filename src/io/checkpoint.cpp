// Checkpoints as .npz: the ZIP container through libzip, the NPY arrays inside by hand. See checkpoint.hpp
// for the format choices.
//
// Writing: libzip builds the archive in memory (stored entries, a fixed timestamp, so the bytes depend only
// on the tensors); the bytes go to disk through io::write_atomically, the one durable writer. Reading: libzip
// reads the central directory, inflates and checks the CRC-32 and the size of every entry. Before any array
// is allocated, every entry's name and .npy header (dtype, shape, size) are read and checked — and
// load_parameters compares them with the model — so an archive never costs more memory than the arrays it is
// asked for, each bounded by the size its headers declare.
#include "xgrad/io/checkpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <xtensor/xmanipulation.hpp>

#include "xgrad/graph.hpp"
#include "xgrad/io/file.hpp"
#include "xgrad/nn.hpp"

namespace xgrad {
namespace {

static_assert(
    std::endian::native == std::endian::little,
    "checkpoint.cpp writes and reads little-endian data in place; a big-endian host needs byte swaps");
static_assert(matrix<float>::static_layout == xt::layout_type::row_major, "matrices must be row-major");

/// 1980-01-01 00:00 as a DOS date: a fixed timestamp keeps archives reproducible.
constexpr std::uint16_t dos_date_1980 = 0x21;
constexpr char npy_magic[] = "\x93NUMPY";  // 6 bytes + NUL
/// Deflate cannot expand data more than 1032:1; an entry claiming more is corrupt, not a reason to allocate.
constexpr std::uint64_t max_deflate_ratio = 1032;

[[noreturn]] void fail(std::string message) {
    throw checkpoint_error(std::move(message));
}

std::string errno_text(int e) {
    return std::generic_category().message(e);
}

std::uint16_t get16(const unsigned char* p) {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t get32(const unsigned char* p) {
    return static_cast<std::uint32_t>(get16(p)) | (static_cast<std::uint32_t>(get16(p + 2)) << 16);
}

template <class T>
constexpr const char* descr_of() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "checkpoints hold float or double");
    return std::is_same_v<T, float> ? "<f4" : "<f8";
}

template <class T>
constexpr const char* type_name() {
    return std::is_same_v<T, float> ? "float" : "double";
}

/// "(3, 4)", "(3,)", "()": a shape the way numpy prints it.
std::string py_shape(const std::vector<std::uint64_t>& dims) {
    if (dims.size() == 1) return fmt::format("({},)", dims[0]);
    return fmt::format("({})", fmt::join(dims, ", "));
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

/// libzip's text for an error code ("CRC error", "Zip archive inconsistent", "Read error: <errno text>").
std::string zip_text(const zip_error_t* e) {
    return zip_error_strerror(const_cast<zip_error_t*>(e));
}
std::string zip_text(int code) {
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    std::string s = zip_error_strerror(&e);
    zip_error_fini(&e);
    return s;
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
    out.push_back(static_cast<char>(dict.size() & 0xFF));
    out.push_back(static_cast<char>(dict.size() >> 8));
    return out + dict;
}

/// An archive being built in memory; discarded unless close() succeeds.
class zip_builder {
public:
    explicit zip_builder(const std::string& path) : m_path(path) {
        zip_error_t error;
        zip_error_init(&error);
        m_buffer = zip_source_buffer_create(nullptr, 0, 0, &error);
        if (m_buffer == nullptr) fail(fmt::format("{}: cannot save: {}", path, zip_text(&error)));
        zip_source_keep(m_buffer);  // the bytes outlive the archive object
        m_zip = zip_open_from_source(m_buffer, ZIP_TRUNCATE, &error);
        if (m_zip == nullptr) {
            zip_source_free(m_buffer);  // the reference taken by keep
            zip_source_free(m_buffer);
            fail(fmt::format("{}: cannot save: {}", path, zip_text(&error)));
        }
        zip_error_fini(&error);
    }
    ~zip_builder() {
        if (m_zip) zip_discard(m_zip);
        if (m_buffer) zip_source_free(m_buffer);
    }
    zip_builder(const zip_builder&) = delete;
    zip_builder& operator=(const zip_builder&) = delete;

    /// Adds the stored entry `name` made of the given pieces (which must live until close()).
    void add(const std::string& name, std::initializer_list<zip_buffer_fragment_t> pieces) {
        std::vector<zip_buffer_fragment_t> fragments;
        for (const auto& f : pieces)
            if (f.length > 0) fragments.push_back(f);
        zip_error_t error;
        zip_error_init(&error);
        zip_source_t* s = zip_source_buffer_fragment_create(fragments.data(), fragments.size(), 0, &error);
        if (s == nullptr) fail(fmt::format("{}: cannot save '{}': {}", m_path, name, zip_text(&error)));
        zip_error_fini(&error);
        const zip_int64_t index = zip_file_add(m_zip, name.c_str(), s, ZIP_FL_ENC_GUESS);
        if (index < 0) {
            zip_source_free(s);
            fail(fmt::format("{}: cannot save '{}': {}", m_path, name, zip_strerror(m_zip)));
        }
        const auto i = static_cast<zip_uint64_t>(index);
        if (zip_set_file_compression(m_zip, i, ZIP_CM_STORE, 0) != 0 ||
            zip_file_set_dostime(m_zip, i, 0, dos_date_1980, 0) != 0 ||
            zip_file_set_external_attributes(m_zip, i, 0, ZIP_OPSYS_UNIX, 0100644u << 16) != 0)
            fail(fmt::format("{}: cannot save '{}': {}", m_path, name, zip_strerror(m_zip)));
    }

    /// Writes the central directory and returns the archive's bytes.
    std::string close() {
        if (zip_close(m_zip) != 0) fail(fmt::format("{}: cannot save: {}", m_path, zip_strerror(m_zip)));
        m_zip = nullptr;
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_source_stat(m_buffer, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) ||
            zip_source_open(m_buffer) != 0)
            fail(fmt::format("{}: cannot save: {}", m_path, zip_text(zip_source_error(m_buffer))));
        std::string bytes(static_cast<std::size_t>(st.size), '\0');
        const zip_int64_t got = zip_source_read(m_buffer, bytes.data(), bytes.size());
        zip_source_close(m_buffer);
        if (got != static_cast<zip_int64_t>(bytes.size()))
            fail(fmt::format("{}: cannot save: {}", m_path, zip_text(zip_source_error(m_buffer))));
        return bytes;
    }

private:
    std::string m_path;
    zip_source_t* m_buffer = nullptr;
    zip_t* m_zip = nullptr;
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

// ---- reading: the archive ----

/// Largest .npy header accepted (numpy's own reader refuses more than 10000 bytes by default).
constexpr std::uint64_t max_npy_header_bytes = 1 << 16;

/// One array of the archive as its headers describe it; nothing of its data has been read.
struct npy_entry {
    zip_uint64_t index = 0;
    std::string name;               // as stored: "0.weight.npy"
    std::string key;                // the name without ".npy"
    std::string ctx;                // "model.npz: entry '0.weight'", for messages
    std::uint64_t size = 0;         // uncompressed bytes the central directory declares
    std::uint64_t data_offset = 0;  // where the array data starts in the .npy stream
    std::size_t item = 0;           // 4 ('<f4') or 8 ('<f8')
    std::size_t rows = 0, cols = 0;
    bool fortran = false;  // 2-D data in column-major order
    shape2 shape() const { return {rows, cols}; }
};

/// The uncompressed bytes of one entry, read in order, with libzip's CRC and size checks turned into
/// messages naming the file and the entry.
class entry_reader {
public:
    entry_reader(zip_t* zip, const npy_entry& e) : m_entry(e) {
        m_file = zip_fopen_index(zip, e.index, 0);
        if (m_file == nullptr) fail(fmt::format("{}: cannot read it: {}", e.ctx, open_problem(zip)));
    }
    ~entry_reader() { zip_fclose(m_file); }
    entry_reader(const entry_reader&) = delete;
    entry_reader& operator=(const entry_reader&) = delete;

    /// Reads exactly n bytes (`what` names them for the truncation message).
    void read(void* dst, std::size_t n, std::string_view what) {
        const std::size_t got = read_some(dst, n);
        if (got < n)
            fail(
                fmt::format("{}: truncated or corrupt: the data ends after {} bytes, inside {} (the archive "
                            "declares {} bytes)",
                            m_entry.ctx, m_pos, what, m_entry.size));
    }

    /// After all declared bytes were read: the entry must end here (libzip checks its size and CRC-32 now).
    void finish() {
        unsigned char extra = 0;
        if (read_some(&extra, 1) != 0)
            fail(fmt::format("{}: corrupt: its data is longer than the {} bytes the archive declares",
                             m_entry.ctx, m_entry.size));
    }

private:
    std::size_t read_some(void* dst, std::size_t n) {
        auto p = static_cast<unsigned char*>(dst);
        std::size_t done = 0;
        while (done < n) {
            const zip_int64_t got = zip_fread(m_file, p + done, n - done);
            if (got < 0) fail(fmt::format("{}: {}", m_entry.ctx, read_problem()));
            if (got == 0) break;
            done += static_cast<std::size_t>(got);
            m_pos += static_cast<std::uint64_t>(got);
        }
        return done;
    }

    std::string read_problem() const {
        const zip_error_t* e = zip_file_get_error(m_file);
        switch (zip_error_code_zip(e)) {
            case ZIP_ER_CRC:
                return "corrupt: CRC-32 mismatch (the data does not match the checksum the archive stores "
                       "for it)";
            case ZIP_ER_INCONS:
                return fmt::format(
                    "truncated or corrupt: its data does not have the {} bytes the archive declares",
                    m_entry.size);
            case ZIP_ER_EOF:
                return "truncated: the compressed data ends early";
            case ZIP_ER_ZLIB:
            case ZIP_ER_COMPRESSED_DATA:
                return fmt::format("corrupt compressed data ({})", zip_text(e));
            case ZIP_ER_READ:
            case ZIP_ER_SEEK:
                return fmt::format("cannot read: {}", zip_text(e));
            default:
                return fmt::format("cannot read ({})", zip_text(e));
        }
    }

    static std::string open_problem(zip_t* zip) {
        const zip_error_t* e = zip_get_error(zip);
        switch (zip_error_code_zip(e)) {
            case ZIP_ER_INCONS:
            case ZIP_ER_NOZIP:
                return fmt::format("truncated or corrupt: its local header is damaged ({})", zip_text(e));
            default:
                return zip_text(e);
        }
    }

    const npy_entry& m_entry;
    zip_file_t* m_file = nullptr;
    std::uint64_t m_pos = 0;
};

/// A read-only .npz archive. Opening checks that `path` is a regular file (a FIFO or a device is refused
/// without blocking) and reads the central directory.
class npz_archive {
public:
    explicit npz_archive(const std::string& path) : m_path(path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) fail(fmt::format("{}: cannot open checkpoint: {}", path, errno_text(errno)));
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const int e = errno;
            ::close(fd);
            fail(fmt::format("{}: cannot stat checkpoint: {}", path, errno_text(e)));
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            fail(fmt::format("{}: cannot load checkpoint: not a regular file", path));
        }
        m_size = static_cast<std::uint64_t>(st.st_size);
        // O_NONBLOCK means nothing for a regular file; cleared anyway so that libzip sees an ordinary one.
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        int code = 0;
        m_zip = zip_fdopen(fd, ZIP_RDONLY, &code);  // owns fd from here on, when it succeeds
        if (m_zip == nullptr) {
            ::close(fd);
            switch (code) {
                case ZIP_ER_NOZIP:
                    fail(fmt::format(
                        "{}: not a zip archive: no end-of-central-directory record in its {} bytes "
                        "(truncated, or not an .npz file)",
                        path, m_size));
                case ZIP_ER_INCONS:
                    fail(
                        fmt::format("{}: truncated or corrupt zip archive: its central directory is "
                                    "inconsistent ({})",
                                    path, zip_text(code)));
                case ZIP_ER_MULTIDISK:
                    fail(fmt::format("{}: multi-disk (split) zip archives are not supported", path));
                default:
                    fail(fmt::format("{}: cannot read as a zip archive: {}", path, zip_text(code)));
            }
        }
    }
    ~npz_archive() { zip_discard(m_zip); }
    npz_archive(const npz_archive&) = delete;
    npz_archive& operator=(const npz_archive&) = delete;

    /// Every entry's name and .npy header, checked; no array data is read.
    std::vector<npy_entry> entries() const;

    /// The array of `e` as a matrix (see checkpoint.hpp for how shapes map), read into memory of exactly
    /// the size its headers declare. A finite value that T cannot hold (1e300 as float) throws; so does any
    /// NaN or ±Inf when `finite` is set.
    template <class T>
    matrix<T> read(const npy_entry& e, bool finite) const;

private:
    npy_entry describe(zip_uint64_t index, std::unordered_set<std::string>& seen) const;

    std::string m_path;
    std::uint64_t m_size = 0;
    zip_t* m_zip = nullptr;
};

std::vector<npy_entry> npz_archive::entries() const {
    const zip_int64_t n = zip_get_num_entries(m_zip, 0);
    std::vector<npy_entry> out;
    std::unordered_set<std::string> seen;
    for (zip_int64_t i = 0; i < n; ++i) out.push_back(describe(static_cast<zip_uint64_t>(i), seen));
    return out;
}

npy_entry npz_archive::describe(zip_uint64_t index, std::unordered_set<std::string>& seen) const {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(m_zip, index, ZIP_FL_ENC_RAW, &st) != 0 || !(st.valid & ZIP_STAT_NAME))
        fail(fmt::format("{}: corrupt zip archive: entry {} cannot be read ({})", m_path, index,
                         zip_strerror(m_zip)));
    npy_entry e;
    e.index = index;
    e.name = st.name;
    const std::string& name = e.name;
    if (name.size() < 5 || name.compare(name.size() - 4, 4, ".npy") != 0)
        fail(fmt::format("{}: entry '{}' is not a .npy array (its name does not end in .npy)", m_path,
                         printable(name)));
    if (!seen.insert(name).second) fail(fmt::format("{}: entry '{}' appears twice", m_path, name));
    e.key = name.substr(0, name.size() - 4);
    e.ctx = fmt::format("{}: entry '{}'", m_path, e.key);
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        fail(fmt::format("{}: entry '{}' is encrypted; encrypted archives are not supported", m_path, name));
    const int method = st.valid & ZIP_STAT_COMP_METHOD ? st.comp_method : -1;
    if (method != ZIP_CM_STORE && method != ZIP_CM_DEFLATE)
        fail(fmt::format(
            "{}: entry '{}' uses compression method {}; only stored (0) and deflate (8) are supported",
            m_path, name, method));
    if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
        fail(fmt::format("{}: corrupt: its sizes are unknown", e.ctx));
    e.size = st.size;
    // Sizes the file itself cannot hold are corruption, found before anything is read or allocated.
    if (st.comp_size > m_size)
        fail(fmt::format("{}: truncated or corrupt: {} compressed bytes declared in a file of {} bytes",
                         e.ctx, st.comp_size, m_size));
    if (method == ZIP_CM_STORE && st.comp_size != st.size)
        fail(fmt::format("{}: corrupt: stored entry with compressed size {} ≠ size {}", e.ctx, st.comp_size,
                         st.size));
    if (method == ZIP_CM_DEFLATE && st.size / max_deflate_ratio > st.comp_size)
        fail(fmt::format("{}: corrupt: claims {} bytes from {} compressed bytes", e.ctx, st.size,
                         st.comp_size));

    // The .npy preamble and header: the first bytes of the entry.
    entry_reader in(m_zip, e);
    unsigned char pre[12];
    if (e.size < 10)
        fail(fmt::format("{}: truncated: {} bytes is too short for an .npy array (need at least 10)", e.ctx,
                         e.size));
    in.read(pre, 10, "the .npy preamble");
    if (std::memcmp(pre, npy_magic, 6) != 0)
        fail(fmt::format("{}: not an .npy array (bad magic string)", e.ctx));
    const unsigned major = pre[6], minor = pre[7];
    std::uint64_t header_len = 0, prefix = 10;
    if (major == 1) {
        header_len = get16(pre + 8);
    } else if (major == 2 || major == 3) {
        if (e.size < 12) fail(fmt::format("{}: truncated .npy header", e.ctx));
        in.read(pre + 10, 2, "the .npy preamble");
        header_len = get32(pre + 8);
        prefix = 12;
    } else {
        fail(fmt::format("{}: unsupported .npy format version {}.{}", e.ctx, major, minor));
    }
    if (header_len > e.size - prefix)
        fail(
            fmt::format("{}: truncated or corrupt: the .npy header claims {} bytes but the entry has only {} "
                        "after the preamble",
                        e.ctx, header_len, e.size - prefix));
    if (header_len > max_npy_header_bytes)
        fail(fmt::format("{}: the .npy header claims {} bytes; at most {} are accepted", e.ctx, header_len,
                         max_npy_header_bytes));
    std::string text(static_cast<std::size_t>(header_len), '\0');
    in.read(text.data(), text.size(), "the .npy header");
    const npy_header_info h = header_parser(text, e.ctx).parse();

    if (h.descr == "<f4")
        e.item = 4;
    else if (h.descr == "<f8")
        e.item = 8;
    else
        fail(fmt::format(
            "{}: dtype '{}' is not supported (xgrad reads little-endian float32 '<f4' and float64 "
            "'<f8')",
            e.ctx, h.descr));
    if (h.shape.size() > 2)
        fail(fmt::format("{}: has shape {}; only 0-, 1- and 2-D arrays can be loaded as matrices", e.ctx,
                         py_shape(h.shape)));
    const std::uint64_t rows = h.shape.empty() ? 1 : h.shape[0];
    const std::uint64_t cols = h.shape.size() == 2 ? h.shape[1] : 1;
    e.data_offset = prefix + header_len;
    const std::uint64_t data_size = e.size - e.data_offset;
    // Overflow-safe: rows·cols·item must equal the bytes the entry declares.
    const bool fits = (rows == 0 || cols == 0)
                          ? data_size == 0
                          : (cols <= data_size / e.item / rows && rows * cols * e.item == data_size);
    if (!fits)
        fail(fmt::format(
            "{}: truncated or corrupt: shape {} of dtype '{}' does not match the {} data bytes of the "
            "entry",
            e.ctx, py_shape(h.shape), h.descr, data_size));
    e.rows = static_cast<std::size_t>(rows);
    e.cols = static_cast<std::size_t>(cols);
    e.fortran = h.fortran_order && h.shape.size() == 2;
    return e;
}

/// Converts n values of type S into dst (type T), checking the range of T and, when `finite`, finiteness;
/// `first` is the index of src[0] in the array, for messages.
template <class S, class T>
void convert(const S* src, T* dst, std::size_t n, std::uint64_t first, bool finite,
             const std::function<std::string(std::uint64_t)>& where) {
    for (std::size_t i = 0; i < n; ++i) {
        const S v = src[i];
        if constexpr (sizeof(S) > sizeof(T)) {
            if (std::isfinite(v) && std::abs(v) > static_cast<S>(std::numeric_limits<T>::max()))
                fail(fmt::format("{} is {:g}, outside the range of {} (at most {:g} in magnitude)",
                                 where(first + i), static_cast<double>(v), type_name<T>(),
                                 static_cast<double>(std::numeric_limits<T>::max())));
        }
        if (finite && !std::isfinite(v))
            fail(fmt::format("{} is {} (parameters must be finite numbers)", where(first + i),
                             std::isnan(v) ? "NaN"
                             : v > 0       ? "+Inf"
                                           : "-Inf"));
        dst[i] = static_cast<T>(v);
    }
}

template <class T>
matrix<T> npz_archive::read(const npy_entry& e, bool finite) const {
    entry_reader in(m_zip, e);
    {
        unsigned char skip[4096];
        for (std::uint64_t left = e.data_offset; left > 0;) {
            const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof skip));
            in.read(skip, k, "the .npy header");
            left -= k;
        }
    }
    // Fortran order: the data is the transpose, read as [cols × rows] and transposed at the end.
    matrix<T> m(e.fortran ? shape2{e.cols, e.rows} : shape2{e.rows, e.cols});
    const auto where = [&](std::uint64_t k) {
        const std::uint64_t i = e.fortran ? k % e.rows : k / std::max<std::size_t>(e.cols, 1);
        const std::uint64_t j = e.fortran ? k / e.rows : k % std::max<std::size_t>(e.cols, 1);
        return fmt::format("{}: the value at [{}, {}] of {}", e.ctx, i, j, to_string(e.shape()));
    };
    const std::size_t n = m.size();
    const auto data = [&](auto tag) {
        using S = decltype(tag);
        if constexpr (std::is_same_v<S, T>) {
            in.read(m.data(), n * sizeof(T), "the array data");
            if (finite) convert<T, T>(m.data(), m.data(), n, 0, true, where);
        } else {
            S buf[4096];
            for (std::size_t done = 0; done < n;) {
                const std::size_t k = std::min<std::size_t>(n - done, std::size(buf));
                in.read(buf, k * sizeof(S), "the array data");
                convert<S, T>(buf, m.data() + done, k, done, finite, where);
                done += k;
            }
        }
    };
    if (e.item == 4)
        data(float{});
    else
        data(double{});
    in.finish();
    if (e.fortran) return matrix<T>(xt::transpose(m));
    return m;
}

}  // namespace

// ---- public API ----

template <class T>
void save_npz(const std::string& path, const std::vector<std::pair<std::string, const matrix<T>*>>& tensors) {
    // Everything is checked before anything is built or written.
    std::unordered_set<std::string_view> seen;
    for (const auto& [name, m] : tensors) {
        if (name.empty()) fail(fmt::format("{}: cannot save a tensor with an empty name", path));
        if (name.find('\0') != std::string::npos)
            fail(fmt::format("{}: tensor name '{}' contains a NUL byte", path, printable(name)));
        if (name.size() > 0xFFFF - 4)
            fail(fmt::format("{}: tensor name '{}…' is too long", path, name.substr(0, 40)));
        if (!seen.insert(name).second) fail(fmt::format("{}: tensor name '{}' appears twice", path, name));
        if (m == nullptr) fail(fmt::format("{}: tensor '{}' is a null pointer", path, name));
    }

    std::string bytes;
    if (tensors.empty()) {
        // libzip writes no file at all for an archive without entries; numpy writes this end record alone.
        bytes = std::string("PK\x05\x06", 4) + std::string(18, '\0');
    } else {
        std::vector<std::string> headers;  // must live until the archive is closed
        headers.reserve(tensors.size());
        zip_builder zip(path);
        for (const auto& [name, m] : tensors) {
            headers.push_back(npy_header(descr_of<T>(), shape_of(*m)));
            zip.add(name + ".npy",
                    {{reinterpret_cast<zip_uint8_t*>(headers.back().data()), headers.back().size()},
                     {reinterpret_cast<zip_uint8_t*>(const_cast<T*>(m->data())), m->size() * sizeof(T)}});
        }
        bytes = zip.close();
    }
    try {
        io::write_atomically(path, bytes);
    } catch (const io_error& e) {
        fail(e.what());  // the writer's message names the file, the step and the reason
    }
}

template <class T>
std::vector<std::pair<std::string, matrix<T>>> load_npz(const std::string& path) {
    const npz_archive archive(path);
    const std::vector<npy_entry> entries = archive.entries();  // every header checked before any allocation
    std::vector<std::pair<std::string, matrix<T>>> out;
    out.reserve(entries.size());
    for (const npy_entry& e : entries) out.emplace_back(e.key, archive.read<T>(e, false));
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

    // Headers only: names and shapes are compared with the model before any array is read.
    const npz_archive archive(path);
    const std::vector<npy_entry> entries = archive.entries();
    std::vector<const npy_entry*> source(params.size(), nullptr);
    std::vector<std::string> problems;
    std::unordered_set<std::string_view> present;
    for (const npy_entry& e : entries) {
        present.insert(e.key);
        const auto it = wanted.find(e.key);
        if (it == wanted.end()) {
            problems.push_back(fmt::format("unexpected entry '{}' {} (not a parameter of the model)", e.key,
                                           to_string(e.shape())));
            continue;
        }
        const parameter<T>& p = *params[it->second].second;
        if (e.shape() != p.shape())
            problems.push_back(fmt::format("'{}' has shape {} but the model expects {}", e.key,
                                           to_string(e.shape()), to_string(p.shape())));
        else
            source[it->second] = &e;
    }
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
    // Names and shapes match: read each array (exactly the model's sizes; its CRC checked, every value finite
    // and within T's range), then copy all of them into the existing buffers (no allocation, cannot fail).
    std::vector<matrix<T>> values;
    values.reserve(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) values.push_back(archive.read<T>(*source[i], true));
    for (std::size_t i = 0; i < params.size(); ++i)
        std::copy(values[i].begin(), values[i].end(), params[i].second->value().begin());
}

// ---- whole modules: parameters and buffers (batch_norm's running statistics) ----

template <class T>
void save_module(const std::string& path, nn::module<T>& model) {
    std::vector<std::pair<std::string, const parameter<T>*>> state;
    for (const auto& [name, p] : model.named_state()) state.emplace_back(name, p);
    save_parameters<T>(path, state);
}

template <class T>
void load_module(const std::string& path, nn::module<T>& model) {
    load_parameters<T>(path, model.named_state());
}

template void save_module<float>(const std::string&, nn::module<float>&);
template void save_module<double>(const std::string&, nn::module<double>&);
template void load_module<float>(const std::string&, nn::module<float>&);
template void load_module<double>(const std::string&, nn::module<double>&);

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
