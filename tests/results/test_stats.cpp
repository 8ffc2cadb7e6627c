#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "mtreplay/results/stats.hpp"

namespace mr = mtreplay::results;

TEST(Quantile, InterpolatesLikeType7) {
  std::vector<double> v = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(mr::median(v), 2.5);
  EXPECT_DOUBLE_EQ(mr::quantile(v, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(mr::quantile(v, 0.0), 1);
  EXPECT_DOUBLE_EQ(mr::quantile(v, 1.0), 4);
  EXPECT_TRUE(std::isnan(mr::median(std::vector<double>{})));
}

TEST(Spread, RelativeToMedian) {
  std::vector<double> v = {90, 95, 100, 105, 110};
  mr::Spread s = mr::spread_of(v);
  EXPECT_DOUBLE_EQ(s.median, 100);
  EXPECT_DOUBLE_EQ(s.iqr_pct(), 10);
  EXPECT_DOUBLE_EQ(s.range_pct(), 20);
  EXPECT_DOUBLE_EQ(mr::spread_of(std::vector<double>{0, 0}).iqr_pct(), 0);
}

TEST(MannWhitney, CompleteSeparationExact) {
  std::vector<double> a = {1, 2, 3, 4, 5}, b = {6, 7, 8, 9, 10};
  auto r = mr::mann_whitney_u(a, b);
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 0);
  EXPECT_NEAR(r.p_value, 2.0 / 252.0, 1e-12);  // 2 of C(10,5) arrangements
  EXPECT_DOUBLE_EQ(mr::mann_whitney_u(b, a).u, 25);
  EXPECT_NEAR(mr::mann_whitney_u(b, a).p_value, 2.0 / 252.0, 1e-12);
}

TEST(MannWhitney, ThreeAgainstThreeCannotReachFivePercent) {
  std::vector<double> a = {1, 2, 3}, b = {4, 5, 6};
  EXPECT_NEAR(mr::mann_whitney_u(a, b).p_value, 0.1, 1e-12);
}

TEST(MannWhitney, IdenticalSamplesGiveOne) {
  std::vector<double> a = {7, 7, 7}, b = {7, 7, 7, 7};
  EXPECT_DOUBLE_EQ(mr::mann_whitney_u(a, b).p_value, 1.0);
  EXPECT_DOUBLE_EQ(mr::mann_whitney_u(a, std::vector<double>{}).p_value, 1.0);
}

// Brute force over every split of the pooled sample: an independent check of the
// dynamic programme, ties included.
double brute_force_p(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> pool(a);
  pool.insert(pool.end(), b.begin(), b.end());
  size_t n = pool.size();
  auto midrank = [&](double x) {
    double below = 0, equal = 0;
    for (double y : pool) {
      below += y < x;
      equal += y == x;
    }
    return below + (equal + 1) / 2;
  };
  double mean = a.size() * (n + 1) / 2.0;
  double observed = 0;
  for (double x : a) observed += midrank(x);
  size_t extreme = 0, total = 0;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (static_cast<size_t>(__builtin_popcount(mask)) != a.size()) continue;
    double sum = 0;
    for (size_t i = 0; i < n; ++i)
      if (mask & (1u << i)) sum += midrank(pool[i]);
    ++total;
    extreme += std::fabs(sum - mean) >= std::fabs(observed - mean) - 1e-9;
  }
  return static_cast<double>(extreme) / static_cast<double>(total);
}

TEST(MannWhitney, ExactWithTiesMatchesBruteForce) {
  std::vector<std::pair<std::vector<double>, std::vector<double>>> cases = {
      {{1, 1, 2, 3}, {2, 3, 3, 4, 4}},
      {{5, 5, 5, 6}, {5, 6, 7, 7}},
      {{10, 12, 12, 13, 15, 15}, {12, 14, 15, 16, 16, 18}},
      {{1, 2, 2}, {2, 2, 3, 3, 3, 4}},
  };
  for (const auto& [a, b] : cases) {
    auto r = mr::mann_whitney_u(a, b);
    EXPECT_TRUE(r.exact);
    EXPECT_NEAR(r.p_value, brute_force_p(a, b), 1e-12);
  }
}

TEST(MannWhitney, NormalApproximationForLargeSamples) {
  std::vector<double> a, b;
  for (int i = 1; i <= 21; ++i) a.push_back(i);
  for (int i = 22; i <= 42; ++i) b.push_back(i);
  auto r = mr::mann_whitney_u(a, b);
  EXPECT_FALSE(r.exact);
  EXPECT_NEAR(r.p_value, 3.125399998400882e-08, 1e-12);  // R: wilcox.test(exact=FALSE)
}

TEST(MannWhitney, NormalApproximationCorrectsForTies) {
  std::vector<double> a(10, 1.0), b(5, 1.0);
  a.insert(a.end(), 11, 2.0);
  b.insert(b.end(), 16, 3.0);
  auto r = mr::mann_whitney_u(a, b);
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 80);
  EXPECT_NEAR(r.p_value, 0.000176380592244499, 1e-12);
}

TEST(Spearman, AverageRanksShareTies) {
  std::vector<double> v = {30, 10, 20, 20};
  auto r = mr::average_ranks(v);
  EXPECT_EQ(r, (std::vector<double>{4, 1, 2.5, 2.5}));
}

TEST(Spearman, MonotoneAndReversed) {
  std::vector<double> a = {1, 2, 3, 4, 5}, b = {10, 40, 90, 160, 250}, c = {5, 4, 3, 2, 1};
  EXPECT_DOUBLE_EQ(mr::spearman(a, b), 1.0);  // any increasing map: 1
  EXPECT_DOUBLE_EQ(mr::spearman(a, c), -1.0);
}

TEST(Spearman, TiesUseAverageRanks) {
  // Ranks a: 1 2 3 4 5, b: 1 2.5 2.5 4 5. Pearson of the ranks:
  // sum (ra-3)(rb-3) = 4 + 0.5 + 0 + 1 + 4 = 9.5; sum (ra-3)^2 = 10; sum (rb-3)^2 = 9.5.
  std::vector<double> a = {1, 2, 3, 4, 5}, b = {1, 7, 7, 8, 9};
  EXPECT_NEAR(mr::spearman(a, b), 9.5 / std::sqrt(10 * 9.5), 1e-12);
  // The textbook 1 - 6 sum d^2 / (n (n^2 - 1)) differs with ties: 1 - 6*0.5/120 = 0.975.
  EXPECT_NE(mr::spearman(a, b), 0.975);
  // A known case: x = {1,2,3,4,5,6}, y = {2,1,4,3,6,5}: d^2 sum 6, rho = 1 - 36/210.
  std::vector<double> x = {1, 2, 3, 4, 5, 6}, y = {2, 1, 4, 3, 6, 5};
  EXPECT_NEAR(mr::spearman(x, y), 1 - 36.0 / 210.0, 1e-12);
}

TEST(Spearman, UndefinedCasesAreNaN) {
  std::vector<double> one = {1}, two = {1, 2}, flat = {3, 3}, three = {1, 2, 3};
  EXPECT_TRUE(std::isnan(mr::spearman(one, one)));
  EXPECT_TRUE(std::isnan(mr::spearman(two, flat)));
  EXPECT_TRUE(std::isnan(mr::spearman(two, three)));
  EXPECT_DOUBLE_EQ(mr::spearman(two, two), 1.0);
}
