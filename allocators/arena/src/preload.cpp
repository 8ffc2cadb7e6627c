// libarena.so: the malloc family under its standard names, for LD_PRELOAD.
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "arena/arena.h"

#define EXPORT extern "C" __attribute__((visibility("default")))
// malloc and free hold the inlined fast paths. At the default 16-byte alignment they
// landed wherever the code before them ended: a change to a slow path moved malloc 16
// bytes off a cache line and made small_churn, whose instructions did not change, 12 %
// slower (medians of 15 runs; BENCHMARKS.md, #12, Session 50).
#define HOT_ENTRY __attribute__((aligned(64)))

#if defined(ARENA_LAYOUT_PAD) && ARENA_LAYOUT_PAD > 0
// layout_sweep.py's builds only (CMake's ARENA_LAYOUT_PAD): moves malloc and free by that
// many bytes. Where the fast paths land moves small_churn's wall by up to 17 % with no
// instruction changed (BENCHMARKS.md, #12, Session 57), so a change is timed at several.
#define ARENA_STRINGIFY(x) #x
#define ARENA_PAD_DIRECTIVE(bytes) ".skip " ARENA_STRINGIFY(bytes) ", 0xcc"
extern "C" __attribute__((aligned(64), used, noinline)) void arena_layout_pad() {
  asm volatile(ARENA_PAD_DIRECTIVE(ARENA_LAYOUT_PAD));
}
#endif

EXPORT HOT_ENTRY void* malloc(size_t size) noexcept {
  return arena_malloc(size);
}
EXPORT HOT_ENTRY void free(void* ptr) noexcept {
  arena_free(ptr);
}
EXPORT void cfree(void* ptr) noexcept {
  arena_free(ptr);
}
EXPORT void* calloc(size_t count, size_t size) noexcept {
  return arena_calloc(count, size);
}
EXPORT void* realloc(void* ptr, size_t size) noexcept {
  return arena_realloc(ptr, size);
}
EXPORT void* reallocarray(void* ptr, size_t count, size_t size) noexcept {
  return arena_reallocarray(ptr, count, size);
}
EXPORT void* memalign(size_t alignment, size_t size) noexcept {
  return arena_memalign(alignment, size);
}
EXPORT int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  return arena_posix_memalign(out, alignment, size);
}
EXPORT void* aligned_alloc(size_t alignment, size_t size) noexcept {
  return arena_aligned_alloc(alignment, size);
}
EXPORT void* valloc(size_t size) noexcept {
  return arena_valloc(size);
}
EXPORT void* pvalloc(size_t size) noexcept {
  return arena_pvalloc(size);
}
EXPORT size_t malloc_usable_size(void* ptr) noexcept {
  return arena_malloc_usable_size(ptr);
}
EXPORT int malloc_trim(size_t) noexcept {
  arena_trim();
  return 1;
}
// glibc's describe its own arenas, which hold nothing under this library.
EXPORT void malloc_stats() noexcept {
  arena_print_stats(2);
}
EXPORT struct mallinfo2 mallinfo2() noexcept {
  struct mallinfo2 info;
  arena_mallinfo2(&info);
  return info;
}
// The old interface's int fields wrap above 2 GiB, as glibc's do.
EXPORT struct mallinfo mallinfo() noexcept {
  struct mallinfo2 wide;
  arena_mallinfo2(&wide);
  auto narrow = [](size_t n) { return static_cast<int>(n); };
  return {narrow(wide.arena),    narrow(wide.ordblks), narrow(wide.smblks),  narrow(wide.hblks),
          narrow(wide.hblkhd),   narrow(wide.usmblks), narrow(wide.fsmblks), narrow(wide.uordblks),
          narrow(wide.fordblks), narrow(wide.keepcost)};
}

namespace {

// The file ARENA_SHOW_STATS names, "%p" in it replaced by the process id, opened to
// append to; -1 when it cannot be.
int open_stats_file(const char* pattern) {
  char path[4096];
  size_t length = 0;
  for (const char* c = pattern; *c != '\0'; ++c) {
    char pid[24];
    const bool is_pid = c[0] == '%' && c[1] == 'p';
    const int n = is_pid ? snprintf(pid, sizeof pid, "%d", getpid()) : 1;
    if (n <= 0 || length + static_cast<size_t>(n) >= sizeof path) return -1;
    for (int i = 0; i < n; ++i) path[length++] = is_pid ? pid[i] : *c;
    if (is_pid) ++c;
  }
  path[length] = '\0';
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

// ARENA_SHOW_STATS set (and not "0"): the report malloc_stats() writes, on stderr when
// the process exits through exit() or a return from main, after a line naming it; for
// a program that cannot be changed to call malloc_stats() itself (mimalloc has
// MIMALLOC_SHOW_STATS for this). It shows what the heap holds at exit, not at its peak.
// A value starting with '/' names a file to append the report to instead: coreutils
// close stderr before they exit, and their report was lost. Formatted on the stack, as
// the report is: nothing here may allocate.
[[gnu::destructor]] void show_stats_at_exit() {
  const char* wanted = getenv("ARENA_SHOW_STATS");
  if (wanted == nullptr || wanted[0] == '\0' || (wanted[0] == '0' && wanted[1] == '\0')) return;
  char line[512];
  const int fd = wanted[0] == '/' ? open_stats_file(wanted) : 2;
  if (fd < 0) {
    const int n =
        snprintf(line, sizeof line, "arena: process %d: ARENA_SHOW_STATS: cannot open %s\n",
                 getpid(), wanted);
    const size_t length = n < 0 ? 0 : static_cast<size_t>(n);  // truncated when too long
    (void)!write(2, line, length < sizeof line ? length : sizeof line - 1);
    return;
  }
  const int n = snprintf(line, sizeof line, "arena: at exit of process %d\n", getpid());
  if (n > 0 && write(fd, line, static_cast<size_t>(n)) >= 0) arena_print_stats(fd);
  if (fd != 2) close(fd);
}

}  // namespace
