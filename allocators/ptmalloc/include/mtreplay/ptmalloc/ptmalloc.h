#pragma once
// ptmalloc: the project's classic, in-band allocator (per-thread arenas, boundary
// tags, bins, coalescing, top chunk, mmap for large blocks). The prefixed API below is
// the whole malloc family; libptmalloc.so exports the same functions unprefixed.
#include <stddef.h>

// Exported from libptmalloc.so too, so tools and tests can find them with dlsym.
#define PT_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

PT_API void* pt_malloc(size_t n);
PT_API void pt_free(void* p);
PT_API void* pt_calloc(size_t count, size_t size);
PT_API void* pt_realloc(void* p, size_t n);
PT_API void* pt_reallocarray(void* p, size_t count, size_t size);
PT_API void* pt_memalign(size_t align, size_t n);
PT_API int pt_posix_memalign(void** out, size_t align, size_t n);
PT_API void* pt_aligned_alloc(size_t align, size_t n);
PT_API void* pt_valloc(size_t n);
PT_API void* pt_pvalloc(size_t n);
PT_API size_t pt_malloc_usable_size(void* p);

// Introspection for tests and tools.
// Walks every arena's heaps under its lock and checks the boundary tags, the bins and
// the no-two-free-neighbours invariant; returns 0 when all is consistent, else the
// number of problems found (and writes the first to stderr).
PT_API size_t pt_check_heaps(void);
// Number of arenas created so far (the main arena included).
PT_API size_t pt_arena_count(void);
// Gives the calling thread's cached blocks back to their arenas.
PT_API void pt_thread_cache_flush(void);

#ifdef __cplusplus
}
#endif
