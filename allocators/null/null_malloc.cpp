// The null allocator: a per-thread bump pointer that never reuses memory. Preloaded
// into a replay, it costs a few instructions per call, so a replay under it measures
// the replay harness itself. Blocks are real (each carries its size in a 16-byte
// header), so --verify and --touch work; free is a no-op.
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

constexpr size_t kHeader = 16;
constexpr size_t kChunk = size_t{64} << 20;

struct Region {
  char* cursor = nullptr;
  char* end = nullptr;
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
  std::memcpy(p - kHeader, &size, sizeof size);
  r.cursor = p + size;
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

__attribute__((visibility("default"))) void* malloc(size_t size) { return bump(size, kHeader); }

__attribute__((visibility("default"))) void free(void*) {}

__attribute__((visibility("default"))) void* calloc(size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return bump(bytes, kHeader);  // fresh mmap memory, never reused: already zero
}

__attribute__((visibility("default"))) void* realloc(void* p, size_t size) {
  if (!p) return bump(size, kHeader);
  if (size == 0) return nullptr;  // glibc's realloc(p, 0): frees p
  void* q = bump(size, kHeader);
  if (q) {
    size_t old = size_of(p);
    std::memcpy(q, p, old < size ? old : size);
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
