// The maps lphash is measured against, behind one interface:
//   insert(key, value) -> bool, find(key, value&) -> bool, erase(key) -> bool.
// Peers get a full-avalanche hash: the default std::hash of an integer is the identity,
// which would leave the low bits of 16-byte aligned addresses zero and cripple the
// tables that index buckets with low bits (oneTBB, libcuckoo).
#pragma once

extern "C" {
#include <ck_ht.h>
#include <spinlock/fas.h>
}

#include <oneapi/tbb/concurrent_hash_map.h>

#include <cstdint>
#include <cstdlib>
#include <libcuckoo/cuckoohash_map.hh>
#include <mutex>
#include <unordered_map>

#include "mtreplay/lphash/pointer_map.hpp"

namespace lphash_bench {

// MurmurHash3's 64-bit finalizer.
struct PeerHash {
  std::size_t operator()(std::uint64_t k) const {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
  }
};

class Lphash {
 public:
  static constexpr const char* kName = "lphash";
  explicit Lphash(std::size_t hint) : map_(hint) {}
  bool insert(std::uint64_t k, std::uint64_t v) { return map_.insert(k, v); }
  bool find(std::uint64_t k, std::uint64_t& v) const {
    auto found = map_.find(k);
    if (found) v = *found;
    return found.has_value();
  }
  bool erase(std::uint64_t k) { return map_.erase(k).has_value(); }

 private:
  mtreplay::lphash::PointerMap<std::uint64_t> map_;
};

// ck_ht is single-writer/multi-reader: writers take a spinlock, readers do not.
class CkHt {
 public:
  static constexpr const char* kName = "ck_ht";
  explicit CkHt(std::size_t hint) {
    if (!ck_ht_init(&ht_, CK_HT_MODE_DIRECT | CK_HT_WORKLOAD_DELETE, nullptr, &allocator_, hint * 2,
                    0x5eed)) {
      std::abort();
    }
  }
  ~CkHt() { ck_ht_destroy(&ht_); }
  CkHt(const CkHt&) = delete;
  CkHt& operator=(const CkHt&) = delete;

  bool insert(std::uint64_t k, std::uint64_t v) {
    ck_ht_hash_t h;
    ck_ht_hash_direct(&h, &ht_, k);
    ck_ht_entry_t entry;
    ck_ht_entry_set_direct(&entry, h, k, v);
    ck_spinlock_fas_lock(&lock_);
    const bool ok = ck_ht_put_spmc(&ht_, h, &entry);
    ck_spinlock_fas_unlock(&lock_);
    return ok;
  }
  bool find(std::uint64_t k, std::uint64_t& v) {
    ck_ht_hash_t h;
    ck_ht_hash_direct(&h, &ht_, k);
    ck_ht_entry_t entry;
    ck_ht_entry_key_set_direct(&entry, k);
    if (!ck_ht_get_spmc(&ht_, h, &entry)) return false;
    v = ck_ht_entry_value_direct(&entry);
    return true;
  }
  bool erase(std::uint64_t k) {
    ck_ht_hash_t h;
    ck_ht_hash_direct(&h, &ht_, k);
    ck_ht_entry_t entry;
    ck_ht_entry_key_set_direct(&entry, k);
    ck_spinlock_fas_lock(&lock_);
    const bool ok = ck_ht_remove_spmc(&ht_, h, &entry);
    ck_spinlock_fas_unlock(&lock_);
    return ok;
  }

 private:
  static void* allocate(std::size_t n) { return std::malloc(n); }
  static void* reallocate(void* p, std::size_t, std::size_t n, bool) { return std::realloc(p, n); }
  static void release(void* p, std::size_t, bool) { std::free(p); }

  ck_malloc allocator_{allocate, reallocate, release};
  ck_ht_t ht_{};
  ck_spinlock_fas_t lock_ = CK_SPINLOCK_FAS_INITIALIZER;
};

class Tbb {
 public:
  static constexpr const char* kName = "tbb_chm";
  explicit Tbb(std::size_t hint) : map_(hint) {}
  bool insert(std::uint64_t k, std::uint64_t v) { return map_.insert({k, v}); }
  bool find(std::uint64_t k, std::uint64_t& v) {
    Map::const_accessor a;
    if (!map_.find(a, k)) return false;
    v = a->second;
    return true;
  }
  bool erase(std::uint64_t k) { return map_.erase(k); }

 private:
  struct HashCompare {
    std::size_t hash(std::uint64_t k) const { return PeerHash{}(k); }
    bool equal(std::uint64_t a, std::uint64_t b) const { return a == b; }
  };
  using Map = tbb::concurrent_hash_map<std::uint64_t, std::uint64_t, HashCompare>;
  Map map_;
};

class Cuckoo {
 public:
  static constexpr const char* kName = "libcuckoo";
  explicit Cuckoo(std::size_t hint) { map_.reserve(hint); }
  bool insert(std::uint64_t k, std::uint64_t v) { return map_.insert(k, v); }
  bool find(std::uint64_t k, std::uint64_t& v) const { return map_.find(k, v); }
  bool erase(std::uint64_t k) { return map_.erase(k); }

 private:
  libcuckoo::cuckoohash_map<std::uint64_t, std::uint64_t, PeerHash> map_;
};

class MutexMap {
 public:
  static constexpr const char* kName = "std_mutex";
  explicit MutexMap(std::size_t hint) { map_.reserve(hint); }
  bool insert(std::uint64_t k, std::uint64_t v) {
    std::lock_guard lock(mutex_);
    return map_.emplace(k, v).second;
  }
  bool find(std::uint64_t k, std::uint64_t& v) {
    std::lock_guard lock(mutex_);
    auto it = map_.find(k);
    if (it == map_.end()) return false;
    v = it->second;
    return true;
  }
  bool erase(std::uint64_t k) {
    std::lock_guard lock(mutex_);
    return map_.erase(k) != 0;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::uint64_t, PeerHash> map_;
};

}  // namespace lphash_bench
