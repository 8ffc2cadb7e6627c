#pragma once
// Defines the exported malloc-family symbols of a preload library as forwarders to a
// prefixed API (prefix##malloc, prefix##free, ...). Use once, in the .so only.
#include <malloc.h>
#include <stdlib.h>

#define MTREPLAY_ALLOC_EXPORT extern "C" __attribute__((visibility("default"), used))

#define MTREPLAY_EXPORT_MALLOC_FAMILY(prefix)                                         \
  MTREPLAY_ALLOC_EXPORT void* malloc(size_t n) noexcept {                             \
    return prefix##malloc(n);                                                         \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void free(void* p) noexcept {                                 \
    prefix##free(p);                                                                  \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* calloc(size_t c, size_t n) noexcept {                   \
    return prefix##calloc(c, n);                                                      \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* realloc(void* p, size_t n) noexcept {                   \
    return prefix##realloc(p, n);                                                     \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* reallocarray(void* p, size_t c, size_t n) noexcept {    \
    return prefix##reallocarray(p, c, n);                                             \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* memalign(size_t a, size_t n) noexcept {                 \
    return prefix##memalign(a, n);                                                    \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT int posix_memalign(void** out, size_t a, size_t n) noexcept { \
    return prefix##posix_memalign(out, a, n);                                         \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* aligned_alloc(size_t a, size_t n) noexcept {            \
    return prefix##aligned_alloc(a, n);                                               \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* valloc(size_t n) noexcept {                             \
    return prefix##valloc(n);                                                         \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* pvalloc(size_t n) noexcept {                            \
    return prefix##pvalloc(n);                                                        \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT size_t malloc_usable_size(void* p) noexcept {                 \
    return prefix##malloc_usable_size(p);                                             \
  }                                                                                   \
  /* Old names some programs still call. */                                           \
  MTREPLAY_ALLOC_EXPORT void cfree(void* p) noexcept {                                \
    prefix##free(p);                                                                  \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* __libc_malloc(size_t n) noexcept {                      \
    return prefix##malloc(n);                                                         \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void __libc_free(void* p) noexcept {                          \
    prefix##free(p);                                                                  \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* __libc_calloc(size_t c, size_t n) noexcept {            \
    return prefix##calloc(c, n);                                                      \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* __libc_realloc(void* p, size_t n) noexcept {            \
    return prefix##realloc(p, n);                                                     \
  }                                                                                   \
  MTREPLAY_ALLOC_EXPORT void* __libc_memalign(size_t a, size_t n) noexcept {          \
    return prefix##memalign(a, n);                                                    \
  }
