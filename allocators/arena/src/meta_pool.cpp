#include "meta_pool.hpp"

#include "os.hpp"

namespace arena {

void* MetaPool::allocate(std::size_t bytes) {
  bytes = (bytes + 63) & ~std::size_t{63};
  LockGuard guard(lock_);
  if (static_cast<std::size_t>(end_ - cursor_) < bytes) {
    const std::size_t chunk = bytes > kChunk ? bytes : kChunk;
    auto* fresh = static_cast<char*>(map_pages(chunk));
    if (fresh == nullptr) return nullptr;
    mapped_ += chunk;
    cursor_ = fresh;
    end_ = fresh + chunk;
  }
  void* result = cursor_;
  cursor_ += bytes;
  return result;
}

std::size_t MetaPool::mapped_bytes() {
  LockGuard guard(lock_);
  return mapped_;
}

namespace {
constinit MetaPool the_pool;
}

MetaPool& meta_pool() {
  return the_pool;
}

}  // namespace arena
