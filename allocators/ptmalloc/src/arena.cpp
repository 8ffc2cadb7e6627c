#include "arena.hpp"

#include "mmapped.hpp"
#include "mtreplay/alloc_common/os_memory.hpp"

namespace mtreplay::ptmalloc {
namespace {

// Top memory kept resident after a trim, so a free/malloc cycle at the top does not
// fault pages in and out.
constexpr std::size_t kTopPad = std::size_t{128} << 10;
// A large bin is searched for its best fit, but only this far.
constexpr int kBestFitScan = 32;

void mark_bin(Arena& a, std::size_t idx) noexcept {
  a.binmap[idx >> 6] |= 1ull << (idx & 63);
}
void unmark_bin(Arena& a, std::size_t idx) noexcept {
  a.binmap[idx >> 6] &= ~(1ull << (idx & 63));
}

void bin_insert(Arena& a, Chunk* c, std::size_t size) noexcept {
  std::size_t idx = bin_index(size);
  c->bk = nullptr;
  c->fd = a.bins[idx];
  if (c->fd) c->fd->bk = c;
  a.bins[idx] = c;
  mark_bin(a, idx);
}

void bin_unlink(Arena& a, Chunk* c) noexcept {
  if (c->bk) {
    c->bk->fd = c->fd;
  } else {
    std::size_t idx = bin_index(c->size());
    a.bins[idx] = c->fd;
    if (!c->fd) unmark_bin(a, idx);
  }
  if (c->fd) c->fd->bk = c->bk;
}

// First non-empty bin at or after idx, or kBinCount.
std::size_t next_nonempty_bin(const Arena& a, std::size_t idx) noexcept {
  while (idx < kBinCount) {
    std::uint64_t word = a.binmap[idx >> 6] & (~0ull << (idx & 63));
    if (word) return (idx & ~std::size_t{63}) + __builtin_ctzll(word);
    idx = (idx | 63) + 1;
  }
  return kBinCount;
}

// Writes the boundary tags of a free chunk of `size` at c and bins it.
void make_free(Arena& a, Chunk* c, std::size_t size) noexcept {
  c->set_size_flags(size | kPrevInUse);  // no free chunk ever follows another
  Chunk* after = c->at_offset(size);
  after->prev_size = size;
  after->clear_prev_in_use();
  bin_insert(a, c, size);
}

void note_dirty(Heap* h, const Chunk* top) noexcept {
  std::size_t end = alloc::round_up(offset_in_heap(h, top) + kHeaderBytes, alloc::kPageSize);
  if (end > h->dirty_end) h->dirty_end = end;
}

// Unlinks a free chunk from its bin and hands out its first nb bytes; a remainder
// big enough to be a chunk goes back to the bins.
Chunk* take_from_bin(Arena& a, Chunk* c, std::size_t nb) noexcept {
  bin_unlink(a, c);
  std::size_t size = c->size();
  if (size - nb >= kMinChunk) {
    c->set_size_keep_flags(nb);
    make_free(a, c->at_offset(nb), size - nb);
  } else {
    c->next()->mark_prev_in_use();
  }
  return c;
}

Chunk* carve_top(Arena& a, std::size_t nb) noexcept {
  Chunk* c = a.top;
  std::size_t top_size = c->size();
  Chunk* rest = c->at_offset(nb);
  rest->set_size_flags((top_size - nb) | kPrevInUse);
  c->set_size_keep_flags(nb);
  a.top = rest;
  note_dirty(a.newest_heap, rest);
  return c;
}

// The top is exhausted: its remainder becomes an ordinary free chunk of the old heap
// (ending at the fence) and a fresh heap provides the new top.
bool grow(Arena& a) noexcept {
  Heap* h = create_heap(&a);
  if (!h) return false;
  Chunk* old_top = a.top;
  make_free(a, old_top, old_top->size());
  h->older = a.newest_heap;
  a.newest_heap->newer = h;
  a.newest_heap = h;
  a.top = first_chunk(h);
  return true;
}

void trim_top(Arena& a) noexcept {
  Heap* h = a.newest_heap;
  std::size_t keep =
      alloc::round_up(offset_in_heap(h, a.top) + kHeaderBytes + kTopPad, alloc::kPageSize);
  if (h->dirty_end > keep && h->dirty_end - keep >= trim_threshold()) {
    alloc::purge_pages(reinterpret_cast<char*>(h) + keep, h->dirty_end - keep);
    h->dirty_end = keep;
  }
}

// A big free chunk away from the top (in an older heap, or below live blocks) gives
// back the whole pages of [from, to) that lie inside it; its boundary tags stay
// resident. Only chunks above the trim threshold qualify, and only their newly freed
// part is purged, so a chunk is not purged again each time a neighbour joins it.
void purge_range(Chunk* c, char* from, char* to) noexcept {
  auto chunk_start = reinterpret_cast<std::uintptr_t>(c) + sizeof(Chunk);
  auto start = reinterpret_cast<std::uintptr_t>(from);
  if (start < chunk_start) start = chunk_start;
  start = alloc::round_up(start, alloc::kPageSize);
  auto end = reinterpret_cast<std::uintptr_t>(to) & ~(std::uintptr_t{alloc::kPageSize} - 1);
  if (end > start) alloc::purge_pages(reinterpret_cast<void*>(start), end - start);
}

// A heap that is neither the arena's first nor its current one and holds nothing but
// one free chunk is given back whole.
bool release_if_empty(Arena& a, Chunk* c, std::size_t size) noexcept {
  Heap* h = heap_of(c);
  if (h == a.newest_heap || h == a.oldest_heap) return false;
  if (c != first_chunk(h) || c->at_offset(size) != fence_of(h)) return false;
  h->older->newer = h->newer;
  h->newer->older = h->older;
  destroy_heap(h);
  return true;
}

}  // namespace

bool init_arena(Arena& a) noexcept {
  Heap* h = create_heap(&a);
  if (!h) return false;
  a.oldest_heap = a.newest_heap = h;
  a.top = first_chunk(h);
  return true;
}

Chunk* malloc_locked(Arena& a, std::size_t nb) noexcept {
  std::size_t idx = bin_index(nb);
  if (idx < kSmallBinLimit) {
    if (Chunk* c = a.bins[idx]) return take_from_bin(a, c, nb);
  } else if (a.bins[idx]) {
    Chunk* best = nullptr;
    int scanned = 0;
    for (Chunk* c = a.bins[idx]; c && scanned < kBestFitScan; c = c->fd, ++scanned) {
      std::size_t s = c->size();
      if (s >= nb && (!best || s < best->size())) {
        best = c;
        if (s == nb) break;
      }
    }
    if (best) return take_from_bin(a, best, nb);
  }
  // Every chunk in a later bin is big enough; the first one found is the smallest class.
  std::size_t later = next_nonempty_bin(a, idx + 1);
  if (later < kBinCount) return take_from_bin(a, a.bins[later], nb);
  if (a.top->size() < nb + kMinChunk) {
    if (nb + kMinChunk > kFenceOffset - kFirstChunkOffset || !grow(a)) return nullptr;
  }
  return carve_top(a, nb);
}

void free_locked(Arena& a, Chunk* c) noexcept {
  std::size_t size = c->size();
  Chunk* next = c->at_offset(size);
  // The part of the merged chunk whose pages may still be resident: neighbours at or
  // above the trim threshold were purged when they were freed.
  std::size_t threshold = trim_threshold();
  char* fresh_start = reinterpret_cast<char*>(c);
  char* fresh_end = reinterpret_cast<char*>(next);
  if (!c->prev_in_use()) {
    Chunk* prev = c->prev();
    bin_unlink(a, prev);
    if (prev->size() < threshold) fresh_start = reinterpret_cast<char*>(prev);
    size += prev->size();
    c = prev;
  }
  if (next == a.top) {
    c->set_size_flags((size + next->size()) | kPrevInUse);
    a.top = c;
    trim_top(a);
    return;
  }
  if (!next->in_use()) {
    bin_unlink(a, next);
    if (next->size() < threshold) fresh_end = reinterpret_cast<char*>(next->next());
    size += next->size();
  }
  if (release_if_empty(a, c, size)) return;
  make_free(a, c, size);
  if (size >= threshold) purge_range(c, fresh_start, fresh_end);
}

bool resize_locked(Arena& a, Chunk* c, std::size_t nb) noexcept {
  std::size_t size = c->size();
  if (nb > size) {
    Chunk* next = c->next();
    if (next == a.top) {
      std::size_t total = size + next->size();
      if (total < nb + kMinChunk) return false;
      Chunk* rest = c->at_offset(nb);
      rest->set_size_flags((total - nb) | kPrevInUse);
      c->set_size_keep_flags(nb);
      a.top = rest;
      note_dirty(a.newest_heap, rest);
      return true;
    }
    if (next->in_use() || size + next->size() < nb) return false;
    bin_unlink(a, next);
    size += next->size();
    c->set_size_keep_flags(size);
    c->next()->mark_prev_in_use();
  }
  if (size - nb >= kMinChunk) {
    c->set_size_keep_flags(nb);
    Chunk* rest = c->at_offset(nb);
    rest->set_size_flags((size - nb) | kPrevInUse);
    free_locked(a, rest);
  }
  return true;
}

Chunk* memalign_locked(Arena& a, std::size_t align, std::size_t nb) noexcept {
  Chunk* c = malloc_locked(a, nb + align + kMinChunk);
  if (!c) return nullptr;
  auto mem = reinterpret_cast<std::uintptr_t>(c->mem());
  if (mem & (align - 1)) {
    auto* aligned = Chunk::of(reinterpret_cast<void*>((mem + align - 1) & ~(align - 1)));
    std::size_t lead = reinterpret_cast<char*>(aligned) - reinterpret_cast<char*>(c);
    if (lead < kMinChunk) {
      aligned = aligned->at_offset(align);
      lead += align;
    }
    aligned->set_size_flags((c->size() - lead) | kPrevInUse);
    c->set_size_keep_flags(lead);
    free_locked(a, c);  // binned in front of `aligned`, whose PREV_INUSE it clears
    c = aligned;
  }
  resize_locked(a, c, nb);  // gives the tail back
  return c;
}

std::size_t check_locked(Arena& a, const char** what) noexcept {
  std::size_t problems = 0;
  auto fail = [&](const char* msg) {
    if (!problems++) *what = msg;
  };
  std::size_t free_in_heaps = 0;
  for (Heap* h = a.oldest_heap; h; h = h->newer) {
    if (h->arena != &a) fail("heap does not point back to its arena");
    Chunk* fence = fence_of(h);
    bool prev_free = false;
    Chunk* c = first_chunk(h);
    if (!c->prev_in_use()) fail("first chunk of a heap claims a free predecessor");
    while (c != fence) {
      std::size_t s = c->size();
      if (s < kMinChunk || (s & 15) || c->is_mmapped() || offset_in_heap(h, c) + s > kFenceOffset) {
        fail("chunk with a corrupt size");
        break;
      }
      if (c == a.top) {
        if (h != a.newest_heap || c->next() != fence) fail("top is not the last chunk");
        if (prev_free) fail("free chunk before the top");
        break;
      }
      bool free_now = !c->in_use();
      if (free_now) {
        ++free_in_heaps;
        if (prev_free) fail("two adjacent free chunks");
        if (c->next()->prev_size != s) fail("free chunk footer does not match its size");
      }
      if (c->prev_in_use() == prev_free) fail("PREV_INUSE disagrees with the previous chunk");
      prev_free = free_now;
      c = c->next();
    }
    if (h == a.newest_heap && c != a.top) fail("top not found in the newest heap");
  }
  std::size_t binned = 0;
  for (std::size_t i = 0; i < kBinCount; ++i) {
    bool marked = a.binmap[i >> 6] & (1ull << (i & 63));
    if (marked != (a.bins[i] != nullptr)) fail("bin map disagrees with the bins");
    Chunk* prev = nullptr;
    for (Chunk* c = a.bins[i]; c; prev = c, c = c->fd) {
      ++binned;
      if (c->bk != prev) fail("broken back link in a bin");
      if (bin_index(c->size()) != i) fail("chunk in the wrong bin");
      if (c->in_use()) fail("in-use chunk in a bin");
      if (binned > (std::size_t{1} << 32)) return problems + 1;  // a cycle
    }
  }
  if (binned != free_in_heaps) fail("free chunks in heaps and in bins differ");
  return problems;
}

}  // namespace mtreplay::ptmalloc
