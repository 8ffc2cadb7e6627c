// Memory for the allocator's own metadata (span descriptors, segment page maps),
// mapped apart from every user block. Objects carved from it are never unmapped:
// a stale descriptor pointer can always be read safely and then rejected.
#pragma once

#include <cstddef>

#include "lock.hpp"

namespace arena {

class MetaPool {
 public:
  // `bytes` of zeroed memory aligned to 64, or nullptr when mmap fails.
  void* allocate(std::size_t bytes);
  std::size_t mapped_bytes();
  Lock& lock() { return lock_; }

 private:
  static constexpr std::size_t kChunk = 1024 * 1024;
  Lock lock_;
  char* cursor_ = nullptr;
  char* end_ = nullptr;
  std::size_t mapped_ = 0;
};

MetaPool& meta_pool();

}  // namespace arena
