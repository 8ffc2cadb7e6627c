// Inline SVG charts for the HTML report: grouped bar charts (with optional min-max
// whiskers and a log scale) and line charts. Self-contained markup, no script. Every
// bar is a <rect class="bar">, every line a <path class="series">, each with a
// <title> tooltip, so a test (or a user's devtools) can count what is drawn.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mtreplay/results/metrics.hpp"

namespace mtreplay::results {

struct BarSeries {
  std::string name;                                 // legend entry ("p99"); empty: no legend
  std::vector<double> values;                       // one per category; NaN: no bar
  std::vector<std::pair<double, double>> whiskers;  // optional (min, max) per category
  std::vector<std::string> colors;  // optional per-category colour (overrides series)
};

struct BarChart {
  std::string id;  // data-chart attribute
  std::string title;
  Unit unit = Unit::kNanoseconds;
  bool log_scale = false;
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
};

struct LineSeries {
  std::string name;
  std::string color;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

struct LineChart {
  std::string id;
  std::string title;
  Unit x_unit = Unit::kNanoseconds, y_unit = Unit::kBytes;
  std::vector<LineSeries> series;
};

// Points (x, y) on equal axes around the data, with the diagonal y = x drawn: how
// far a prediction (y) is from what it predicts (x). Every point is a
// <circle class="point"> with a <title>, labelled beside it.
struct ScatterPoint {
  std::string label;
  std::string color;
  double x = 0, y = 0;
};

struct ScatterChart {
  std::string id;
  std::string title;
  std::string x_label, y_label;
  Unit unit = Unit::kRatio;
  std::vector<ScatterPoint> points;  // NaN coordinates are left out
};

std::string render(const BarChart& chart);
std::string render(const ScatterChart& chart);
std::string render(const LineChart& chart);

// A stable colour per index (allocators keep theirs across all charts).
std::string palette_color(size_t index);
std::string html_escape(std::string_view text);

}  // namespace mtreplay::results
