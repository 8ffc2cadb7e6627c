#include "heap.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "page_bits.hpp"

namespace mtreplay::dsmalloc {

constinit Heap g_heap{};

namespace {

constexpr std::size_t kNoRun = ~std::size_t{0};
// Free pages that may stay resident before they are all given back (madvise), as a
// floor and as a fraction of the pages in use.
constexpr std::size_t kDirtyFloorPages = 256;
constexpr std::size_t kDirtyFractionShift = 3;

std::size_t page_index(const ChunkMeta* c, std::uintptr_t addr) noexcept {
  return (addr - c->base) / kPageBytes;
}

std::size_t find_run(const ChunkMeta* c, std::size_t pages, std::size_t align) noexcept {
  std::size_t i = 0;
  for (;;) {
    i = next_bit(c->free_map, i, kPagesPerChunk, true);
    i = (i + align - 1) & ~(align - 1);
    if (i + pages > kPagesPerChunk) return kNoRun;
    std::size_t busy = next_bit(c->free_map, i, i + pages, false);
    if (busy == i + pages) return i;
    i = busy + 1;
  }
}

void take_pages(ChunkMeta* c, std::size_t index, std::size_t pages) noexcept {
  clear_bits(c->free_map, index, pages);
  std::size_t dirty = count_bits(c->dirty_map, index, pages);
  clear_bits(c->dirty_map, index, pages);
  c->dirty_pages -= static_cast<std::uint32_t>(dirty);
  g_heap.dirty_pages -= dirty;
  c->free_pages -= static_cast<std::uint32_t>(pages);
  g_heap.used_pages += pages;
}

ChunkMeta* new_chunk() noexcept {
  void* base = alloc::map_aligned(kChunkBytes, kChunkBytes);
  if (!base) return nullptr;
  MetaHandle handle;
  auto* c = static_cast<ChunkMeta*>(g_heap.meta.allocate(sizeof(ChunkMeta), &handle));
  if (!c) {
    alloc::unmap_pages(base, kChunkBytes);
    return nullptr;
  }
  std::memset(c, 0, sizeof *c);
  c->handle = handle;
  c->base = reinterpret_cast<std::uintptr_t>(base);
  c->free_pages = kPagesPerChunk;
  std::memset(c->free_map, 0xFF, sizeof c->free_map);
  if (!g_heap.chunk_map.insert(c->base, c, g_heap.meta)) {
    g_heap.meta.release(c, sizeof(ChunkMeta), handle);
    alloc::unmap_pages(base, kChunkBytes);
    return nullptr;
  }
  // Address order: first fit then prefers low chunks and lets high ones empty out.
  ChunkMeta** link = &g_heap.chunks;
  while (*link && (*link)->base < c->base) link = &(*link)->next;
  c->next = *link;
  *link = c;
  return c;
}

void release_chunk(ChunkMeta* c) noexcept {
  ChunkMeta** link = &g_heap.chunks;
  while (*link != c) link = &(*link)->next;
  *link = c->next;
  g_heap.dirty_pages -= c->dirty_pages;
  g_heap.chunk_map.erase(c->base);
  alloc::unmap_pages(reinterpret_cast<void*>(c->base), kChunkBytes);
  g_heap.meta.release(c, sizeof(ChunkMeta), c->handle);
}

void purge_dirty() noexcept {
  for (ChunkMeta* c = g_heap.chunks; c; c = c->next) {
    std::size_t i = 0;
    while (c->dirty_pages && i < kPagesPerChunk) {
      i = next_bit(c->dirty_map, i, kPagesPerChunk, true);
      if (i == kPagesPerChunk) break;
      std::size_t end = next_bit(c->dirty_map, i, kPagesPerChunk, false);
      alloc::purge_pages(reinterpret_cast<void*>(c->base + i * kPageBytes), (end - i) * kPageBytes);
      clear_bits(c->dirty_map, i, end - i);
      c->dirty_pages -= static_cast<std::uint32_t>(end - i);
      i = end;
    }
  }
  g_heap.dirty_pages = 0;
}

void give_pages_back(ChunkMeta* c, std::size_t index, std::size_t pages) noexcept {
  set_bits(c->free_map, index, pages);
  set_bits(c->dirty_map, index, pages);
  for (std::size_t i = 0; i < pages; ++i) c->page_entry[index + i] = 0;
  c->free_pages += static_cast<std::uint32_t>(pages);
  c->dirty_pages += static_cast<std::uint32_t>(pages);
  g_heap.dirty_pages += pages;
  g_heap.used_pages -= pages;
  if (c->free_pages == kPagesPerChunk && (g_heap.chunks != c || c->next)) {
    release_chunk(c);
  }
  std::size_t allowed = g_heap.used_pages >> kDirtyFractionShift;
  if (g_heap.dirty_pages > (allowed > kDirtyFloorPages ? allowed : kDirtyFloorPages)) purge_dirty();
}

// `pages` free pages at an index that is a multiple of align: the chunk, and the index
// in *index. nullptr when no chunk can be mapped.
ChunkMeta* alloc_pages(std::size_t pages, std::size_t align, std::size_t* index) noexcept {
  for (ChunkMeta* c = g_heap.chunks; c; c = c->next) {
    if (c->free_pages < pages) continue;
    std::size_t i = find_run(c, pages, align);
    if (i != kNoRun) {
      take_pages(c, i, pages);
      *index = i;
      return c;
    }
  }
  ChunkMeta* c = new_chunk();
  if (!c) return nullptr;
  take_pages(c, 0, pages);
  *index = 0;
  return c;
}

void list_push(Slab* s) noexcept {
  Slab*& head = g_heap.partial[s->size_class];
  s->prev = nullptr;
  s->next = head;
  if (head) head->prev = s;
  head = s;
}

void list_remove(Slab* s) noexcept {
  if (s->prev) {
    s->prev->next = s->next;
  } else {
    g_heap.partial[s->size_class] = s->next;
  }
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
}

Slab* new_slab(std::size_t size_class) noexcept {
  const SizeClass& sc = kClasses[size_class];
  std::size_t index;
  ChunkMeta* c = alloc_pages(sc.slab_pages, 1, &index);
  if (!c) return nullptr;
  MetaHandle handle;
  auto* s = static_cast<Slab*>(g_heap.meta.allocate(Slab::bytes_for(sc), &handle));
  if (!s) {
    give_pages_back(c, index, sc.slab_pages);
    return nullptr;
  }
  s->start = c->base + index * kPageBytes;
  s->size_class = static_cast<std::uint16_t>(size_class);
  s->free_slots = static_cast<std::uint16_t>(sc.slots);
  s->first_free_word = 0;
  std::uint64_t* bits = s->free_bits();
  std::size_t words = (sc.slots + 63) / 64;
  for (std::size_t w = 0; w < words; ++w) bits[w] = ~0ull;
  if (sc.slots % 64) bits[words - 1] = (1ull << (sc.slots % 64)) - 1;
  for (std::size_t i = 0; i < sc.slab_pages; ++i) {
    c->page_entry[index + i] = handle << 1;
  }
  list_push(s);
  if (g_heap.live_blocks > g_heap.peak_live_blocks) {
    g_heap.peak_live_blocks = g_heap.live_blocks;
    g_heap.metadata_at_peak = metadata_bytes();
  }
  return s;
}

void append_hex(char*& out, std::uintptr_t v) noexcept {
  *out++ = '0';
  *out++ = 'x';
  char digits[16];
  int n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  while (n) *out++ = digits[--n];
}

}  // namespace

void* small_alloc(std::size_t size_class) noexcept {
  Slab* s = g_heap.partial[size_class];
  if (!s && !(s = new_slab(size_class))) return nullptr;
  std::uint64_t* bits = s->free_bits();
  std::size_t w = s->first_free_word;
  while (!bits[w]) ++w;
  std::size_t bit = __builtin_ctzll(bits[w]);
  bits[w] &= bits[w] - 1;
  s->first_free_word = static_cast<std::uint16_t>(w);
  if (--s->free_slots == 0) list_remove(s);
  const SizeClass& sc = kClasses[size_class];
  ++g_heap.live_blocks;
  g_heap.live_bytes += sc.size;
  return reinterpret_cast<void*>(s->start + (w * 64 + bit) * sc.size);
}

void* large_alloc(std::size_t pages, std::size_t align_pages) noexcept {
  std::size_t index;
  ChunkMeta* c = alloc_pages(pages, align_pages, &index);
  if (!c) return nullptr;
  c->page_entry[index] = static_cast<std::uint32_t>(pages << 1 | 1);
  ++g_heap.live_blocks;
  g_heap.live_bytes += pages * kPageBytes;
  return reinterpret_cast<void*>(c->base + index * kPageBytes);
}

void* huge_alloc(std::size_t n, std::size_t align) noexcept {
  std::size_t bytes = alloc::round_up(n, kPageBytes);
  void* p = align > kPageBytes ? alloc::map_aligned(bytes, align) : alloc::map_pages(bytes);
  if (!p) return nullptr;
  if (!g_heap.huge.insert(reinterpret_cast<std::uintptr_t>(p), bytes)) {
    alloc::unmap_pages(p, bytes);
    return nullptr;
  }
  ++g_heap.live_blocks;
  g_heap.live_bytes += bytes;
  return p;
}

Block classify(void* p) noexcept {
  auto addr = reinterpret_cast<std::uintptr_t>(p);
  Block b;
  if (ChunkMeta* c = g_heap.chunk_map.find(addr)) {
    std::uint32_t entry = c->page_entry[page_index(c, addr)];
    if (entry & 1) {
      if (addr % kPageBytes) return b;
      b = {Block::kLarge, c, nullptr, 0, (entry >> 1) * kPageBytes};
    } else if (entry) {
      auto* s = static_cast<Slab*>(g_heap.meta.resolve(entry >> 1));
      const SizeClass& sc = kClasses[s->size_class];
      std::size_t offset = addr - s->start;
      std::size_t slot = slot_of(sc, offset);
      if (slot * sc.size != offset || slot >= sc.slots) return b;
      b = {Block::kSmall, c, s, slot, sc.size};
    }
    return b;
  }
  if (std::size_t bytes = g_heap.huge.find(addr)) b = {Block::kHuge, nullptr, nullptr, 0, bytes};
  return b;
}

void release(const Block& b, void* p) noexcept {
  switch (b.kind) {
    case Block::kSmall: {
      Slab* s = b.slab;
      const SizeClass& sc = kClasses[s->size_class];
      std::uint64_t* word = &s->free_bits()[b.slot >> 6];
      std::uint64_t bit = 1ull << (b.slot & 63);
      if (*word & bit) invalid_pointer("double free of", p);
      *word |= bit;
      if (b.slot >> 6 < s->first_free_word)
        s->first_free_word = static_cast<std::uint16_t>(b.slot >> 6);
      if (s->free_slots++ == 0) list_push(s);
      if (s->free_slots == sc.slots && (s->prev || s->next)) {
        // Empty and not the class's last slab with room: its pages go back.
        list_remove(s);
        ChunkMeta* c = b.chunk;
        std::size_t index = page_index(c, s->start);
        g_heap.meta.release(s, Slab::bytes_for(sc), c->page_entry[index] >> 1);
        give_pages_back(c, index, sc.slab_pages);
      }
      break;
    }
    case Block::kLarge:
      give_pages_back(b.chunk, page_index(b.chunk, reinterpret_cast<std::uintptr_t>(p)),
                      b.bytes / kPageBytes);
      break;
    case Block::kHuge:
      g_heap.huge.erase(reinterpret_cast<std::uintptr_t>(p));
      alloc::unmap_pages(p, b.bytes);
      break;
    case Block::kNone:
      invalid_pointer("free of a pointer it never returned:", p);
  }
  --g_heap.live_blocks;
  g_heap.live_bytes -= b.bytes;
}

bool large_resize(const Block& b, void* p, std::size_t pages) noexcept {
  ChunkMeta* c = b.chunk;
  std::size_t index = page_index(c, reinterpret_cast<std::uintptr_t>(p));
  std::size_t old_pages = b.bytes / kPageBytes;
  if (pages > old_pages) {
    if (index + pages > kPagesPerChunk) return false;
    if (next_bit(c->free_map, index + old_pages, index + pages, false) != index + pages) {
      return false;
    }
    take_pages(c, index + old_pages, pages - old_pages);
  } else if (pages < old_pages) {
    give_pages_back(c, index + pages, old_pages - pages);
  }
  c->page_entry[index] = static_cast<std::uint32_t>(pages << 1 | 1);
  g_heap.live_bytes = g_heap.live_bytes - b.bytes + pages * kPageBytes;
  return true;
}

void* huge_resize(const Block& b, void* p, std::size_t n) noexcept {
  std::size_t bytes = alloc::round_up(n, kPageBytes);
  void* q = mremap(p, b.bytes, bytes, MREMAP_MAYMOVE);
  if (q == MAP_FAILED) return nullptr;
  g_heap.huge.erase(reinterpret_cast<std::uintptr_t>(p));
  g_heap.huge.insert(reinterpret_cast<std::uintptr_t>(q), bytes);  // capacity is there
  g_heap.live_bytes = g_heap.live_bytes - b.bytes + bytes;
  return q;
}

std::size_t metadata_bytes() noexcept {
  return g_heap.meta.bytes_in_use() + g_heap.chunk_map.bytes() + g_heap.huge.bytes();
}

std::size_t check_heap(const char** what) noexcept {
  std::size_t problems = 0;
  auto fail = [&](const char* msg) {
    if (!problems++) *what = msg;
  };
  std::size_t live = 0, used_pages = 0, dirty_pages = 0, listed = 0, with_room = 0;
  for (ChunkMeta* c = g_heap.chunks; c; c = c->next) {
    if (g_heap.chunk_map.find(c->base) != c) fail("chunk missing from the address map");
    if (c->next && c->next->base <= c->base) fail("chunk list out of address order");
    std::size_t free_pages = count_bits(c->free_map, 0, kPagesPerChunk);
    std::size_t dirty = count_bits(c->dirty_map, 0, kPagesPerChunk);
    if (free_pages != c->free_pages) fail("chunk free-page count is wrong");
    if (dirty != c->dirty_pages) fail("chunk dirty-page count is wrong");
    for (std::size_t w = 0; w < kPageWords; ++w) {
      if (c->dirty_map[w] & ~c->free_map[w]) fail("a page in use is marked dirty");
    }
    used_pages += kPagesPerChunk - free_pages;
    dirty_pages += dirty;
    for (std::size_t i = 0; i < kPagesPerChunk;) {
      std::uint32_t entry = c->page_entry[i];
      if (bit_at(c->free_map, i)) {
        if (entry) fail("free page with a page-table entry");
        ++i;
      } else if (entry & 1) {
        std::size_t pages = entry >> 1;
        if (!pages || i + pages > kPagesPerChunk) {
          fail("large run with a corrupt length");
          break;
        }
        if (count_bits(c->free_map, i, pages)) fail("large run over free pages");
        ++live;
        i += pages;
      } else if (entry) {
        auto* s = static_cast<Slab*>(g_heap.meta.resolve(entry >> 1));
        const SizeClass& sc = kClasses[s->size_class];
        if (s->start != c->base + i * kPageBytes) fail("slab does not start at its page");
        for (std::size_t p = 0; p < sc.slab_pages; ++p) {
          if (c->page_entry[i + p] != entry) fail("slab page not mapped to its slab");
        }
        std::size_t words = (sc.slots + 63) / 64, free_slots = 0;
        for (std::size_t w = 0; w < words; ++w) {
          free_slots += popcount64(s->free_bits()[w]);
          if (w < s->first_free_word && s->free_bits()[w]) fail("free slot below the search hint");
        }
        if (sc.slots % 64 && s->free_bits()[words - 1] >> (sc.slots % 64))
          fail("slot bit past the end");
        if (free_slots != s->free_slots) fail("slab free count disagrees with its bitmap");
        live += sc.slots - s->free_slots;
        with_room += s->free_slots > 0;
        i += sc.slab_pages;
      } else {
        fail("page in use without an owner");
        ++i;
      }
    }
  }
  for (std::size_t k = 0; k < kClassCount; ++k) {
    Slab* prev = nullptr;
    for (Slab* s = g_heap.partial[k]; s; prev = s, s = s->next) {
      if (s->prev != prev || s->size_class != k || !s->free_slots) fail("broken slab list");
      if (++listed > (std::size_t{1} << 32)) return problems + 1;
    }
  }
  if (listed != with_room) fail("slabs with free slots and listed slabs differ");
  g_heap.huge.for_each([&](std::uintptr_t start, std::size_t bytes) {
    if (start % kPageBytes || bytes % kPageBytes) fail("huge block not page-aligned");
    ++live;
  });
  if (live != g_heap.live_blocks) fail("live block count disagrees with the heap");
  if (used_pages != g_heap.used_pages) fail("used page count is wrong");
  if (dirty_pages != g_heap.dirty_pages) fail("dirty page count is wrong");
  return problems;
}

void invalid_pointer(const char* what, const void* p) noexcept {
  char line[160];
  char* out = line;
  for (const char* s = "dsmalloc: "; *s;) *out++ = *s++;
  for (const char* s = what; *s && out < line + 120;) *out++ = *s++;
  *out++ = ' ';
  append_hex(out, reinterpret_cast<std::uintptr_t>(p));
  *out++ = '\n';
  [[maybe_unused]] auto written = write(2, line, static_cast<std::size_t>(out - line));
  std::abort();
}

}  // namespace mtreplay::dsmalloc
