// The plan cache's bound: a plan image takes about 48 bytes an op, so a few large
// traces would otherwise fill a disk. Entries are kept while they fit in a limit and
// the least recently used go first; a cache hit marks its entry used.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtreplay::replay {

inline constexpr uint64_t kDefaultPlanCacheLimit = uint64_t{4} << 30;
inline constexpr const char* kPlanCacheLimitVariable = "MTREPLAY_PLAN_CACHE_LIMIT";

// "123", "512K", "800M", "4G", "1T" (powers of 1024) or "none" (UINT64_MAX); nullopt
// for anything else.
std::optional<uint64_t> parse_cache_limit(std::string_view text);

// The limit MTREPLAY_PLAN_CACHE_LIMIT sets, else kDefaultPlanCacheLimit; `problem` says
// what was wrong with a value that could not be read (the default is used then).
uint64_t plan_cache_limit(std::string& problem);

// Marks an entry used now (its access time; its contents and modification time stay).
void mark_plan_used(int fd);

struct Eviction {
  std::vector<std::filesystem::path> removed;
  uint64_t removed_bytes = 0;
};

// Removes `*.plan` entries of `dir`, the least recently used first, until the others
// fit in `limit` bytes, never `keep` (the entry just stored); and temporary files that
// a writer left behind more than an hour ago. Files another process removes meanwhile,
// or maps, are no trouble: a mapping outlives its file.
Eviction evict_plan_cache(const std::filesystem::path& dir, uint64_t limit,
                          const std::filesystem::path& keep);

}  // namespace mtreplay::replay
