#include "app/checksum.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "xgrad/io/file.hpp"

namespace xgrad::app {

std::string crc32_file(const std::filesystem::path& path) {
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) {
        throw io_error(
            fmt::format("{}: cannot read ({})", path.string(), std::generic_category().message(errno)));
    }
    std::vector<unsigned char> buffer(1 << 16);
    uLong crc = ::crc32(0L, Z_NULL, 0);
    while (const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), f.get())) {
        crc = ::crc32(crc, buffer.data(), static_cast<uInt>(n));
    }
    if (std::ferror(f.get())) throw io_error(fmt::format("{}: cannot read", path.string()));
    return fmt::format("{:08x}", crc);
}

}  // namespace xgrad::app
