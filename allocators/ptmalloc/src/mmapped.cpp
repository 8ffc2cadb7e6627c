#include "mmapped.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>

#include "arena.hpp"
#include "mtreplay/alloc_common/os_memory.hpp"

namespace mtreplay::ptmalloc {
namespace {

constexpr std::size_t kInitialMmapThreshold = std::size_t{128} << 10;
constexpr std::size_t kMaxMmapThreshold = std::size_t{32} << 20;

std::atomic<std::size_t> g_mmap_threshold{kInitialMmapThreshold};
std::atomic<std::size_t> g_trim_threshold{2 * kInitialMmapThreshold};

char* mapping_start(Chunk* c) noexcept {
  return reinterpret_cast<char*>(c) - c->prev_size;
}
std::size_t mapping_bytes(const Chunk* c) noexcept {
  return c->prev_size + c->size();
}

}  // namespace

std::size_t mmap_threshold() noexcept {
  return g_mmap_threshold.load(std::memory_order_relaxed);
}
std::size_t trim_threshold() noexcept {
  return g_trim_threshold.load(std::memory_order_relaxed);
}

Chunk* mmap_chunk(std::size_t n, std::size_t align) noexcept {
  std::size_t slack = align > alloc::kMinAlignment ? align : 0;
  if (n > alloc::kMaxRequest - kHeaderBytes - slack - alloc::kPageSize) return nullptr;
  std::size_t bytes = alloc::round_up(n + kHeaderBytes + slack, alloc::kPageSize);
  auto* base = static_cast<char*>(alloc::map_pages(bytes));
  if (!base) return nullptr;
  auto mem = reinterpret_cast<std::uintptr_t>(base) + kHeaderBytes;
  mem = (mem + align - 1) & ~(std::uintptr_t{align} - 1);
  Chunk* c = Chunk::of(reinterpret_cast<void*>(mem));
  c->prev_size = static_cast<std::size_t>(reinterpret_cast<char*>(c) - base);
  c->set_size_flags((bytes - c->prev_size) | kIsMmapped);
  return c;
}

void munmap_chunk(Chunk* c) noexcept {
  std::size_t bytes = mapping_bytes(c);
  std::size_t threshold = g_mmap_threshold.load(std::memory_order_relaxed);
  if (bytes > threshold && bytes <= kMaxMmapThreshold) {
    g_mmap_threshold.store(bytes, std::memory_order_relaxed);
    g_trim_threshold.store(2 * bytes, std::memory_order_relaxed);
  }
  alloc::unmap_pages(mapping_start(c), bytes);
}

Chunk* mremap_chunk(Chunk* c, std::size_t n) noexcept {
  std::size_t offset = c->prev_size;
  if (n > alloc::kMaxRequest - kHeaderBytes - offset - alloc::kPageSize) return nullptr;
  std::size_t bytes = alloc::round_up(n + kHeaderBytes + offset, alloc::kPageSize);
  std::size_t old_bytes = mapping_bytes(c);
  if (bytes == old_bytes) return c;
  void* moved = mremap(mapping_start(c), old_bytes, bytes, MREMAP_MAYMOVE);
  if (moved == MAP_FAILED) return nullptr;
  auto* nc = reinterpret_cast<Chunk*>(static_cast<char*>(moved) + offset);
  nc->set_size_flags((bytes - offset) | kIsMmapped);
  return nc;
}

}  // namespace mtreplay::ptmalloc
