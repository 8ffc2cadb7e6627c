// The allocator under test as the worker calls it: every malloc-family entry point
// resolved once, before timing. A call the preloaded backend does not define itself
// (Debian's jemalloc has no pvalloc or reallocarray: glibc's would serve it, and the
// backend's free would then crash on the result) is emulated from calls it has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mtreplay::replay {

struct AllocatorApi {
  void* (*malloc)(size_t) = nullptr;
  void (*free)(void*) = nullptr;
  void* (*calloc)(size_t, size_t) = nullptr;
  void* (*realloc)(void*, size_t) = nullptr;
  void* (*reallocarray)(void*, size_t, size_t) = nullptr;
  void* (*memalign)(size_t, size_t) = nullptr;
  int (*posix_memalign)(void**, size_t, size_t) = nullptr;
  void* (*aligned_alloc)(size_t, size_t) = nullptr;
  void* (*valloc)(size_t) = nullptr;
  void* (*pvalloc)(size_t) = nullptr;
  size_t (*usable_size)(void*) = nullptr;  // null when the backend has none
  uint32_t emulated_mask = 0;
  std::string malloc_owner;  // file of the object defining malloc
};

// Resolves the API. `expected_object` (empty: the system libc) must be the object
// that defines malloc, free and realloc; otherwise *error says what is wrong.
AllocatorApi resolve_allocator_api(const char* expected_object, size_t page_size,
                                   std::string* error);

}  // namespace mtreplay::replay
