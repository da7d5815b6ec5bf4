// A command's outputs written into a staging directory and swapped into place in one rename.
#include "app/output_set.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>  // renameat2, RENAME_EXCHANGE, RENAME_NOREPLACE (glibc ≥ 2.28)
#include <cstdlib>
#include <system_error>

#include <fmt/format.h>

#include "app/arguments.hpp"
#include "xgrad/io/file.hpp"

namespace fs = std::filesystem;

namespace xgrad::app {

namespace {

std::string reason(int e) {
    return std::generic_category().message(e);
}

std::string shown(const fs::path& p) {
    return printable(p.string(), 400);
}

int rename2(const fs::path& from, const fs::path& to, unsigned flags) {
    return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags);
}

/// fsync of a directory; file systems that cannot sync directories (EINVAL) need nothing.
void sync_directory(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const int rc = fd < 0 ? -1 : ::fsync(fd);
    const int e = errno;
    if (fd >= 0) ::close(fd);
    if (rc != 0 && e != EINVAL && e != ENOTSUP)
        throw io_error(fmt::format("{}: cannot sync the directory: {}", shown(dir), reason(e)));
}

/// Test hook, for tests only (never set it otherwise), beside the durable writer's XGRAD_TEST_STOP_AT:
/// XGRAD_TEST_STOP_OUTPUTS=<stage> makes commit() stop its own process with SIGSTOP at that stage, so that a
/// test can SIGKILL it exactly there. The stages:
///   staged   every file of the new set is in the staging directory and synced; nothing swapped yet;
///   swapped  the new set is in place; the previous one (in the staging directory's name) not yet deleted.
/// An unknown stage is an error (a misspelt stage must not silently never stop).
bool stop_at(std::string_view stage) {
    const char* value = std::getenv("XGRAD_TEST_STOP_OUTPUTS");
    if (value == nullptr || *value == '\0') return false;
    const std::string_view v = value;
    if (v != "staged" && v != "swapped") {
        throw io_error(
            fmt::format("XGRAD_TEST_STOP_OUTPUTS='{}' is not a stage of writing the outputs (staged, "
                        "swapped); it is a test hook, unset it",
                        printable(v)));
    }
    return v == stage;
}

}  // namespace

const std::vector<std::string>& output_set::known_outputs() {
    static const std::vector<std::string> names = {
        "model.npz", "model.json", "history.csv", "training.svg", "boundary.svg",
        "model.dot", "model.svg",  "model.png",   "model.pdf",    "resume.npz"};
    return names;
}

output_set::output_set(const fs::path& dir, std::vector<std::string> owned, std::string_view flag)
    : m_given(dir), m_owned(std::move(owned)) {
    std::error_code ec;
    fs::path d = fs::absolute(dir, ec).lexically_normal();
    if (ec) throw usage_error(fmt::format("{}: cannot use {} ({})", flag, shown(dir), ec.message()));
    if (d.has_filename() == false && d.has_parent_path()) d = d.parent_path();  // "out/" → "out"
    const auto st = fs::status(d, ec);                                          // follows a symbolic link
    if (fs::exists(st)) {
        if (!fs::is_directory(st)) {
            throw usage_error(fmt::format("{}: cannot create the directory {}: a file of that name exists",
                                          flag, shown(dir)));
        }
        d = fs::canonical(d, ec);
        if (ec) throw usage_error(fmt::format("{}: cannot use {} ({})", flag, shown(dir), ec.message()));
        const fs::path cwd = fs::canonical(fs::current_path(ec), ec);
        const auto [end, _] = std::mismatch(d.begin(), d.end(), cwd.begin(), cwd.end());
        if (!ec && end == d.end()) {
            throw usage_error(fmt::format(
                "{}: {} is the current directory or holds it; xgrad replaces its output directory as a "
                "whole, so give a directory of its own (e.g. {} xgrad-out)",
                flag, shown(dir), flag));
        }
        struct stat self {
        }, parent{};
        if (::stat(d.c_str(), &self) == 0 && ::stat(d.parent_path().c_str(), &parent) == 0 &&
            self.st_dev != parent.st_dev) {
            throw usage_error(fmt::format(
                "{}: {} is a mount point; xgrad swaps a new output directory in beside the old one, which "
                "cannot cross file systems: give a directory inside it",
                flag, shown(dir)));
        }
        if (::access(d.parent_path().c_str(), W_OK | X_OK) != 0) {
            throw usage_error(fmt::format(
                "{}: the directory {} holding {} is not writable ({}); xgrad writes a run's outputs into a "
                "new directory beside {} and swaps it in",
                flag, shown(d.parent_path()), shown(dir), reason(errno), shown(dir)));
        }
        // Refuse to take over a directory of other files (a typo for the home directory, say).
        std::string other;
        bool ours = false;
        for (const auto& e : fs::directory_iterator(d, ec)) {
            const std::string name = e.path().filename().string();
            if (std::find(known_outputs().begin(), known_outputs().end(), name) != known_outputs().end()) {
                ours = true;
                break;
            }
            if (other.empty()) other = name;
        }
        if (ec)
            throw usage_error(
                fmt::format("{}: cannot read the directory {} ({})", flag, shown(dir), ec.message()));
        if (!ours && !other.empty()) {
            throw usage_error(fmt::format(
                "{}: {} already holds other files (e.g. '{}') and no xgrad output; give a new or empty "
                "directory, or one an earlier xgrad run wrote",
                flag, shown(dir), printable(other)));
        }
    } else {
        // The nearest existing ancestor must be a directory we can create entries in.
        fs::path a = d.parent_path();
        while (!a.empty() && !fs::exists(fs::symlink_status(a, ec)) && a != a.parent_path())
            a = a.parent_path();
        if (!fs::is_directory(a, ec)) {
            throw usage_error(fmt::format("{}: cannot create the directory {} ({} is not a directory)", flag,
                                          shown(dir), shown(a)));
        }
        if (::access(a.c_str(), W_OK | X_OK) != 0) {
            throw usage_error(fmt::format("{}: cannot create the directory {} ({}: {})", flag, shown(dir),
                                          shown(a), reason(errno)));
        }
    }
    m_dir = d;
}

output_set::~output_set() {
    if (m_begun && !m_committed) {
        std::error_code ec;
        fs::remove_all(m_staging, ec);
    }
}

void output_set::begin() {
    static std::atomic<unsigned> counter{0};
    std::error_code ec;
    fs::create_directories(m_dir.parent_path(), ec);
    if (ec) {
        throw io_error(
            fmt::format("{}: cannot create the directory: {}", shown(m_dir.parent_path()), ec.message()));
    }
    for (int attempt = 0;; ++attempt) {
        m_staging = m_dir.parent_path() / fmt::format(".{}.xgrad-tmp-{}-{}", m_dir.filename().string(),
                                                      static_cast<long>(::getpid()), counter++);
        if (::mkdir(m_staging.c_str(), 0777) == 0) break;
        if (errno != EEXIST || attempt > 100) {
            throw io_error(fmt::format("{}: cannot create the directory for the new outputs {}: {}",
                                       shown(m_dir), shown(m_staging), reason(errno)));
        }
    }
    m_begun = true;
}

fs::path output_set::file(std::string_view name) const {
    return m_staging / name;
}

void output_set::commit() {
    // Every staged file reaches the disk before the swap, whoever wrote it (Graphviz writes its picture
    // itself, without fsync).
    std::error_code list_ec;
    for (const auto& e : fs::directory_iterator(m_staging, list_ec)) {
        const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::fsync(fd) != 0) {
            const int err = errno;
            if (fd >= 0) ::close(fd);
            throw io_error(fmt::format("{}: cannot sync to disk: {}", shown(e.path()), reason(err)));
        }
        ::close(fd);
    }
    if (list_ec) throw io_error(fmt::format("{}: cannot list: {}", shown(m_staging), list_ec.message()));
    sync_directory(m_staging);
    if (stop_at("staged")) std::raise(SIGSTOP);

    // Swap the staged directory in. Another run may create or swap the directory at the same time: each
    // attempt either succeeds or tells which case holds now.
    fs::path old;  // where the previous set is after the swap (empty: there was none)
    bool swapped = false;
    for (int attempt = 0; attempt < 100 && !swapped; ++attempt) {
        if (rename2(m_staging, m_dir, RENAME_EXCHANGE) == 0) {
            old = m_staging;
            swapped = true;
            break;
        }
        const int e = errno;
        if (e == ENOENT) {  // no output directory yet: rename into place unless someone just made one
            if (rename2(m_staging, m_dir, RENAME_NOREPLACE) == 0) {
                swapped = true;
            } else if (errno == EINVAL && ::rename(m_staging.c_str(), m_dir.c_str()) == 0) {
                swapped = true;  // no RENAME_NOREPLACE here: rename replaces at most an empty directory
            } else if (errno != EEXIST && errno != ENOTEMPTY) {
                throw io_error(fmt::format("{}: cannot move the new outputs into place: {}", shown(m_dir),
                                           reason(errno)));
            }
        } else if (e == EINVAL || e == ENOSYS || e == ENOTSUP) {
            // A file system without RENAME_EXCHANGE: the old directory goes aside, then the new one in.
            const fs::path aside = fs::path(m_staging.string() + "-old");
            bool had_old = true;
            if (::rename(m_dir.c_str(), aside.c_str()) != 0) {
                if (errno != ENOENT) {
                    throw io_error(fmt::format("{}: cannot move the previous outputs aside: {}", shown(m_dir),
                                               reason(errno)));
                }
                had_old = false;
            }
            if (::rename(m_staging.c_str(), m_dir.c_str()) != 0) {
                const int e2 = errno;
                ::rename(aside.c_str(), m_dir.c_str());  // put the old set back
                throw io_error(
                    fmt::format("{}: cannot move the new outputs into place: {}", shown(m_dir), reason(e2)));
            }
            if (had_old) old = aside;
            swapped = true;
        } else {
            throw io_error(
                fmt::format("{}: cannot move the new outputs into place: {}", shown(m_dir), reason(e)));
        }
    }
    if (!swapped) {
        throw io_error(
            fmt::format("{}: cannot move the new outputs into place: other processes kept "
                        "replacing the directory",
                        shown(m_dir)));
    }
    m_committed = true;  // the new set is in place; what follows tidies up
    if (stop_at("swapped")) std::raise(SIGSTOP);

    if (!old.empty()) {
        // The user's other files go back into the output directory (never over a file of the new set);
        // the previous set is deleted with the old directory.
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(old, ec)) {
            const std::string name = e.path().filename().string();
            if (std::find(m_owned.begin(), m_owned.end(), name) != m_owned.end()) continue;
            if (name.find(".tmp-") != std::string::npos) continue;  // a killed writer's temporary file
            rename2(e.path(), m_dir / name, RENAME_NOREPLACE);      // ENOENT: another run moved it already
        }
        fs::remove_all(old, ec);
    }
    sync_directory(m_dir.parent_path());
}

}  // namespace xgrad::app
