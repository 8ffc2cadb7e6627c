// The C++ allocation operators, interposed. libstdc++'s own operator new calls malloc,
// which we see; but jemalloc, tcmalloc, mimalloc and scudo define operator new and delete
// themselves, so a program linked with one of them (or run with one preloaded after us)
// allocated every C++ object unseen: batch_queue with jemalloc behind us recorded 14
// events of its 3 985 146. Each operator is recorded as the malloc-family call it is made
// of, through our own malloc, memalign and free (interpose_malloc.cpp: the bootstrap
// arena and every check apply): new and new[] as malloc, their aligned forms as memalign,
// every delete as free. The replay then calls the allocator's malloc where the program
// called its operator new, for the same memory.
//
// Only when malloc fails does the next operator new run (the program's new_handler and
// std::bad_alloc are its business): behind libstdc++ its retries go through malloc and
// are recorded; another allocator's are not, which only an allocation made after running
// out of memory can miss. Defined with their mangled names: the library is built without
// exceptions and must not declare the C++ operators it replaces.
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>

#include <cstddef>

#define MHOOK_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// new(0) must return a unique pointer, which malloc(0) need not.
size_t at_least_one(size_t size) {
  return size == 0 ? 1 : size;
}

// The next definition of operator `name` (libstdc++'s, or another allocator's), called
// with the operator's own arguments; found only on this path, which is taken when malloc
// failed. Every operator new takes (size_t, [size_t alignment], [const nothrow_t&]).
template <typename... Args>
[[gnu::noinline]] void* next_new(const char* name, Args... args) {
  using Next = void* (*)(Args...);
  const auto next = reinterpret_cast<Next>(dlsym(RTLD_NEXT, name));
  return next ? next(args...) : nullptr;
}

void* plain(size_t size) {
  return malloc(at_least_one(size));
}
void* aligned(size_t size, size_t align) {
  return memalign(align, at_least_one(size));
}

}  // namespace

// operator new(size_t), new[](size_t)
MHOOK_EXPORT void* _Znwm(size_t size) {
  if (void* p = plain(size)) return p;
  return next_new("_Znwm", size);
}
MHOOK_EXPORT void* _Znam(size_t size) {
  if (void* p = plain(size)) return p;
  return next_new("_Znam", size);
}
// (size_t, const std::nothrow_t&)
MHOOK_EXPORT void* _ZnwmRKSt9nothrow_t(size_t size, const void* tag) noexcept {
  if (void* p = plain(size)) return p;
  return next_new("_ZnwmRKSt9nothrow_t", size, tag);
}
MHOOK_EXPORT void* _ZnamRKSt9nothrow_t(size_t size, const void* tag) noexcept {
  if (void* p = plain(size)) return p;
  return next_new("_ZnamRKSt9nothrow_t", size, tag);
}
// (size_t, std::align_val_t)
MHOOK_EXPORT void* _ZnwmSt11align_val_t(size_t size, size_t align) {
  if (void* p = aligned(size, align)) return p;
  return next_new("_ZnwmSt11align_val_t", size, align);
}
MHOOK_EXPORT void* _ZnamSt11align_val_t(size_t size, size_t align) {
  if (void* p = aligned(size, align)) return p;
  return next_new("_ZnamSt11align_val_t", size, align);
}
// (size_t, std::align_val_t, const std::nothrow_t&)
MHOOK_EXPORT void* _ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
                                                      const void* tag) noexcept {
  if (void* p = aligned(size, align)) return p;
  return next_new("_ZnwmSt11align_val_tRKSt9nothrow_t", size, align, tag);
}
MHOOK_EXPORT void* _ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
                                                      const void* tag) noexcept {
  if (void* p = aligned(size, align)) return p;
  return next_new("_ZnamSt11align_val_tRKSt9nothrow_t", size, align, tag);
}

// Every operator delete: free. The size and alignment arguments only save an allocator a
// lookup; free finds both.
MHOOK_EXPORT void _ZdlPv(void* p) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdaPv(void* p) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdlPvm(void* p, size_t) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdaPvm(void* p, size_t) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdlPvRKSt9nothrow_t(void* p, const void*) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdaPvRKSt9nothrow_t(void* p, const void*) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdlPvSt11align_val_t(void* p, size_t) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdaPvSt11align_val_t(void* p, size_t) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdlPvmSt11align_val_t(void* p, size_t, size_t) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdaPvmSt11align_val_t(void* p, size_t, size_t) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void* p, size_t, const void*) noexcept {
  free(p);
}
MHOOK_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void* p, size_t, const void*) noexcept {
  free(p);
}
