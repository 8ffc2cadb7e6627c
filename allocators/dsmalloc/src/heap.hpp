#pragma once
// dsmalloc's single heap. User memory comes from 4 MiB chunks (aligned, found through
// the ChunkMap) split into 4 KiB pages; a page belongs to a slab of one size class or
// to a large run, or is free. Everything that describes it lives out of line:
//
//   ChunkMeta  per chunk: free/dirty page bitmaps and a page table whose 32-bit entry
//              for a page is its slab's handle, or (pages << 1 | 1) at the first page
//              of a large run;
//   Slab       per slab: its class, free count and a bitmap of free slots;
//   HugeTable  for blocks above 1 MiB, each a mapping of its own.
//
// All functions here expect the caller to hold the heap lock.
#include <cstddef>
#include <cstdint>

#include "chunk_map.hpp"
#include "huge_table.hpp"
#include "meta_pool.hpp"
#include "mtreplay/alloc_common/futex_lock.hpp"
#include "size_classes.hpp"

namespace mtreplay::dsmalloc {

inline constexpr std::size_t kPagesPerChunk = kChunkBytes / kPageBytes;
inline constexpr std::size_t kLargeMax = std::size_t{1} << 20;
inline constexpr std::size_t kPageWords = kPagesPerChunk / 64;

struct Slab {
  std::uintptr_t start;
  Slab* prev;  // in its class's list of slabs with free slots
  Slab* next;
  std::uint16_t size_class;
  std::uint16_t free_slots;
  std::uint16_t first_free_word;  // words below are full
  std::uint16_t unused;
  std::uint64_t* free_bits() noexcept { return reinterpret_cast<std::uint64_t*>(this + 1); }
  static std::size_t bytes_for(const SizeClass& c) noexcept {
    return sizeof(Slab) + (c.slots + 63) / 64 * sizeof(std::uint64_t);
  }
};
static_assert(sizeof(Slab) == 32);

struct ChunkMeta {
  std::uintptr_t base;
  ChunkMeta* next;
  std::uint32_t free_pages;
  std::uint32_t dirty_pages;
  MetaHandle handle;
  std::uint64_t free_map[kPageWords];   // 1 = free
  std::uint64_t dirty_map[kPageWords];  // 1 = free but maybe still resident
  // 0: no block starts here; handle << 1: the page's slab; pages << 1 | 1: first page
  // of a large run.
  std::uint32_t page_entry[kPagesPerChunk];
};

// What a user pointer is.
struct Block {
  enum Kind { kNone, kSmall, kLarge, kHuge } kind = kNone;
  ChunkMeta* chunk = nullptr;
  Slab* slab = nullptr;
  std::size_t slot = 0;
  std::size_t bytes = 0;  // usable size
};

struct Heap {
  alloc::FutexLock lock;
  MetaPool meta;
  ChunkMap<ChunkMeta> chunk_map;
  HugeTable huge;
  ChunkMeta* chunks = nullptr;
  Slab* partial[kClassCount] = {};
  std::size_t dirty_pages = 0;
  std::size_t used_pages = 0;
  std::size_t live_blocks = 0;
  std::size_t live_bytes = 0;
  // The heap at its largest number of live blocks (sampled when a slab is created).
  std::size_t peak_live_blocks = 0;
  std::size_t metadata_at_peak = 0;
};

extern constinit Heap g_heap;

void* small_alloc(std::size_t size_class) noexcept;
// Pages for a large block: `pages` pages whose index is a multiple of align_pages.
void* large_alloc(std::size_t pages, std::size_t align_pages) noexcept;
// A fresh mapping of at least n bytes aligned to align (>= page).
void* huge_alloc(std::size_t n, std::size_t align) noexcept;

Block classify(void* p) noexcept;
void release(const Block& b, void* p) noexcept;
// Large runs shrink or grow in place; false if the pages behind are taken.
bool large_resize(const Block& b, void* p, std::size_t pages) noexcept;
// Huge blocks are moved with mremap; nullptr (p intact) on failure.
void* huge_resize(const Block& b, void* p, std::size_t n) noexcept;

std::size_t check_heap(const char** what) noexcept;
std::size_t metadata_bytes() noexcept;

// Prints "dsmalloc: <what> <p>" and aborts: free of a pointer dsmalloc never returned,
// or a double free.
[[noreturn]] void invalid_pointer(const char* what, const void* p) noexcept;

}  // namespace mtreplay::dsmalloc
