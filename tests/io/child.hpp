// Running a loader in a child process, for the resource tests of the I/O layer (tests/io, tests/data): with a
// bound on the memory it may take, or reading a FIFO that a writer feeds only once the loader reads it.
// Nothing here measures time: a child either finishes or is observed doing what it must not (reading the
// FIFO, allocating past its budget).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <new>
#include <string>

#include <xgrad/error.hpp>

namespace xgrad::test {

/// True in an AddressSanitizer build, where RLIMIT_AS cannot bound a process (the sanitizer reserves
/// terabytes of address space up front).
constexpr bool address_sanitizer =
#if defined(__SANITIZE_ADDRESS__)
    true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    true;
#else
    false;
#endif
#else
    false;
#endif

/// The address space of this process in bytes (/proc/self/statm, first field).
inline std::size_t address_space_bytes() {
    std::ifstream in("/proc/self/statm");
    std::size_t pages = 0;
    in >> pages;
    return pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// How a child's run of f ended: "ok", "error: <what()>" for an xgrad::error, "bad_alloc" (it wanted more
/// memory than its budget), "exception: <what()>", or "died: status <n>".
struct child_result {
    std::string outcome;
    bool ok() const { return outcome == "ok"; }
    bool error() const { return outcome.rfind("error: ", 0) == 0; }
    std::string message() const { return error() ? outcome.substr(7) : std::string(); }
};

/// Runs f() in a forked child and reports how it ended.
///   memory_budget > 0: the child's address space may grow by at most that many bytes beyond its size when f
///     starts (RLIMIT_AS); an allocation past it throws bad_alloc. Not available under AddressSanitizer.
///   fifo_fd ≥ 0: a descriptor of a FIFO opened O_RDWR by the caller and filled until full. The child closes
///   its
///     copy; the parent closes its own as soon as the FIFO has room again — that is, once the child reads
///     from it — so a loader that reads the FIFO sees its data and then its end instead of blocking for ever,
///     and one that refuses it leaves it untouched.
template <class F>
child_result run_in_child(F&& f, std::size_t memory_budget = 0, int fifo_fd = -1) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) return {"died: pipe failed"};
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return {"died: fork failed"};
    if (pid == 0) {
        ::close(pipe_fds[0]);
        if (fifo_fd >= 0) ::close(fifo_fd);
        std::string outcome;
        try {
            if (memory_budget > 0) {
                const rlim_t limit = address_space_bytes() + memory_budget;
                const rlimit r{limit, limit};
                if (::setrlimit(RLIMIT_AS, &r) != 0) throw std::runtime_error("setrlimit failed");
            }
            f();
            outcome = "ok";
        } catch (const xgrad::error& e) {
            outcome = std::string("error: ") + e.what();
        } catch (const std::bad_alloc&) {
            outcome = "bad_alloc";
        } catch (const std::exception& e) {
            outcome = std::string("exception: ") + e.what();
        }
        for (std::size_t done = 0; done < outcome.size();) {
            const ssize_t n = ::write(pipe_fds[1], outcome.data() + done, outcome.size() - done);
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    std::string outcome;
    char buf[4096];
    for (;;) {
        pollfd fds[2] = {{pipe_fds[0], POLLIN, 0}, {fifo_fd, POLLOUT, 0}};
        if (::poll(fds, fifo_fd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fifo_fd >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ::close(fifo_fd);  // the child reads the FIFO: let it see the end of the data
            fifo_fd = -1;
        }
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            outcome.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(pipe_fds[0]);
    if (fifo_fd >= 0) ::close(fifo_fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || outcome.empty())
        return {"died: status " + std::to_string(status) + (outcome.empty() ? "" : ", after: " + outcome)};
    return {outcome};
}

/// A FIFO at `path`, opened O_RDWR (which never blocks) and filled with `line` repeated until it is full.
/// Returns the descriptor, for run_in_child; -1 when the FIFO cannot be made.
inline int full_fifo(const std::string& path, const std::string& first, const std::string& line) {
    if (::mkfifo(path.c_str(), 0600) != 0) return -1;
    const int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    if (::write(fd, first.data(), first.size()) != static_cast<ssize_t>(first.size())) return -1;
    while (::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
    }
    return fd;
}

}  // namespace xgrad::test
