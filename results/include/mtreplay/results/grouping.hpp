// Runs of the same configuration, gathered: same trace (by content hash), allocator
// and mode. Warm-up runs are left out; failed and crashed runs are kept apart.
#pragma once

#include <compare>
#include <string>
#include <vector>

#include "mtreplay/results/schema.hpp"

namespace mtreplay::results {

struct GroupKey {
  std::string trace_hash, allocator, mode;
  auto operator<=>(const GroupKey&) const = default;
};

struct RunGroup {
  GroupKey key;
  std::string trace_name;
  const Run* first = nullptr;       // any run of the group, for identity fields
  std::vector<size_t> ok_runs;      // indices into ResultFile::runs
  std::vector<size_t> failed_runs;  // status failed or crashed
};

// In order of first appearance in the file, which is the order compare ran them.
std::vector<RunGroup> group_runs(const ResultFile& file);

// Values of one metric over a group's successful runs; `missing` receives the index
// of every successful run that lacks it.
template <typename Read>
std::vector<double> metric_values(const ResultFile& file, const RunGroup& g, Read&& read,
                                  std::vector<size_t>* missing = nullptr) {
  std::vector<double> out;
  for (size_t i : g.ok_runs) {
    auto v = read(file.runs[i]);
    if (v)
      out.push_back(*v);
    else if (missing)
      missing->push_back(i);
  }
  return out;
}

}  // namespace mtreplay::results
