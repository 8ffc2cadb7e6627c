#include "mtreplay/results/stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <vector>

namespace mtreplay::results {

namespace {

std::vector<double> sorted(std::span<const double> values) {
  std::vector<double> v(values.begin(), values.end());
  std::sort(v.begin(), v.end());
  return v;
}

double quantile_sorted(const std::vector<double>& v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// Midranks (1-based) of the pooled sample, doubled so they are integers.
// Also returns sum over tie groups of t^3 - t, for the variance correction.
struct PooledRanks {
  std::vector<int64_t> doubled_rank;  // index: position in the pooled input
  double tie_term = 0;
};

PooledRanks pooled_ranks(std::span<const double> a, std::span<const double> b) {
  size_t n = a.size() + b.size();
  std::vector<double> pooled;
  pooled.reserve(n);
  pooled.insert(pooled.end(), a.begin(), a.end());
  pooled.insert(pooled.end(), b.begin(), b.end());
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return pooled[x] < pooled[y]; });
  PooledRanks out;
  out.doubled_rank.assign(n, 0);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && pooled[order[j + 1]] == pooled[order[i]]) ++j;
    // Ranks i+1 .. j+1 share their mean; doubled: (i+1) + (j+1).
    int64_t doubled = static_cast<int64_t>(i + j + 2);
    for (size_t k = i; k <= j; ++k) out.doubled_rank[order[k]] = doubled;
    double t = static_cast<double>(j - i + 1);
    out.tie_term += t * t * t - t;
    i = j + 1;
  }
  return out;
}

// Exact two-sided p: the share of all C(n, n1) ways to pick the first sample's ranks
// whose rank sum lies at least as far from its mean as the observed one. Counted by
// dynamic programming over (items taken, doubled rank sum); doubles hold the counts
// exactly (C(40, 20) ~ 1.4e11 < 2^53).
double exact_p(const std::vector<int64_t>& doubled_rank, size_t n1, int64_t observed_doubled) {
  size_t n = doubled_rank.size();
  int64_t max_sum = std::accumulate(doubled_rank.begin(), doubled_rank.end(), int64_t{0});
  std::vector<std::vector<double>> ways(n1 + 1, std::vector<double>(max_sum + 1, 0.0));
  ways[0][0] = 1;
  for (size_t i = 0; i < n; ++i) {
    int64_t r = doubled_rank[i];
    for (size_t k = std::min(n1, i + 1); k >= 1; --k)
      for (int64_t s = max_sum; s >= r; --s) ways[k][s] += ways[k - 1][s - r];
  }
  // The doubled rank sum of n1 items has mean n1 * (n + 1).
  int64_t mean = static_cast<int64_t>(n1 * (n + 1));
  int64_t observed_dev = std::llabs(observed_doubled - mean);
  double extreme = 0, total = 0;
  for (int64_t s = 0; s <= max_sum; ++s) {
    total += ways[n1][s];
    if (std::llabs(s - mean) >= observed_dev) extreme += ways[n1][s];
  }
  return std::min(1.0, extreme / total);
}

}  // namespace

double quantile(std::span<const double> values, double q) {
  return quantile_sorted(sorted(values), q);
}

double median(std::span<const double> values) {
  return quantile(values, 0.5);
}

double Spread::iqr_pct() const {
  return median == 0 ? 0 : 100.0 * (q3 - q1) / std::fabs(median);
}
double Spread::range_pct() const {
  return median == 0 ? 0 : 100.0 * (max - min) / std::fabs(median);
}

Spread spread_of(std::span<const double> values) {
  auto v = sorted(values);
  if (v.empty()) return {};
  return {v.front(), quantile_sorted(v, 0.25), quantile_sorted(v, 0.5), quantile_sorted(v, 0.75),
          v.back()};
}

MannWhitneyResult mann_whitney_u(std::span<const double> a, std::span<const double> b) {
  MannWhitneyResult out;
  if (a.empty() || b.empty()) return out;
  double n1 = static_cast<double>(a.size()), n2 = static_cast<double>(b.size());
  double n = n1 + n2;
  PooledRanks ranks = pooled_ranks(a, b);
  int64_t doubled_sum_a = 0;
  for (size_t i = 0; i < a.size(); ++i) doubled_sum_a += ranks.doubled_rank[i];
  double rank_sum_a = static_cast<double>(doubled_sum_a) / 2.0;
  out.u = rank_sum_a - n1 * (n1 + 1) / 2.0;

  if (a.size() + b.size() <= static_cast<size_t>(kExactLimit)) {
    out.exact = true;
    out.p_value = exact_p(ranks.doubled_rank, a.size(), doubled_sum_a);
    return out;
  }

  double mean_u = n1 * n2 / 2.0;
  double variance = n1 * n2 / 12.0 * ((n + 1) - ranks.tie_term / (n * (n - 1)));
  if (variance <= 0) return out;  // every value equal: no evidence of a difference
  double deviation = std::max(0.0, std::fabs(out.u - mean_u) - 0.5);  // continuity
  double z = deviation / std::sqrt(variance);
  out.p_value = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return out;
}

std::vector<double> average_ranks(std::span<const double> values) {
  const size_t n = values.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return values[x] < values[y]; });
  std::vector<double> ranks(n, 0);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && values[order[j + 1]] == values[order[i]]) ++j;
    const double mean = (static_cast<double>(i + 1) + static_cast<double>(j + 1)) / 2;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = mean;
    i = j + 1;
  }
  return ranks;
}

double spearman(std::span<const double> a, std::span<const double> b) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  if (a.size() != b.size() || a.size() < 2) return kNaN;
  const std::vector<double> ra = average_ranks(a), rb = average_ranks(b);
  const double mean = (static_cast<double>(a.size()) + 1) / 2;  // of ranks 1..n, ties or not
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) * (ra[i] - mean);
    sbb += (rb[i] - mean) * (rb[i] - mean);
  }
  if (saa == 0 || sbb == 0) return kNaN;
  return sab / std::sqrt(saa * sbb);
}

}  // namespace mtreplay::results
