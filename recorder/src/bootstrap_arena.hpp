// Memory for calls that arrive before the real allocator is known: dlsym may call
// calloc/malloc while we are resolving malloc itself. Served from a static buffer in
// .bss (never the traced heap), bump-allocated and never reused; frees of these
// pointers are recognised by address and ignored. Such calls are not recorded and are
// counted (untraced_calls()).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtreplay::recorder::bootstrap {

inline constexpr size_t kArenaBytes = 256 * 1024;
extern std::byte arena[kArenaBytes];

void* allocate(size_t size, size_t alignment);  // nullptr (ENOMEM) when exhausted
inline bool owns(const void* p) {
  auto* b = static_cast<const std::byte*>(p);
  return b >= arena && b < arena + kArenaBytes;
}
size_t usable_size(const void* p);  // precondition: owns(p)

}  // namespace mtreplay::recorder::bootstrap
