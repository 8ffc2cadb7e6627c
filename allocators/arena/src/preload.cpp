// libarena.so: the malloc family under its standard names, for LD_PRELOAD.
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "arena/arena.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

EXPORT void* malloc(size_t size) noexcept {
  return arena_malloc(size);
}
EXPORT void free(void* ptr) noexcept {
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

// ARENA_SHOW_STATS set (and not "0"): the report malloc_stats() writes, on stderr when
// the process exits through exit() or a return from main, after a line naming it; for
// a program that cannot be changed to call malloc_stats() itself (mimalloc has
// MIMALLOC_SHOW_STATS for this). It shows what the heap holds at exit, not at its peak.
// Formatted on the stack, as the report is: nothing here may allocate.
[[gnu::destructor]] void show_stats_at_exit() {
  const char* wanted = getenv("ARENA_SHOW_STATS");
  if (wanted == nullptr || wanted[0] == '\0' || (wanted[0] == '0' && wanted[1] == '\0')) return;
  char line[64];
  const int n = snprintf(line, sizeof line, "arena: at exit of process %d\n", getpid());
  if (n <= 0 || write(2, line, static_cast<size_t>(n)) < 0) return;
  arena_print_stats(2);
}

}  // namespace
