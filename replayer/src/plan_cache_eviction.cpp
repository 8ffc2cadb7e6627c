#include "mtreplay/replay/plan_cache_eviction.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <ctime>

namespace mtreplay::replay {

namespace fs = std::filesystem;

std::optional<uint64_t> parse_cache_limit(std::string_view text) {
  if (text == "none") return UINT64_MAX;
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end == text.data()) return std::nullopt;
  std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  int shift = 0;
  if (unit.size() == 1) {
    switch (std::toupper(static_cast<unsigned char>(unit[0]))) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'T':
        shift = 40;
        break;
      default:
        return std::nullopt;
    }
  } else if (!unit.empty()) {
    return std::nullopt;
  }
  if (shift && value > (UINT64_MAX >> shift)) return UINT64_MAX;
  return value << shift;
}

uint64_t plan_cache_limit(std::string& problem) {
  const char* text = std::getenv(kPlanCacheLimitVariable);
  if (!text || !*text) return kDefaultPlanCacheLimit;
  if (auto limit = parse_cache_limit(text)) return *limit;
  problem =
      fmt::format("{}='{}' is not a size (such as 800M, 4G or none); keeping plans up to {} GiB",
                  kPlanCacheLimitVariable, text, kDefaultPlanCacheLimit >> 30);
  return kDefaultPlanCacheLimit;
}

void mark_plan_used(int fd) {
  const timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
  futimens(fd, times);  // a read-only cache only loses the order of its entries
}

Eviction evict_plan_cache(const fs::path& dir, uint64_t limit, const fs::path& keep) {
  struct Entry {
    fs::path path;
    uint64_t bytes;
    timespec used;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  const time_t now = std::time(nullptr);
  Eviction out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    // A writer's temporary file (".<entry>.XXXXXX"): its writer died if it is old.
    if (name.starts_with(".") && name.find(".plan.") != std::string::npos) {
      if (now - st.st_mtim.tv_sec > 3600 && ::unlink(path.c_str()) == 0) {
        out.removed.push_back(path);
        out.removed_bytes += static_cast<uint64_t>(st.st_size);
      }
      continue;
    }
    if (path.extension() != ".plan") continue;
    entries.push_back({path, static_cast<uint64_t>(st.st_size), st.st_atim});
    total += static_cast<uint64_t>(st.st_size);
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.used.tv_sec != b.used.tv_sec ? a.used.tv_sec < b.used.tv_sec
                                          : a.used.tv_nsec < b.used.tv_nsec;
  });
  for (const Entry& e : entries) {
    if (total <= limit) break;
    if (e.path == keep) continue;
    if (::unlink(e.path.c_str()) == 0) {
      out.removed.push_back(e.path);
      out.removed_bytes += e.bytes;
    }
    total -= e.bytes;  // gone either way: removed here, or by another process
  }
  return out;
}

}  // namespace mtreplay::replay
