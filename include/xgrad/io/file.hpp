/// @file io/file.hpp
/// @brief The one durable file writer every output of xgrad goes through (checkpoints, model.json, histories,
/// charts, pictures): a new file appears whole or not at all.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>

#include "xgrad/error.hpp"

namespace xgrad {

/// A file that cannot be written (the message names the file, the step that failed and the reason).
class io_error : public error {
public:
    using error::error;
};

namespace io {

/// One piece of a file to write: bytes that live elsewhere until the write is done.
struct piece {
    const void* data;
    std::size_t size;
};

/// Writes the concatenation of `pieces` to `path` durably and atomically: a temporary file with a unique name
/// beside `path` (so concurrent writers never collide), write, fsync, rename over `path`, fsync of the
/// directory. Readers see the old file or the new one, never a mix; after a crash (or SIGKILL) at any point
/// the old file is intact, and a left-over temporary file is never taken for the real one. Throws io_error
/// naming `path`, the step and errno's reason (a full disk: "No space left on device"); the temporary file is
/// removed on every failure.
void write_atomically(const std::filesystem::path& path, std::span<const piece> pieces);

/// write_atomically of one text or byte string.
void write_atomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace io
}  // namespace xgrad
