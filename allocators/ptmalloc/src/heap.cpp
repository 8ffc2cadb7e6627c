#include "heap.hpp"

#include "mtreplay/alloc_common/os_memory.hpp"

namespace mtreplay::ptmalloc {

Heap* create_heap(Arena* owner) noexcept {
  auto* h = static_cast<Heap*>(alloc::map_aligned(kHeapBytes, kHeapBytes));
  if (!h) return nullptr;
  h->arena = owner;
  h->older = h->newer = nullptr;
  h->dirty_end = alloc::kPageSize;
  Chunk* top = first_chunk(h);
  top->set_size_flags((kFenceOffset - kFirstChunkOffset) | kPrevInUse);
  Chunk* fence = fence_of(h);
  fence->set_size_flags(16 | kPrevInUse);
  fence->at_offset(16)->set_size_flags(16 | kPrevInUse);  // says: the first fence is in use
  return h;
}

void destroy_heap(Heap* h) noexcept {
  alloc::unmap_pages(h, kHeapBytes);
}

}  // namespace mtreplay::ptmalloc
