#include "mtreplay/results/merge.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace mtreplay::results {

namespace {

std::string describe(const Environment& e) {
  return fmt::format("{}, {} cores, kernel {}, libc {}, mtreplay {} ({})", e.cpu, e.cores, e.kernel,
                     e.libc, e.mtreplay_version, e.mtreplay_revision);
}

bool same(const Environment& a, const Environment& b) {
  return std::tie(a.cpu, a.cores, a.kernel, a.libc, a.mtreplay_version, a.mtreplay_revision) ==
         std::tie(b.cpu, b.cores, b.kernel, b.libc, b.mtreplay_version, b.mtreplay_revision);
}

}  // namespace

ResultFile merge_results(const std::vector<NamedResult>& inputs, bool force) {
  if (inputs.empty()) throw MergeError("no result file to merge");
  ResultFile out = inputs.front().file;
  out.runs.clear();
  out.trace_profiles.clear();
  std::map<std::string, std::pair<std::string, std::string>> hash_of_name;  // -> hash, origin
  std::set<std::tuple<std::string, std::string, std::string, int, bool>> seen;
  std::set<std::string> profiled;
  std::map<std::string, size_t> trace_order;
  for (const NamedResult& in : inputs) {
    if (!force && !same(in.file.environment, out.environment))
      throw MergeError(fmt::format(
          "{} was made in another environment than {} ({} vs {}); --force merges anyway", in.origin,
          inputs.front().origin, describe(in.file.environment), describe(out.environment)));
    for (const Run& r : in.file.runs) {
      auto [it, fresh] = hash_of_name.try_emplace(r.trace.name, r.trace.content_hash, in.origin);
      if (!fresh && it->second.first != r.trace.content_hash && !force)
        throw MergeError(fmt::format(
            "trace {} differs between {} ({}) and {} ({}); --force merges anyway", r.trace.name,
            it->second.second, it->second.first, in.origin, r.trace.content_hash));
      auto key =
          std::make_tuple(r.trace.content_hash, r.allocator.name, r.mode, r.repeat, r.warmup);
      const bool repeated = !seen.insert(key).second;
      if (repeated && r.warmup) continue;  // every shard warms up: one copy is kept
      if (repeated && !force)
        throw MergeError(fmt::format(
            "{} repeats a run of {} with {} ({} {}) that an earlier file holds; --force merges "
            "anyway",
            in.origin, r.trace.name, r.allocator.name, r.warmup ? "warm-up" : "repeat", r.repeat));
      trace_order.try_emplace(r.trace.content_hash, trace_order.size());
      out.runs.push_back(r);
    }
    for (const TraceProfile& p : in.file.trace_profiles)
      if (profiled.insert(p.content_hash).second) out.trace_profiles.push_back(p);
    if (in.file.created > out.created) out.created = in.file.created;
  }
  std::stable_sort(out.runs.begin(), out.runs.end(), [&](const Run& a, const Run& b) {
    return std::make_tuple(trace_order[a.trace.content_hash], !a.warmup, a.repeat) <
           std::make_tuple(trace_order[b.trace.content_hash], !b.warmup, b.repeat);
  });
  return out;
}

}  // namespace mtreplay::results
