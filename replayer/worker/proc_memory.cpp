#include "proc_memory.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace mtreplay::replay {
namespace {

// Reads a whole small /proc file into buf (NUL-terminated); length or -1.
ssize_t read_small(const char* path, char* buf, size_t capacity) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, capacity - 1);
  close(fd);
  if (n >= 0) buf[n] = '\0';
  return n;
}

}  // namespace

uint64_t resident_bytes(int statm_fd) {
  char buf[128];
  ssize_t n = pread(statm_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char* rest = nullptr;
  std::strtoull(buf, &rest, 10);  // total program size; resident follows
  uint64_t pages = std::strtoull(rest, nullptr, 10);
  return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t peak_resident_bytes() {
  char buf[4096];
  if (read_small("/proc/self/status", buf, sizeof buf) <= 0) return 0;
  const char* line = std::strstr(buf, "VmHWM:");
  if (!line) return 0;
  return std::strtoull(line + 6, nullptr, 10) * 1024;
}

bool reset_peak_resident() {
  int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, "5", 1) == 1;
  close(fd);
  return ok;
}

}  // namespace mtreplay::replay
