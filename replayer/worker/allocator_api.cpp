#include "allocator_api.hpp"

#include <dlfcn.h>
#include <link.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "mtreplay/replay/results_region.hpp"

namespace mtreplay::replay {
namespace {

AllocatorApi g_api;  // what the emulations call
size_t g_page = 4096;

void* emu_calloc(size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = g_api.malloc(bytes);
  if (p) std::memset(p, 0, bytes);
  return p;
}

void* emu_reallocarray(void* p, size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return g_api.realloc(p, bytes);
}

void* emu_memalign_via_posix(size_t align, size_t size) {
  void* p = nullptr;
  if (align < sizeof(void*)) align = sizeof(void*);
  int rc = g_api.posix_memalign(&p, align, size);
  if (rc != 0) errno = rc;
  return rc == 0 ? p : nullptr;
}

void* emu_memalign_via_aligned_alloc(size_t align, size_t size) {
  // aligned_alloc wants a size that is a multiple of the alignment in C11.
  size_t rounded = (size + align - 1) & ~(align - 1);
  return g_api.aligned_alloc(align, rounded ? rounded : align);
}

int emu_posix_memalign(void** out, size_t align, size_t size) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  void* p = g_api.memalign(align, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

void* emu_aligned_alloc(size_t align, size_t size) { return g_api.memalign(align, size); }
void* emu_valloc(size_t size) { return g_api.memalign(g_page, size); }
void* emu_pvalloc(size_t size) {
  size_t rounded = (size + g_page - 1) & ~(g_page - 1);
  return g_api.memalign(g_page, rounded ? rounded : g_page);
}

struct Owner {
  void* base = nullptr;
  std::string file;
};

Owner owner_of(void* symbol) {
  Dl_info info{};
  if (!symbol || !dladdr(symbol, &info)) return {};
  return {info.dli_fbase, info.dli_fname ? info.dli_fname : ""};
}

bool same_file(const std::string& a, const char* b) {
  struct stat sa{}, sb{};
  if (stat(a.c_str(), &sa) != 0 || stat(b, &sb) != 0) return a == b;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// The backend's own definition of `name`, or null when `name` comes from elsewhere.
template <class Fn>
Fn own(const char* name, void* owner_base) {
  void* symbol = dlsym(RTLD_DEFAULT, name);
  if (!symbol || owner_of(symbol).base != owner_base) return nullptr;
  return reinterpret_cast<Fn>(symbol);
}

}  // namespace

AllocatorApi resolve_allocator_api(const char* expected_object, size_t page_size,
                                   std::string* error) {
  g_page = page_size ? page_size : 4096;
  AllocatorApi api;
  void* malloc_symbol = dlsym(RTLD_DEFAULT, "malloc");
  Owner owner = owner_of(malloc_symbol);
  api.malloc_owner = owner.file;
  if (expected_object && *expected_object && !same_file(owner.file, expected_object)) {
    *error = "malloc is not defined by the preloaded object (it comes from " +
             (owner.file.empty() ? std::string("nowhere") : owner.file) + ")";
    return api;
  }
  api.malloc = reinterpret_cast<void* (*)(size_t)>(malloc_symbol);
  api.free = own<void (*)(void*)>("free", owner.base);
  api.realloc = own<void* (*)(void*, size_t)>("realloc", owner.base);
  if (!api.free || !api.realloc) {
    *error = "the allocator defines malloc but not free and realloc";
    return api;
  }
  api.calloc = own<void* (*)(size_t, size_t)>("calloc", owner.base);
  api.reallocarray = own<void* (*)(void*, size_t, size_t)>("reallocarray", owner.base);
  api.memalign = own<void* (*)(size_t, size_t)>("memalign", owner.base);
  api.posix_memalign = own<int (*)(void**, size_t, size_t)>("posix_memalign", owner.base);
  api.aligned_alloc = own<void* (*)(size_t, size_t)>("aligned_alloc", owner.base);
  api.valloc = own<void* (*)(size_t)>("valloc", owner.base);
  api.pvalloc = own<void* (*)(size_t)>("pvalloc", owner.base);
  api.usable_size = own<size_t (*)(void*)>("malloc_usable_size", owner.base);

  auto emulate = [&](auto& slot, auto replacement, EmulatedCall bit) {
    if (!slot) {
      slot = replacement;
      api.emulated_mask |= 1u << bit;
    }
  };
  g_api = api;
  emulate(api.calloc, emu_calloc, kEmuCalloc);
  if (!api.memalign) {
    if (api.posix_memalign) {
      api.memalign = emu_memalign_via_posix;
    } else if (api.aligned_alloc) {
      api.memalign = emu_memalign_via_aligned_alloc;
    } else {
      *error = "the allocator defines no aligned allocation (memalign, posix_memalign, "
               "aligned_alloc)";
      return api;
    }
    api.emulated_mask |= 1u << kEmuMemalign;
  }
  g_api = api;
  emulate(api.reallocarray, emu_reallocarray, kEmuReallocArray);
  emulate(api.posix_memalign, emu_posix_memalign, kEmuPosixMemalign);
  emulate(api.aligned_alloc, emu_aligned_alloc, kEmuAlignedAlloc);
  emulate(api.valloc, emu_valloc, kEmuValloc);
  emulate(api.pvalloc, emu_pvalloc, kEmuPvalloc);
  if (!api.usable_size) api.emulated_mask |= 1u << kEmuUsableSize;
  g_api = api;
  return api;
}

}  // namespace mtreplay::replay
