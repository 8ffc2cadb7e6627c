// Deliberately broken allocators for the replayer's failure tests. Each build picks one
// fault with a FAULT_* definition; everything else forwards to glibc. The trigger sizes
// are chosen by the test traces, so the worker's own start-up never hits them.
#include <cstddef>
#include <cstdint>

extern "C" {
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);

constexpr size_t kTrigger = 777777;

__attribute__((visibility("default"))) void* malloc(size_t size) {
#if defined(FAULT_CRASH)
  if (size == kTrigger) __builtin_trap();
#elif defined(FAULT_NULL)
  if (size == kTrigger) return nullptr;
#elif defined(FAULT_OVERLAP)
  // Hands the same block to every request of the trigger size: overlapping objects.
  static void* shared = nullptr;
  if (size == kTrigger) {
    if (!shared) shared = __libc_malloc(size);
    return shared;
  }
#endif
  return __libc_malloc(size);
}

__attribute__((visibility("default"))) void free(void* p) {
#if defined(FAULT_OVERLAP) || defined(FAULT_MISALIGN)
  (void)p;  // blocks may be shared or offset: leak rather than corrupt glibc
#else
  __libc_free(p);
#endif
}

__attribute__((visibility("default"))) void* calloc(size_t n, size_t size) { return __libc_calloc(n, size); }
__attribute__((visibility("default"))) void* realloc(void* p, size_t size) { return __libc_realloc(p, size); }

__attribute__((visibility("default"))) void* memalign(size_t align, size_t size) {
#if defined(FAULT_MISALIGN)
  // Ignores the alignment asked for: returns a block 16 bytes past an aligned one.
  if (size == kTrigger) return static_cast<char*>(__libc_memalign(align, size + 16)) + 16;
#endif
  return __libc_memalign(align, size);
}
}
