// The null allocator: a per-thread bump pointer plus per-thread LIFO lists of freed
// blocks by exact 16-byte size class (up to 4 KiB). Preloaded into a replay it costs a
// few instructions per call and, because freed blocks are reused, almost no page
// faults, so a replay under it measures the replay harness itself. Blocks are real
// (each carries its size in a 16-byte header), so --verify and --touch work. A block
// freed by another thread joins that thread's lists: no synchronisation at all.
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

constexpr size_t kHeader = 16;
constexpr size_t kChunk = size_t{64} << 20;

constexpr size_t kClasses = 256;  // 16-byte classes up to 4096 bytes

struct FreeBlock {
  FreeBlock* next;
};

struct Region {
  char* cursor = nullptr;
  char* end = nullptr;
  FreeBlock* free_lists[kClasses] = {};
};
thread_local Region t_region __attribute__((tls_model("initial-exec")));

size_t page_size() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

uintptr_t align_up(uintptr_t value, size_t align) { return (value + align - 1) & ~(uintptr_t(align) - 1); }

bool refill(size_t at_least) {
  size_t bytes = at_least > kChunk ? align_up(at_least, page_size()) : kChunk;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) return false;
  t_region.cursor = static_cast<char*>(p);
  t_region.end = t_region.cursor + bytes;
  return true;
}

void* bump(size_t size, size_t align) {
  if (align < kHeader) align = kHeader;
  if (size > (SIZE_MAX >> 2) || align > (SIZE_MAX >> 2)) {
    errno = ENOMEM;
    return nullptr;
  }
  Region& r = t_region;
  uintptr_t block = align_up(reinterpret_cast<uintptr_t>(r.cursor) + kHeader, align);
  if (!r.cursor || block + size > reinterpret_cast<uintptr_t>(r.end)) {
    if (!refill(size + align + kHeader)) {
      errno = ENOMEM;
      return nullptr;
    }
    block = align_up(reinterpret_cast<uintptr_t>(r.cursor) + kHeader, align);
  }
  auto* p = reinterpret_cast<char*>(block);
  // The second header word is the reusable capacity: default-aligned blocks only.
  size_t capacity = align == kHeader ? (size + 15) & ~size_t{15} : 0;
  std::memcpy(p - kHeader, &size, sizeof size);
  std::memcpy(p - kHeader + 8, &capacity, sizeof capacity);
  r.cursor = p + (capacity ? capacity : size);
  return p;
}

size_t class_of(size_t size) { return (size + 15) / 16; }  // 0 for size 0

void* take_free(size_t size) {
  size_t c = class_of(size);
  if (c >= kClasses) return nullptr;
  FreeBlock* block = t_region.free_lists[c];
  if (!block) return nullptr;
  t_region.free_lists[c] = block->next;
  return block;
}

void* take(size_t size, bool* reused = nullptr) {
  void* p = take_free(size);
  if (reused) *reused = p != nullptr;
  if (!p) return bump(size, kHeader);
  std::memcpy(static_cast<char*>(p) - kHeader, &size, sizeof size);
  return p;
}

size_t size_of(const void* p) {
  size_t size;
  std::memcpy(&size, static_cast<const char*>(p) - kHeader, sizeof size);
  return size;
}

bool valid_alignment(size_t align) { return align != 0 && (align & (align - 1)) == 0; }

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* malloc(size_t size) { return take(size); }

__attribute__((visibility("default"))) void free(void* p) {
  if (!p) return;
  // Only blocks whose start is 16-aligned by the default alignment go back to a list;
  // the capacity recorded at allocation decides the class.
  size_t capacity;
  std::memcpy(&capacity, static_cast<char*>(p) - kHeader + 8, sizeof capacity);
  size_t c = capacity / 16;
  if (capacity == 0 || c >= kClasses) return;
  auto* block = static_cast<FreeBlock*>(p);
  block->next = t_region.free_lists[c];
  t_region.free_lists[c] = block;
}

__attribute__((visibility("default"))) void* calloc(size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  bool reused = false;
  void* p = take(bytes, &reused);
  if (p && reused) std::memset(p, 0, bytes);  // fresh bump memory is already zero
  return p;
}

__attribute__((visibility("default"))) void* realloc(void* p, size_t size) {
  if (!p) return take(size);
  if (size == 0) {  // glibc's realloc(p, 0): frees p
    free(p);
    return nullptr;
  }
  void* q = take(size);
  if (q) {
    size_t old = size_of(p);
    std::memcpy(q, p, old < size ? old : size);
    free(p);
  }
  return q;
}

__attribute__((visibility("default"))) void* reallocarray(void* p, size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, bytes);
}

__attribute__((visibility("default"))) void* memalign(size_t align, size_t size) {
  if (!valid_alignment(align)) {
    errno = EINVAL;
    return nullptr;
  }
  return bump(size, align);
}

__attribute__((visibility("default"))) void* aligned_alloc(size_t align, size_t size) {
  return memalign(align, size);
}

__attribute__((visibility("default"))) int posix_memalign(void** out, size_t align, size_t size) {
  if (!valid_alignment(align) || align % sizeof(void*) != 0) return EINVAL;
  void* p = bump(size, align);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

__attribute__((visibility("default"))) void* valloc(size_t size) { return bump(size, page_size()); }

__attribute__((visibility("default"))) void* pvalloc(size_t size) {
  size_t page = page_size();
  size_t rounded = align_up(size ? size : 1, page);
  return bump(rounded, page);
}

__attribute__((visibility("default"))) size_t malloc_usable_size(void* p) { return p ? size_of(p) : 0; }

}  // extern "C"
