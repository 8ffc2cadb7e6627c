#include "exec_environment.hpp"

#include <sys/mman.h>

#include <cstring>

#include "config.hpp"
#include "decimal.hpp"

namespace mtreplay::recorder {
namespace {

bool starts_with(const char* s, const char* prefix) {
  return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

bool is_mhook_entry(const char* begin, const char* end) {
  const char* base = begin;
  for (const char* p = begin; p < end; ++p)
    if (*p == '/') base = p + 1;
  const size_t n = static_cast<size_t>(end - base);
  return n >= 8 && std::strncmp(base, "libmhook", 8) == 0;
}

// Copies "LD_PRELOAD=<list>" without libmhook entries into out; false if empty.
bool strip_mhook(const char* entry, char* out) {
  const char* list = entry + std::strlen("LD_PRELOAD=");
  char* w = out;
  std::memcpy(w, "LD_PRELOAD=", 11);
  w += 11;
  bool any = false;
  const char* p = list;
  while (*p) {
    while (*p == ':' || *p == ' ') ++p;
    const char* begin = p;
    while (*p && *p != ':' && *p != ' ') ++p;
    if (p > begin && !is_mhook_entry(begin, p)) {
      if (any) *w++ = ':';
      std::memcpy(w, begin, static_cast<size_t>(p - begin));
      w += p - begin;
      any = true;
    }
  }
  *w = '\0';
  return any;
}

}  // namespace

ExecEnvironment::ExecEnvironment(char* const* envp, unsigned pid, unsigned generation,
                                 bool keep_preload)
    : envp_(envp) {
  static char* const empty[] = {nullptr};
  char* const* src = envp ? envp : empty;
  size_t count = 0, bytes = 0;
  for (; src[count]; ++count) bytes += std::strlen(src[count]) + 1;
  const size_t pointer_bytes = (count + 2) * sizeof(char*);
  mapping_bytes_ = pointer_bytes + bytes + 64;
  void* m =
      mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    mapping_ = nullptr;
    return;
  }
  mapping_ = m;
  auto** out = static_cast<char**>(m);
  char* strings = static_cast<char*>(m) + pointer_bytes;
  size_t n = 0;
  const size_t prefix_len = std::strlen(kExecOfVariable);
  for (size_t i = 0; i < count; ++i) {
    const char* e = src[i];
    if (std::strncmp(e, kExecOfVariable, prefix_len) == 0 && e[prefix_len] == '=') continue;
    if (!keep_preload && starts_with(e, "LD_PRELOAD=")) {
      if (strip_mhook(e, strings)) {
        out[n++] = strings;
        strings += std::strlen(strings) + 1;
      }
      continue;
    }
    out[n++] = const_cast<char*>(e);
  }
  if (keep_preload) {
    char* w = strings;
    std::memcpy(w, kExecOfVariable, prefix_len);
    w += prefix_len;
    *w++ = '=';
    w = write_decimal(w, pid);
    *w++ = ':';
    w = write_decimal(w, generation);
    *w = '\0';
    out[n++] = strings;
  }
  out[n] = nullptr;
  envp_ = out;
}

ExecEnvironment::~ExecEnvironment() {
  if (mapping_) munmap(mapping_, mapping_bytes_);
}

}  // namespace mtreplay::recorder
