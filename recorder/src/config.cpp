#include "config.hpp"

#include <cstdlib>
#include <cstring>

namespace mtreplay::recorder {
namespace {

void copy_bounded(char* dst, size_t cap, const char* src) {
  const size_t n = strnlen(src, cap - 1);
  std::memcpy(dst, src, n);
  dst[n] = '\0';
}

bool parse_flag(const char* name, bool fallback) {
  const char* v = getenv(name);
  if (!v || !*v) return fallback;
  return !(v[0] == '0' || v[0] == 'n' || v[0] == 'N' || v[0] == 'f' || v[0] == 'F');
}

uint32_t parse_u32(const char*& p) {
  uint32_t v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + static_cast<uint32_t>(*p++ - '0');
  return v;
}

}  // namespace

void read_config(Config& c) {
  if (const char* v = getenv("MHOOK_OUTPUT"); v && *v)
    copy_bounded(c.output_pattern, sizeof c.output_pattern, v);
  if (const char* v = getenv("MHOOK_MANIFEST"); v && *v)
    copy_bounded(c.manifest, sizeof c.manifest, v);
  c.follow_fork = parse_flag("MHOOK_FOLLOW_FORK", true);
  c.follow_exec = parse_flag("MHOOK_FOLLOW_EXEC", true);
  // `mtreplay record --touched` passes its word; 0 and 1 are the flag's usual spellings.
  if (const char* v = getenv("MHOOK_TOUCHED"); v && *v)
    c.touched_mode = std::strcmp(v, "off") == 0          ? 0
                     : std::strcmp(v, "resident") == 0   ? 1
                     : std::strcmp(v, "exact") == 0      ? 2
                     : std::strcmp(v, "auto") == 0       ? 3
                     : parse_flag("MHOOK_TOUCHED", true) ? 3
                                                         : 0;
  if (const char* v = getenv("MHOOK_ZSTD_LEVEL"); v && *v) {
    const int level = atoi(v);
    if (level >= 1 && level <= 19) c.compression_level = level;
  }
  if (const char* v = getenv(kExecOfVariable); v && *v) {
    const char* p = v;
    c.exec_of_pid = parse_u32(p);
    if (*p == ':') {
      ++p;
      c.exec_of_generation = parse_u32(p);
    }
    c.exec_of_present = c.exec_of_pid != 0;
  }
}

}  // namespace mtreplay::recorder
