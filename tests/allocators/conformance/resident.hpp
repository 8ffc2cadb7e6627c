// The process's resident set, to tell a free that returns memory from one that leaks.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdio>

namespace mtreplay::alloctest {

inline std::size_t resident_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  unsigned long size_pages = 0;
  unsigned long resident_pages = 0;
  const int read = std::fscanf(statm, "%lu %lu", &size_pages, &resident_pages);
  std::fclose(statm);
  return read == 2 ? resident_pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace mtreplay::alloctest
