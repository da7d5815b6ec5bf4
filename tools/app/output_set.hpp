/// @file app/output_set.hpp
/// @brief A command's outputs as one set: all new or all old, whatever happens while they are written.
///
/// The files are written (each through io::write_atomically) into a fresh directory beside the output
/// directory, `.<name>.xgrad-tmp-<pid>-<n>`, and that directory is then swapped with the output directory in
/// one step (Linux renameat2 with RENAME_EXCHANGE). Other files a user keeps in the output directory are
/// moved back into it; the previous run's files are deleted. So:
///   * a failure while writing (a full disk, say) leaves the previous set untouched and no temporary file;
///   * two runs into one directory each swap in a complete set: the directory ends with one of them;
///   * after a crash (SIGKILL) the directory holds the old set or the new one, never a mix; the crash can
///     leave the hidden staging directory beside it (safe to delete).
/// On a file system without RENAME_EXCHANGE the old directory is renamed aside and the new one renamed in:
/// for that instant the output directory does not exist.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace xgrad::app {

/// The files one run of a command writes into an output directory, replaced as a set.
class output_set {
public:
    /// Checks, writing nothing, that `dir` can receive a new set: it is absent or a directory (a symbolic
    /// link to one is followed), not a mount point, not the current directory or one of its ancestors; the
    /// directory it lives in is writable (or can be created); and when it already holds files, at least one
    /// of them is an xgrad output (xgrad does not take over a directory of other files). `owned` lists every
    /// name the command writes: those of the old set are deleted even when the new set has no such file.
    /// Throws usage_error naming `flag`.
    output_set(const std::filesystem::path& dir, std::vector<std::string> owned, std::string_view flag);
    output_set(const output_set&) = delete;
    output_set& operator=(const output_set&) = delete;
    /// Deletes the staging directory unless commit() succeeded.
    ~output_set();

    /// Creates the staging directory (and the output directory's missing parents). Throws io_error with
    /// errno's reason.
    void begin();
    /// Where to write `name` (one of `owned`) before commit().
    std::filesystem::path file(std::string_view name) const;
    /// Swaps the staged set into place, moves the user's other files back into it, deletes the old set and
    /// syncs the parent directory. Throws io_error with errno's reason; on failure the old set is in place.
    void commit();

    /// The output directory (absolute; a symbolic link resolved).
    const std::filesystem::path& dir() const { return m_dir; }
    /// The output directory as the user gave it (for messages).
    const std::filesystem::path& given() const { return m_given; }
    /// Every name of an xgrad output; a directory holding one of them is taken to be xgrad's.
    static const std::vector<std::string>& known_outputs();

private:
    std::filesystem::path m_given, m_dir, m_staging;
    std::vector<std::string> m_owned;
    bool m_begun = false, m_committed = false;
};

}  // namespace xgrad::app
