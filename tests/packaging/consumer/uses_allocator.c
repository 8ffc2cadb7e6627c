// Built with pkg-config against mtreplay-dsmalloc or mtreplay-ptmalloc: the program's
// malloc is the linked allocator's (the symbol resolves into its library), and its
// prefixed usable-size call knows the blocks.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#ifdef USE_DSMALLOC
#include <mtreplay/dsmalloc/dsmalloc.h>
#define USABLE ds_malloc_usable_size
#define LIBRARY "libdsmalloc.so"
#else
#include <mtreplay/ptmalloc/ptmalloc.h>
#define USABLE pt_malloc_usable_size
#define LIBRARY "libptmalloc.so"
#endif

int main(void) {
  Dl_info where;
  if (!dladdr((void*)&malloc, &where) || !strstr(where.dli_fname, LIBRARY)) {
    fprintf(stderr, "malloc resolves to %s, not %s\n", where.dli_fname, LIBRARY);
    return 1;
  }
  char* p = malloc(1000);
  if (!p) return 1;
  size_t usable = USABLE(p);
  free(p);
  if (usable < 1000) {
    fprintf(stderr, "malloc is not the linked allocator's (usable %zu)\n", usable);
    return 1;
  }
  printf("malloc from %s, usable size %zu\n", where.dli_fname, usable);
  return 0;
}
