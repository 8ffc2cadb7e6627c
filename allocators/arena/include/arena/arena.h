// The arena allocator's prefixed API: the same malloc family as the preload .so
// (libarena.so), under arena_* names so that tests and tools can call it next to the
// system malloc. Plain C declarations so that C programs can use it too.
#pragma once

#include <malloc.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#define ARENA_NOEXCEPT noexcept
#else
#define ARENA_NOEXCEPT
#endif

#define ARENA_API __attribute__((visibility("default")))

ARENA_API void* arena_malloc(size_t size) ARENA_NOEXCEPT;
ARENA_API void arena_free(void* ptr) ARENA_NOEXCEPT;
ARENA_API void* arena_calloc(size_t count, size_t size) ARENA_NOEXCEPT;
ARENA_API void* arena_realloc(void* ptr, size_t size) ARENA_NOEXCEPT;
ARENA_API void* arena_reallocarray(void* ptr, size_t count, size_t size) ARENA_NOEXCEPT;
ARENA_API void* arena_memalign(size_t alignment, size_t size) ARENA_NOEXCEPT;
ARENA_API int arena_posix_memalign(void** out, size_t alignment, size_t size) ARENA_NOEXCEPT;
ARENA_API void* arena_aligned_alloc(size_t alignment, size_t size) ARENA_NOEXCEPT;
ARENA_API void* arena_valloc(size_t size) ARENA_NOEXCEPT;
ARENA_API void* arena_pvalloc(size_t size) ARENA_NOEXCEPT;
ARENA_API size_t arena_malloc_usable_size(void* ptr) ARENA_NOEXCEPT;

// A snapshot of the allocator's state, summed over all arenas (takes each lock once).
struct arena_stats {
  size_t arenas_used;          // arenas that own at least one segment
  size_t segments;             // 4 MiB segments currently mapped
  size_t pages_in_use;         // pages of segments held by slabs and medium blocks
  size_t pages_free_dirty;     // free pages not yet returned to the kernel
  size_t pages_free_clean;     // free pages already returned (madvise DONTNEED)
  size_t large_blocks;         // live blocks mapped on their own (above the medium limit)
  size_t large_bytes;          // bytes mapped for them
  size_t metadata_bytes;       // bytes mapped for metadata (spans, segment maps, tables)
  size_t large_cached_blocks;  // freed large blocks kept mapped for reuse
  size_t large_cached_bytes;   // their bytes
};
ARENA_API void arena_get_stats(struct arena_stats* out) ARENA_NOEXCEPT;

// Writes a report of where the allocator's memory is to the file descriptor `fd`: per
// arena the pages in use and free (dirty, i.e. resident, or returned), the free runs by
// length, the medium blocks, and per size class the slabs, their blocks and free blocks
// (as their owners last left them), full slabs and slabs no thread owns; then the large
// blocks. Allocates nothing. libarena.so's malloc_stats() writes it to stderr.
ARENA_API void arena_print_stats(int fd) ARENA_NOEXCEPT;

// glibc's mallinfo2 figures of this allocator's heap (libarena.so's mallinfo2 and
// mallinfo): `arena` = `uordblks` + `fordblks`, the bytes of the segments and of the
// cached large blocks; `uordblks` the pages of slabs and medium blocks less the slabs'
// free blocks; `fordblks` the free pages, the slabs' free blocks (`smblks`, `fsmblks`
// bytes), medium blocks in a thread's cache and cached large blocks; `ordblks` the free
// runs of pages; `hblks`, `hblkhd` the live large blocks; `keepcost` what arena_trim
// would give back now; `usmblks` 0. Allocates nothing; takes each arena's lock once.
ARENA_API void arena_mallinfo2(struct mallinfo2* out) ARENA_NOEXCEPT;

// Returns every free page held by any arena, every cached large block and the calling
// thread's cached medium blocks to the kernel now (like malloc_trim(0)); the few medium
// blocks other threads keep in their caches stay theirs.
ARENA_API void arena_trim(void) ARENA_NOEXCEPT;

#ifdef __cplusplus
}
#endif
