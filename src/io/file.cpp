// The durable writer: tmp (unique name), write, fsync, rename, fsync of the directory.
#include "xgrad/io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace xgrad::io {

namespace {

std::string errno_text(int e) {
    return std::generic_category().message(e);
}

/// Removes the temporary file (and closes it) unless the rename succeeded.
struct temp_file {
    std::string path;
    int fd = -1;
    bool keep = false;
    ~temp_file() {
        if (fd >= 0) ::close(fd);
        if (!keep) ::unlink(path.c_str());
    }
};

/// A name beside `path` that no other writer uses: the process id and a per-process counter.
std::string temporary_name(const std::string& path) {
    static std::atomic<unsigned long> counter{0};
    return fmt::format("{}.tmp-{}-{}", path, static_cast<long>(::getpid()), counter++);
}

/// Test hook, for tests only (never set it otherwise): XGRAD_TEST_STOP_AT=<stage>[:<file name>] makes every
/// write (with a file name: every write of a file of that name, e.g. `renamed:model.npz`) stop its own
/// process with SIGSTOP when it reaches that stage, so that a test can wait for the stopped process (waitpid
/// with WUNTRACED, or state 'T' in /proc/PID/stat), look at the files and SIGKILL it exactly there: no
/// sleeps, no timing. The stages, in order (the temporary file is `<path>.tmp-<pid>-<n>`):
///   created       the temporary file exists and is empty;
///   half-written  exactly half of the bytes (rounded down) are in the temporary file;
///   written       all bytes are in the temporary file, not yet flushed;
///   synced        the temporary file is flushed (fsync) and closed, not yet renamed;
///   renamed       the temporary file is renamed over `path`, the directory not yet synced;
///   dir-synced    the directory is synced: the write is complete (just before returning).
/// SIGCONT lets the write carry on unchanged. The variable is read once per write (one getenv next to two
/// fsyncs); unset or empty, nothing changes. An unknown stage is an error, so that a misspelt stage cannot
/// silently never stop.
enum class write_stage { none, created, half_written, written, synced, renamed, dir_synced };

write_stage test_stop_stage(const std::filesystem::path& target) {
    static constexpr std::pair<std::string_view, write_stage> stages[] = {
        {"created", write_stage::created}, {"half-written", write_stage::half_written},
        {"written", write_stage::written}, {"synced", write_stage::synced},
        {"renamed", write_stage::renamed}, {"dir-synced", write_stage::dir_synced}};
    const char* value = std::getenv("XGRAD_TEST_STOP_AT");
    if (value == nullptr || *value == '\0') return write_stage::none;
    const std::string_view v = value;
    const std::size_t colon = v.find(':');
    const std::string_view stage_name = v.substr(0, colon);
    for (const auto& [name, stage] : stages) {
        if (name != stage_name) continue;
        if (colon != std::string_view::npos && target.filename().string() != v.substr(colon + 1))
            return write_stage::none;
        return stage;
    }
    throw io_error(
        fmt::format("{}: cannot write: XGRAD_TEST_STOP_AT='{}' is not a stage of a write (created, "
                    "half-written, written, synced, renamed, dir-synced; optionally followed by "
                    "':' and a file name); it is a test hook, unset it",
                    target.string(), v));
}

}  // namespace

void write_atomically(const std::filesystem::path& target, std::span<const piece> pieces) {
    const write_stage stop_at = test_stop_stage(target);
    const auto reached = [stop_at](write_stage s) {
        if (s == stop_at) std::raise(SIGSTOP);  // the test hook above; stops every thread of the process
    };
    const std::string path = target.string();
    const std::string tmp = temporary_name(path);
    const auto io_fail = [&](std::string_view what, const std::string& file, int e) {
        throw io_error(fmt::format("{}: cannot write ({} '{}': {})", path, what, file, errno_text(e)));
    };

    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) io_fail("creating temporary file", tmp, errno);  // nothing created: nothing to remove
    temp_file guard{tmp, fd};
    reached(write_stage::created);

    // With the hook at half-written, one write ends exactly at the middle; otherwise `half` is never reached
    // and the writes are as large as they can be.
    std::size_t total = 0;
    for (const piece& p : pieces) total += p.size;
    const std::size_t half = stop_at == write_stage::half_written ? total / 2 : total + 1;
    std::size_t written = 0;
    for (const piece& p : pieces) {
        auto bytes = static_cast<const char*>(p.data);
        std::size_t left = p.size;
        while (left > 0) {
            std::size_t chunk = std::min<std::size_t>(left, 1u << 30);
            if (written < half && written + chunk > half) chunk = half - written;
            const ssize_t n = ::write(fd, bytes, chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) io_fail("writing temporary file", tmp, n < 0 ? errno : EIO);
            bytes += n;
            left -= static_cast<std::size_t>(n);
            written += static_cast<std::size_t>(n);
            if (written == half) reached(write_stage::half_written);
        }
    }
    reached(write_stage::written);
    if (::fsync(fd) != 0) io_fail("flushing to disk temporary file", tmp, errno);
    guard.fd = -1;
    if (::close(fd) != 0) io_fail("closing temporary file", tmp, errno);
    reached(write_stage::synced);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        io_fail(fmt::format("renaming '{}' over", tmp), path, errno);
    guard.keep = true;
    reached(write_stage::renamed);

    // Make the rename itself durable. Some file systems cannot sync directories (EINVAL): nothing to do.
    std::string dir = target.parent_path().string();
    if (dir.empty()) dir = ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const int rc = dfd < 0 ? -1 : ::fsync(dfd);
    const int e = errno;
    if (dfd >= 0) ::close(dfd);
    if (rc != 0 && e != EINVAL && e != ENOTSUP)
        throw io_error(
            fmt::format("{}: written, but syncing its directory '{}' failed: {}", path, dir, errno_text(e)));
    reached(write_stage::dir_synced);
}

void write_atomically(const std::filesystem::path& path, std::string_view bytes) {
    const piece p{bytes.data(), bytes.size()};
    write_atomically(path, std::span<const piece>(&p, 1));
}

}  // namespace xgrad::io
