#include "bootstrap_arena.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>

namespace mtreplay::recorder::bootstrap {
namespace {

constexpr size_t kHeader = 16;  // holds the usable size, keeps 16-byte alignment

std::atomic<size_t> used{0};

}  // namespace

// glibc's dlsym needs a few hundred bytes; 256 KiB leaves room for other early
// callers (libraries initialised before us) without wasting real memory: untouched
// .bss pages cost nothing.
alignas(4096) std::byte arena[kArenaBytes];

void* allocate(size_t size, size_t alignment) {
  if (alignment < kHeader) alignment = kHeader;
  if (size > kArenaBytes || alignment > kArenaBytes) {
    errno = ENOMEM;
    return nullptr;
  }
  const size_t need = size + kHeader + alignment;
  const size_t start = used.fetch_add(need, std::memory_order_relaxed);
  if (start + need > kArenaBytes) {
    errno = ENOMEM;
    return nullptr;
  }
  auto base = reinterpret_cast<uintptr_t>(arena) + start + kHeader;
  base = (base + alignment - 1) & ~(uintptr_t{alignment} - 1);
  auto* p = reinterpret_cast<std::byte*>(base);
  size_t stored = size;
  std::memcpy(p - kHeader, &stored, sizeof stored);
  return p;  // .bss: already zero, so calloc needs nothing more
}

size_t usable_size(const void* p) {
  size_t stored;
  std::memcpy(&stored, static_cast<const std::byte*>(p) - kHeader, sizeof stored);
  return stored;
}

}  // namespace mtreplay::recorder::bootstrap
