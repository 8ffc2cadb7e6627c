#pragma once
// ptmalloc: the project's classic, in-band allocator (per-thread arenas, boundary
// tags, bins, coalescing, top chunk, mmap for large blocks). The prefixed API below is
// the whole malloc family; libptmalloc.so exports the same functions unprefixed.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void* pt_malloc(size_t n);
void pt_free(void* p);
void* pt_calloc(size_t count, size_t size);
void* pt_realloc(void* p, size_t n);
void* pt_reallocarray(void* p, size_t count, size_t size);
void* pt_memalign(size_t align, size_t n);
int pt_posix_memalign(void** out, size_t align, size_t n);
void* pt_aligned_alloc(size_t align, size_t n);
void* pt_valloc(size_t n);
void* pt_pvalloc(size_t n);
size_t pt_malloc_usable_size(void* p);

// Introspection for tests and tools.
// Walks every arena's heaps under its lock and checks the boundary tags, the bins and
// the no-two-free-neighbours invariant; returns 0 when all is consistent, else the
// number of problems found (and writes the first to stderr).
size_t pt_check_heaps(void);
// Number of arenas created so far (the main arena included).
size_t pt_arena_count(void);
// Gives the calling thread's cached blocks back to their arenas.
void pt_thread_cache_flush(void);

#ifdef __cplusplus
}
#endif
