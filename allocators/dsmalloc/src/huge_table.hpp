#pragma once
// Huge blocks (above 1 MiB, or aligned beyond what a chunk offers) are mappings of
// their own. This open-addressing table (linear probing, backward-shift deletion, in
// mmapped memory) records each one's start and length: 16 bytes per huge block at
// worst twice over. Callers hold the heap lock.
#include <cstddef>
#include <cstdint>

namespace mtreplay::dsmalloc {

class HugeTable {
 public:
  // Length of the mapping starting at p, or 0 if p is not a huge block.
  std::size_t find(std::uintptr_t p) const noexcept;
  bool insert(std::uintptr_t p, std::size_t bytes) noexcept;  // false: out of memory
  void erase(std::uintptr_t p) noexcept;

  std::size_t count() const noexcept { return count_; }
  std::size_t bytes() const noexcept { return capacity_ * sizeof(Entry); }
  // Visits every entry (for the consistency check).
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < capacity_; ++i) {
      if (entries_[i].start) f(entries_[i].start, entries_[i].bytes);
    }
  }

 private:
  struct Entry {
    std::uintptr_t start;
    std::size_t bytes;
  };
  std::size_t slot_of(std::uintptr_t p) const noexcept {
    return ((p >> 12) * 0x9E3779B97F4A7C15ull >> 20) & (capacity_ - 1);
  }
  bool grow() noexcept;

  Entry* entries_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t count_ = 0;
};

}  // namespace mtreplay::dsmalloc
