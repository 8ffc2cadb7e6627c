// The verdict between a baseline result file and a candidate: per trace, allocator
// and metric, the medians, the change, a Mann-Whitney U p-value and a verdict.
//
// A metric regressed when all three hold: the change is significant (p < alpha), it is
// worse by more than the threshold, and by more than the noise of the configuration
// (the larger relative IQR of the two sides' repeats). Improved is the mirror image.
// A candidate run that failed or crashed where the baseline's did not is a regression.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "mtreplay/results/grouping.hpp"
#include "mtreplay/results/metrics.hpp"
#include "mtreplay/results/schema.hpp"

namespace mtreplay::results {

// The two files cannot be compared (different schema versions, no trace in common,
// a metric missing). One line; the CLI exits with kExitBadInput.
class DiffInputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Verdict { kUnchanged, kImproved, kRegressed };
std::string_view verdict_name(Verdict v);

struct DiffOptions {
  double threshold_pct = 5.0;  // a change smaller than this is never a verdict
  double alpha = 0.05;         // significance level of the Mann-Whitney U test
  // A latency kind is judged only when every run sampled it at least this often: the
  // p99 of a few dozen samples is one outlier.
  uint64_t min_latency_samples = 1000;
  // When set: every other allocator's metrics are judged as ratios to this allocator's
  // run of the same round (compare interleaves rounds, so both ran minutes apart at
  // most). Drift of the machine between the baseline and the candidate cancels out;
  // the reference allocator itself is not judged, only its failures are.
  std::string normalize_to;
};

struct MetricDiff {
  std::string metric;  // Metric::id
  std::string label;
  Unit unit = Unit::kNanoseconds;
  size_t base_n = 0, cand_n = 0;
  double base_median = 0, cand_median = 0;
  double change_pct = 0;  // (cand - base) / base; +inf when base is 0 and cand is not
  double p_value = 1;
  bool exact = false;
  double noise_pct = 0;
  Verdict verdict = Verdict::kUnchanged;
};

struct GroupDiff {
  GroupKey key;
  std::string trace_name;
  std::vector<MetricDiff> metrics;
  size_t base_failed = 0, cand_failed = 0;
  std::string cand_error;                        // first error line of a failed candidate run
  Verdict status_verdict = Verdict::kUnchanged;  // from failures alone
  Verdict overall() const;  // regressed if anything regressed, else improved if anything did
};

struct DiffReport {
  std::vector<GroupDiff> groups;
  std::vector<std::string> notes;  // things the user should know (skipped metrics, ...)
  size_t count(Verdict v) const;   // over metrics and failure verdicts
  bool regressed() const { return count(Verdict::kRegressed) > 0; }
};

// base_name / cand_name name the inputs in messages. Throws DiffInputError.
DiffReport diff_results(const ResultFile& base, const ResultFile& cand, const DiffOptions& opts,
                        std::string_view base_name, std::string_view cand_name);

}  // namespace mtreplay::results
