// The only ways the allocator talks to the kernel. None of them allocates.
#pragma once

#include <cstddef>
#include <cstdint>

namespace arena {

// Fresh zeroed read-write memory, or nullptr when the kernel refuses.
void* map_pages(std::size_t bytes);
// `bytes` of fresh memory aligned to `alignment` (a power of two >= kPageSize).
void* map_aligned(std::size_t bytes, std::size_t alignment);
void unmap_pages(void* address, std::size_t bytes);
// Gives the pages back; they read as zero when next touched.
void decommit_pages(void* address, std::size_t bytes);
// Resizes a mapping, moving it if needed; nullptr when the kernel refuses.
void* remap_pages(void* address, std::size_t old_bytes, std::size_t new_bytes);

// The coarse monotonic clock, in ns: a vDSO read of a few ns, in 1-4 ms steps (enough
// for the decay of cached memory).
std::uint64_t coarse_now_ns();

// Writes "arena: <what> <pointer>" on stderr and aborts: the heap is corrupt or the
// program freed something it does not own, and continuing would spread the damage.
[[noreturn]] void die_with_pointer(const char* what, const void* pointer);
[[noreturn]] void die(const char* message);

}  // namespace arena
