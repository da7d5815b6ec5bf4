// The durable writer: tmp (unique name), write, fsync, rename, fsync of the directory.
#include "xgrad/io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>

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

}  // namespace

void write_atomically(const std::filesystem::path& target, std::span<const piece> pieces) {
    const std::string path = target.string();
    const std::string tmp = temporary_name(path);
    const auto io_fail = [&](std::string_view what, const std::string& file, int e) {
        throw io_error(fmt::format("{}: cannot write ({} '{}': {})", path, what, file, errno_text(e)));
    };

    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) io_fail("creating temporary file", tmp, errno);  // nothing created: nothing to remove
    temp_file guard{tmp, fd};

    for (const piece& p : pieces) {
        auto bytes = static_cast<const char*>(p.data);
        std::size_t left = p.size;
        while (left > 0) {
            const ssize_t n = ::write(fd, bytes, std::min<std::size_t>(left, 1u << 30));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) io_fail("writing temporary file", tmp, n < 0 ? errno : EIO);
            bytes += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    if (::fsync(fd) != 0) io_fail("flushing to disk temporary file", tmp, errno);
    guard.fd = -1;
    if (::close(fd) != 0) io_fail("closing temporary file", tmp, errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        io_fail(fmt::format("renaming '{}' over", tmp), path, errno);
    guard.keep = true;

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
}

void write_atomically(const std::filesystem::path& path, std::string_view bytes) {
    const piece p{bytes.data(), bytes.size()};
    write_atomically(path, std::span<const piece>(&p, 1));
}

}  // namespace xgrad::io
