#include "mtreplay/results/grouping.hpp"

#include <map>

namespace mtreplay::results {

std::vector<RunGroup> group_runs(const ResultFile& file) {
  std::vector<RunGroup> groups;
  std::map<GroupKey, size_t> where;
  for (size_t i = 0; i < file.runs.size(); ++i) {
    const Run& r = file.runs[i];
    if (r.warmup) continue;
    GroupKey key{r.trace.content_hash, r.allocator.name, r.mode};
    auto [it, inserted] = where.try_emplace(key, groups.size());
    if (inserted) groups.push_back({key, r.trace.name, &r, {}, {}});
    RunGroup& g = groups[it->second];
    (r.ok() ? g.ok_runs : g.failed_runs).push_back(i);
  }
  return groups;
}

}  // namespace mtreplay::results
