// Descriptive statistics of a handful of repeats, and the Mann-Whitney U test that
// diff uses to decide whether two sets of repeats differ. Repeats are few (3..30) and
// machine noise is not normal, hence medians, quartiles and a rank test.
#pragma once

#include <span>
#include <vector>

namespace mtreplay::results {

// Linear interpolation between order statistics (Hyndman-Fan type 7, as R and numpy
// default). q in [0, 1]. The input need not be sorted. Empty input -> NaN.
double quantile(std::span<const double> values, double q);
double median(std::span<const double> values);

struct Spread {
  double min = 0, q1 = 0, median = 0, q3 = 0, max = 0;
  // Relative to the median, in percent; 0 when the median is 0.
  double iqr_pct() const;
  double range_pct() const;
};
Spread spread_of(std::span<const double> values);

struct MannWhitneyResult {
  double u = 0;        // U statistic of the first sample: pairs (a, b) with a > b, ties half
  double p_value = 1;  // two-sided
  bool exact = false;  // exact permutation distribution (else normal approximation)
};

// Two-sided Mann-Whitney U test. Small samples (n1 + n2 <= kExactLimit) use the exact
// permutation distribution of the midrank sum, which stays exact with ties; larger
// ones the normal approximation with tie and continuity correction. Either sample
// empty -> p = 1. Note the floor this puts on p: with 3 repeats against 3 the smallest
// possible p is 0.1, with 4 against 4 it is 0.029, with 5 against 5 0.0079.
inline constexpr int kExactLimit = 40;
MannWhitneyResult mann_whitney_u(std::span<const double> a, std::span<const double> b);

// Ranks 1..n in input order; tied values share the mean of the ranks they span
// (average ranks: {10, 20, 20, 30} -> {1, 2.5, 2.5, 4}).
std::vector<double> average_ranks(std::span<const double> values);

// Spearman's rank correlation of paired samples: Pearson's correlation of their
// average ranks, so ties are handled exactly. NaN when the sizes differ, there are
// fewer than 2 pairs, or one side is all ties (no ordering to agree with).
double spearman(std::span<const double> a, std::span<const double> b);

}  // namespace mtreplay::results
