// What the measuring shims (libreuse_age.so, libfirst_use.so) share: preloaded in front
// of an allocator, each finds the malloc and free after it in the process, and at exit
// writes one JSON line to the file its environment variable names ("%p" in the name
// becomes the process id, for commands that start other programs), else to stderr.
#pragma once

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace preload_shim {

using MallocFn = void* (*)(std::size_t);
using FreeFn = void (*)(void*);

// The allocator behind the shim. dlsym may allocate (an error message); while it runs,
// the malloc handed out takes from a small static buffer, whose blocks free ignores.
class NextAllocator {
 public:
  explicit constexpr NextAllocator(const char* shim) : shim_(shim) {}

  MallocFn next_malloc() {
    if (malloc_ == nullptr) [[unlikely]] {
      if (resolving_.load(std::memory_order_relaxed)) return &bootstrap_malloc;
      resolve();
    }
    return malloc_;
  }
  // nullptr for a pointer the free must ignore (null or from the buffer).
  FreeFn free_for(const void* p) {
    if (p == nullptr || (p >= static_cast<const void*>(bootstrap_) &&
                         p < static_cast<const void*>(bootstrap_ + sizeof bootstrap_)))
      return nullptr;
    if (free_ == nullptr) resolve();
    return free_;
  }

 private:
  static void* bootstrap_malloc(std::size_t size) {
    const std::size_t bytes = (size + 15) & ~std::size_t{15};
    const std::size_t at = bootstrap_used_.fetch_add(bytes, std::memory_order_relaxed);
    return at + bytes <= sizeof bootstrap_ ? bootstrap_ + at : nullptr;
  }

  void resolve() {
    resolving_.store(true, std::memory_order_relaxed);
    malloc_ = reinterpret_cast<MallocFn>(dlsym(RTLD_NEXT, "malloc"));
    free_ = reinterpret_cast<FreeFn>(dlsym(RTLD_NEXT, "free"));
    resolving_.store(false, std::memory_order_relaxed);
    if (malloc_ == nullptr || free_ == nullptr) {
      char message[160];
      const int n = std::snprintf(message, sizeof message,
                                  "%s: no malloc or free after it in the process\n", shim_);
      (void)!write(2, message, static_cast<std::size_t>(n));
      _exit(2);
    }
  }

  const char* shim_;
  MallocFn malloc_ = nullptr;
  FreeFn free_ = nullptr;
  std::atomic<bool> resolving_{false};
  // One buffer whichever shim: a process preloads one of them.
  alignas(16) static inline char bootstrap_[4096] = {};
  static inline std::atomic<std::size_t> bootstrap_used_{0};
};

// Writes `line` to the file named by the environment variable `variable` ("%p" replaced
// by the process id), or to stderr when it is not set; a file that cannot be written
// gets one line on stderr naming it, and the program's exit status is left alone.
inline void write_report(const char* shim, const char* variable, const char* line,
                         std::size_t length) {
  char path[4096];
  const char* pattern = std::getenv(variable);
  std::size_t used = 0;
  for (const char* c = pattern; c != nullptr && *c != '\0' && used + 24 < sizeof path; ++c) {
    if (c[0] == '%' && c[1] == 'p') {
      used += static_cast<std::size_t>(
          std::snprintf(path + used, sizeof path - used, "%d", static_cast<int>(getpid())));
      ++c;
    } else {
      path[used++] = *c;
    }
  }
  path[used] = '\0';
  const int fd =
      pattern != nullptr ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : 2;
  if (fd < 0) {
    std::fprintf(stderr, "%s: cannot write %s\n", shim, path);
    return;
  }
  (void)!write(fd, line, length);
  if (fd != 2) close(fd);
}

}  // namespace preload_shim
