/// @file app/sha256.hpp
/// @brief SHA-256 (FIPS 180-4) of a byte string, for the manifest of a run's outputs in model.json (checked
/// with `sha256sum`).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace xgrad::app {

/// SHA-256 of a byte stream fed in pieces.
class sha256 {
public:
    sha256& update(std::string_view bytes);
    /// The digest of everything fed so far as 64 lowercase hex digits (what `sha256sum` prints); call once.
    std::string hex();

private:
    std::array<std::uint32_t, 8> m_h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::array<unsigned char, 64> m_block{};
    std::size_t m_fill = 0;
    std::uint64_t m_bytes = 0;
};

/// The SHA-256 digest of `bytes` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);

/// The SHA-256 digest of a file's contents, read in 1 MiB pieces; throws io_error naming the file.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace xgrad::app
