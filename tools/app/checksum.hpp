/// @file app/checksum.hpp
/// @brief The CRC-32 of a file (zlib's, as `python3 -c "import zlib; print('%08x' % zlib.crc32(open(F,
/// 'rb').read()))"` and `crc32 F` print it), for the manifest that ties a run's outputs together in
/// model.json.
#pragma once

#include <filesystem>
#include <string>

namespace xgrad::app {

/// The CRC-32 (zlib, ISO-HDLC) of the file's bytes as 8 lowercase hex digits; throws io_error naming the file
/// when it cannot be read.
std::string crc32_file(const std::filesystem::path& path);

}  // namespace xgrad::app
