#include "mtreplay/traces/content_hash.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "mtreplay/traces/format.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::traces {

std::string content_hash(const std::filesystem::path& path,
                         const std::function<void(uint64_t done, uint64_t total)>& progress) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw TraceError(fmt::format("cannot open trace {}: {}", path.string(), std::strerror(errno)),
                     0);
  std::array<std::byte, 1 << 16> buffer;
  uint64_t hash = format::kFnvOffset, offset = 0, total = 0;
  if (progress) {
    std::error_code error;
    total = std::filesystem::file_size(path, error);
    if (error) total = 0;
  }
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw TraceError(fmt::format("cannot read trace {} at byte {}: {}", path.string(), offset,
                                   std::strerror(error)),
                       offset);
    }
    if (n == 0) break;
    hash = format::fnv1a64({buffer.data(), static_cast<size_t>(n)}, hash);
    offset += static_cast<uint64_t>(n);
    if (progress && offset % (uint64_t{16} << 20) < static_cast<uint64_t>(n))
      progress(offset, total);
  }
  ::close(fd);
  return fmt::format("fnv1a64:{:016x}", hash);
}

}  // namespace mtreplay::traces
