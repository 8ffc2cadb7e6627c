// Links libarena.so directly: the program's own malloc/free are arena's (the library
// exports the malloc family), and the prefixed API of arena/arena.h is there too.
#define _GNU_SOURCE
#include <arena/arena.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  Dl_info where;
  if (!dladdr((void*)&malloc, &where) || !strstr(where.dli_fname, "libarena.so")) {
    fprintf(stderr, "malloc resolves to %s, not libarena.so\n", where.dli_fname);
    return 1;
  }
  enum { kBlocks = 1000 };
  static void* blocks[kBlocks];
  for (int i = 0; i < kBlocks; ++i) {
    blocks[i] = malloc(64 + (size_t)i);
    if (!blocks[i]) return 1;
    memset(blocks[i], i & 0xff, 64 + (size_t)i);
  }
  struct arena_stats stats;
  arena_get_stats(&stats);
  // Blocks from plain malloc are arena's: it knows their usable size, and its pages hold them.
  size_t usable = arena_malloc_usable_size(blocks[kBlocks - 1]);
  if (stats.segments == 0 || stats.pages_in_use == 0 || usable < 64 + kBlocks - 1) {
    fprintf(stderr, "malloc is not arena's: segments %zu, pages %zu, usable %zu\n", stats.segments,
            stats.pages_in_use, usable);
    return 1;
  }
  for (int i = 0; i < kBlocks; ++i) free(blocks[i]);
  void* p = arena_malloc(100);
  arena_free(p);
  printf("arena: %zu segments, %zu pages in use, usable size %zu\n", stats.segments,
         stats.pages_in_use, usable);
  return 0;
}
