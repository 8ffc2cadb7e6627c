// The core primitives on the single heap, and the prefixed malloc family on top.
// The heap lock is skipped while the process has a single thread (glibc's
// __libc_single_threaded only turns false, in pthread_create, before a second thread
// exists), which makes the single-threaded case free of atomics.
#include <pthread.h>
#include <sys/single_threaded.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "heap.hpp"
#include "mtreplay/alloc_common/malloc_family.hpp"
#include "mtreplay/dsmalloc/dsmalloc.h"

namespace mtreplay::dsmalloc {
namespace {

class HeapGuard {
 public:
  HeapGuard() noexcept : locked_(!__libc_single_threaded) {
    if (locked_) g_heap.lock.lock();
  }
  ~HeapGuard() {
    if (locked_) g_heap.lock.unlock();
  }
  HeapGuard(const HeapGuard&) = delete;
  HeapGuard& operator=(const HeapGuard&) = delete;

 private:
  bool locked_;
};

std::size_t pages_for(std::size_t n) noexcept {
  return (n + kPageBytes - 1) / kPageBytes;
}

struct DsCore {
  static void* allocate(std::size_t n) noexcept {
    HeapGuard guard;
    if (n <= kSmallMax) return small_alloc(class_of(n));
    if (n <= kLargeMax) return large_alloc(pages_for(n), 1);
    if (n > alloc::kMaxRequest - kPageBytes) return nullptr;
    return huge_alloc(n, kPageBytes);
  }

  static void* allocate_zeroed(std::size_t n) noexcept {
    void* p = allocate(n);
    if (p && n <= kLargeMax) std::memset(p, 0, n);  // huge blocks are fresh mappings
    return p;
  }

  static void* allocate_aligned(std::size_t align, std::size_t n) noexcept {
    if (n == 0) n = 1;
    HeapGuard guard;
    if (align <= kPageBytes && n <= kSmallMax) {
      // Slabs start on a page, so a class whose size is a multiple of align has every
      // slot aligned.
      for (std::size_t k = class_of(n); k < kClassCount; ++k) {
        if (kClasses[k].size % align == 0) return small_alloc(k);
      }
    }
    if (n <= kLargeMax && align <= kLargeMax) {
      std::size_t align_pages = align > kPageBytes ? align / kPageBytes : 1;
      return large_alloc(pages_for(n), align_pages);
    }
    if (n > alloc::kMaxRequest - kPageBytes || align > alloc::kMaxRequest / 2) return nullptr;
    return huge_alloc(n, align > kPageBytes ? align : kPageBytes);
  }

  static void release(void* p) noexcept {
    HeapGuard guard;
    dsmalloc::release(classify(p), p);
  }

  static void* reallocate(void* p, std::size_t n) noexcept {
    Block b;
    {
      HeapGuard guard;
      b = classify(p);
      switch (b.kind) {
        case Block::kSmall:
          // In place while the block still fits and would not be better off in a class
          // half its size or less.
          if (n <= b.bytes && (n > b.bytes / 2 || class_of(n) == b.slab->size_class)) return p;
          break;
        case Block::kLarge:
          if (n > kSmallMax && n <= kLargeMax && large_resize(b, p, pages_for(n))) return p;
          break;
        case Block::kHuge:
          if (n > kLargeMax) {
            if (void* q = huge_resize(b, p, n)) return q;
            if (n <= b.bytes) return p;
          }
          break;
        case Block::kNone:
          invalid_pointer("realloc of a pointer it never returned:", p);
      }
    }
    void* q = allocate(n);
    if (!q) return nullptr;
    std::memcpy(q, p, b.bytes < n ? b.bytes : n);
    release(p);
    return q;
  }

  static std::size_t usable_size(void* p) noexcept {
    HeapGuard guard;
    return classify(p).bytes;
  }
};

using Family = alloc::MallocFamily<DsCore>;

void lock_for_fork() {
  g_heap.lock.lock();
}
void unlock_after_fork() {
  g_heap.lock.unlock();
}
void reset_in_child() {
  g_heap.lock.reset_in_child();
}

// Allocation needs no initialisation (the heap is constant-initialised); only the fork
// handlers are registered, as early as the loader lets us.
__attribute__((constructor)) void register_fork_handlers() {
  pthread_atfork(lock_for_fork, unlock_after_fork, reset_in_child);
}

}  // namespace
}  // namespace mtreplay::dsmalloc

using mtreplay::dsmalloc::Family;

extern "C" {

void* ds_malloc(size_t n) {
  return Family::malloc(n);
}
void ds_free(void* p) {
  Family::free(p);
}
void* ds_calloc(size_t count, size_t size) {
  return Family::calloc(count, size);
}
void* ds_realloc(void* p, size_t n) {
  return Family::realloc(p, n);
}
void* ds_reallocarray(void* p, size_t count, size_t size) {
  return Family::reallocarray(p, count, size);
}
void* ds_memalign(size_t align, size_t n) {
  return Family::memalign(align, n);
}
int ds_posix_memalign(void** out, size_t align, size_t n) {
  return Family::posix_memalign(out, align, n);
}
void* ds_aligned_alloc(size_t align, size_t n) {
  return Family::aligned_alloc(align, n);
}
void* ds_valloc(size_t n) {
  return Family::valloc(n);
}
void* ds_pvalloc(size_t n) {
  return Family::pvalloc(n);
}
size_t ds_malloc_usable_size(void* p) {
  return Family::malloc_usable_size(p);
}

size_t ds_metadata_bytes(void) {
  mtreplay::dsmalloc::HeapGuard guard;
  return mtreplay::dsmalloc::metadata_bytes();
}
size_t ds_live_blocks(void) {
  mtreplay::dsmalloc::HeapGuard guard;
  return mtreplay::dsmalloc::g_heap.live_blocks;
}
size_t ds_live_bytes(void) {
  mtreplay::dsmalloc::HeapGuard guard;
  return mtreplay::dsmalloc::g_heap.live_bytes;
}
size_t ds_peak_live_blocks(void) {
  mtreplay::dsmalloc::HeapGuard guard;
  return mtreplay::dsmalloc::g_heap.peak_live_blocks;
}
size_t ds_metadata_bytes_at_peak(void) {
  mtreplay::dsmalloc::HeapGuard guard;
  return mtreplay::dsmalloc::g_heap.metadata_at_peak;
}
size_t ds_check_heap(void) {
  const char* what = nullptr;
  std::size_t problems;
  {
    mtreplay::dsmalloc::HeapGuard guard;
    problems = mtreplay::dsmalloc::check_heap(&what);
  }
  if (problems) {
    char line[160];
    int len = std::snprintf(line, sizeof line, "dsmalloc: %s\n", what);
    if (len > 0) [[maybe_unused]]
      auto ignored = write(2, line, static_cast<size_t>(len));
  }
  return problems;
}

}  // extern "C"
