// The live map: recorded object -> the block the allocator under test returned for it.
// Two interchangeable implementations, so that the replay loops can be measured with
// either (`mtreplay replay --live-map`, BENCHMARKS.md): a flat array indexed by object
// id (the default), and lphash::PointerMap keyed by object id or by recorded address.
// None of them allocates.
#pragma once

#include <cstdint>

#include "mtreplay/lphash/pointer_map.hpp"

namespace mtreplay::replay {

using LivePointerMap = lphash::PointerMap<void*>;

struct LiveArray {
  void** slots;
  void put(uint32_t obj, void* p) const { slots[obj] = p; }
  void* get(uint32_t obj) const { return slots[obj]; }
  // The op ends the object's life.
  void* take(uint32_t obj) const { return slots[obj]; }
  void replace(uint32_t obj, void* p) const { slots[obj] = p; }
};

struct LiveHash {
  LivePointerMap* map;
  // Key 0 is reserved by the map.
  static uint64_t key(uint32_t obj) { return uint64_t{obj} + 1; }
  void put(uint32_t obj, void* p) const { map->insert(key(obj), p); }
  void* get(uint32_t obj) const {
    auto found = map->find(key(obj));
    return found ? *found : nullptr;
  }
  void* take(uint32_t obj) const {
    auto found = map->erase(key(obj));
    return found ? *found : nullptr;
  }
  void replace(uint32_t obj, void* p) const {
    map->erase(key(obj));
    map->insert(key(obj), p);
  }
};

// Keyed by the recorded address, as the brief first imagined it: an allocator reusing
// an address refills the same slot. Correct only when no address is reused by another
// thread than the one that freed it (`mtreplay replay` checks before choosing it).
struct LiveAddressHash {
  LivePointerMap* map;
  const uint64_t* addresses;  // [object] -> recorded address
  void put(uint32_t obj, void* p) const { map->insert(addresses[obj], p); }
  void* get(uint32_t obj) const {
    auto found = map->find(addresses[obj]);
    return found ? *found : nullptr;
  }
  void* take(uint32_t obj) const {
    auto found = map->erase(addresses[obj]);
    return found ? *found : nullptr;
  }
  void replace(uint32_t obj, void* p) const {
    map->erase(addresses[obj]);
    map->insert(addresses[obj], p);
  }
};

}  // namespace mtreplay::replay
