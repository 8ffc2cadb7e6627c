// The core primitives (fast paths through the thread cache, mmap for large blocks,
// the arena otherwise) and the prefixed malloc family built on them.
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "arena.hpp"
#include "mmapped.hpp"
#include "mtreplay/alloc_common/malloc_family.hpp"
#include "mtreplay/ptmalloc/ptmalloc.h"
#include "thread_state.hpp"

namespace mtreplay::ptmalloc {
namespace {

// Above this alignment a block is always mmapped: carving it from a heap would waste
// up to `align` bytes of the heap.
constexpr std::size_t kMaxHeapAlignment = std::size_t{1} << 20;

struct PtCore {
  static void* allocate(std::size_t n) noexcept {
    std::size_t nb = chunk_size_for(n);
    ThreadCache* cache = tl_thread.cache;
    if (nb <= kCacheMaxChunk && cache) {
      std::size_t i = cache_index(nb);
      if (Chunk* c = cache->head[i]) {
        cache->head[i] = c->fd;
        --cache->count[i];
        return c->mem();
      }
    }
    if (n >= mmap_threshold()) {
      Chunk* c = mmap_chunk(n, alloc::kMinAlignment);
      return c ? c->mem() : nullptr;
    }
    Arena* a = thread_arena();
    if (!a) return nullptr;
    alloc::LockGuard guard(a->lock);
    Chunk* c = malloc_locked(*a, nb);
    return c ? c->mem() : nullptr;
  }

  static void* allocate_zeroed(std::size_t n) noexcept {
    void* p = allocate(n);
    if (p && !Chunk::of(p)->is_mmapped()) std::memset(p, 0, n);  // fresh mappings are zero
    return p;
  }

  static void* allocate_aligned(std::size_t align, std::size_t n) noexcept {
    if (n >= mmap_threshold() || align > kMaxHeapAlignment) {
      Chunk* c = mmap_chunk(n, align);
      return c ? c->mem() : nullptr;
    }
    Arena* a = thread_arena();
    if (!a) return nullptr;
    alloc::LockGuard guard(a->lock);
    Chunk* c = memalign_locked(*a, align, chunk_size_for(n));
    return c ? c->mem() : nullptr;
  }

  static void release(void* p) noexcept {
    Chunk* c = Chunk::of(p);
    if (c->is_mmapped()) {
      munmap_chunk(c);
      return;
    }
    std::size_t nb = c->size();
    ThreadCache* cache = tl_thread.cache;
    if (nb <= kCacheMaxChunk && cache) {
      std::size_t i = cache_index(nb);
      if (cache->count[i] < kCacheDepth) {
        c->fd = cache->head[i];
        cache->head[i] = c;
        ++cache->count[i];
        return;
      }
    }
    Arena& a = *heap_of(c)->arena;
    alloc::LockGuard guard(a.lock);
    free_locked(a, c);
  }

  static void* reallocate(void* p, std::size_t n) noexcept {
    Chunk* c = Chunk::of(p);
    std::size_t old_usable = usable_size(p);
    if (c->is_mmapped()) {
      if (Chunk* moved = mremap_chunk(c, n)) return moved->mem();
      if (n <= old_usable) return p;
    } else {
      Arena& a = *heap_of(c)->arena;
      alloc::LockGuard guard(a.lock);
      if (resize_locked(a, c, chunk_size_for(n))) return p;
    }
    void* q = allocate(n);
    if (!q) return nullptr;
    std::memcpy(q, p, old_usable < n ? old_usable : n);
    release(p);
    return q;
  }

  static std::size_t usable_size(void* p) noexcept {
    Chunk* c = Chunk::of(p);
    return c->is_mmapped() ? usable_mmapped(c) : usable_in_heap(c->size());
  }
};

using Family = alloc::MallocFamily<PtCore>;

}  // namespace
}  // namespace mtreplay::ptmalloc

using mtreplay::ptmalloc::Family;

extern "C" {

void* pt_malloc(size_t n) {
  return Family::malloc(n);
}
void pt_free(void* p) {
  Family::free(p);
}
void* pt_calloc(size_t count, size_t size) {
  return Family::calloc(count, size);
}
void* pt_realloc(void* p, size_t n) {
  return Family::realloc(p, n);
}
void* pt_reallocarray(void* p, size_t count, size_t size) {
  return Family::reallocarray(p, count, size);
}
void* pt_memalign(size_t align, size_t n) {
  return Family::memalign(align, n);
}
int pt_posix_memalign(void** out, size_t align, size_t n) {
  return Family::posix_memalign(out, align, n);
}
void* pt_aligned_alloc(size_t align, size_t n) {
  return Family::aligned_alloc(align, n);
}
void* pt_valloc(size_t n) {
  return Family::valloc(n);
}
void* pt_pvalloc(size_t n) {
  return Family::pvalloc(n);
}
size_t pt_malloc_usable_size(void* p) {
  return Family::malloc_usable_size(p);
}

size_t pt_check_heaps(void) {
  using namespace mtreplay::ptmalloc;
  std::size_t problems = 0;
  for (std::size_t i = 0; i < arena_count(); ++i) {
    Arena& a = arena_at(i);
    const char* what = nullptr;
    std::size_t found;
    {
      mtreplay::alloc::LockGuard guard(a.lock);
      found = check_locked(a, &what);
    }
    if (found && !problems) {
      char line[160];
      int len = std::snprintf(line, sizeof line, "ptmalloc: arena %zu: %s\n", i, what);
      if (len > 0) [[maybe_unused]]
        auto ignored = write(2, line, static_cast<size_t>(len));
    }
    problems += found;
  }
  return problems;
}

size_t pt_arena_count(void) {
  return mtreplay::ptmalloc::arena_count();
}

void pt_thread_cache_flush(void) {
  using namespace mtreplay::ptmalloc;
  if (ThreadCache* cache = tl_thread.cache) flush_cache(*cache);
}

}  // extern "C"
