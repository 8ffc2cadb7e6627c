#pragma once
// dsmalloc: the single-arena allocator with out-of-line metadata. No header, footer
// or link sits next to a user block: small blocks live in size-class slabs described
// by a bitmap kept elsewhere, large ones in page runs recorded in a per-chunk page
// table, huge ones in their own mappings recorded in a side table. One lock, skipped
// while the process is single-threaded. libdsmalloc.so exports the same family unprefixed.
#include <stddef.h>

#define DS_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

DS_API void* ds_malloc(size_t n);
DS_API void ds_free(void* p);
DS_API void* ds_calloc(size_t count, size_t size);
DS_API void* ds_realloc(void* p, size_t n);
DS_API void* ds_reallocarray(void* p, size_t count, size_t size);
DS_API void* ds_memalign(size_t align, size_t n);
DS_API int ds_posix_memalign(void** out, size_t align, size_t n);
DS_API void* ds_aligned_alloc(size_t align, size_t n);
DS_API void* ds_valloc(size_t n);
DS_API void* ds_pvalloc(size_t n);
DS_API size_t ds_malloc_usable_size(void* p);

// Memory-overhead introspection.
// Bytes of allocator metadata in use: slab descriptors and their bitmaps, the chunks'
// page tables, the address map's nodes and the huge-block table.
DS_API size_t ds_metadata_bytes(void);
// Blocks currently allocated (malloc'd and not yet freed).
DS_API size_t ds_live_blocks(void);
// Bytes the live blocks occupy (their usable sizes: requested bytes plus rounding).
DS_API size_t ds_live_bytes(void);
// The same two figures at the heap's high-water mark of live blocks (sampled each
// time a slab is created).
DS_API size_t ds_peak_live_blocks(void);
DS_API size_t ds_metadata_bytes_at_peak(void);
// Checks every slab, page table and the huge table for consistency; 0 when healthy,
// else the number of problems (the first is written to stderr).
DS_API size_t ds_check_heap(void);

#ifdef __cplusplus
}
#endif
