#include "mtreplay/results/svg_chart.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

namespace mtreplay::results {

namespace {

constexpr double kWidth = 560, kHeight = 300;
constexpr double kLeft = 78, kRight = 30, kTop = 48, kBottom = 64;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

// Series colours for multi-series bars (percentiles): light to dark.
constexpr const char* kSeriesColors[] = {"#9ecae1", "#4292c6", "#08519c", "#08306b", "#252525"};

// 1, 2 or 5 times a power of ten, at least x.
double nice_step(double x) {
  if (!(x > 0)) return 1;
  double p = std::pow(10.0, std::floor(std::log10(x)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= x) return m * p;
  return 10 * p;
}

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;
  double to_unit(double v) const {  // 0 at lo, 1 at hi
    if (log) {
      v = std::max(v, lo);
      return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    }
    return (v - lo) / (hi - lo);
  }
};

// Byte axes step in binary units (1, 2 or 5 MiB rather than 1.9 MiB).
Axis linear_axis(double max, Unit unit) {
  Axis a;
  double scale = 1;
  if (unit == Unit::kBytes)
    while (scale * 1024 <= max / 2) scale *= 1024;
  double step = nice_step(max > 0 ? max / 5 / scale : 1) * scale;
  a.hi = std::max(step, std::ceil(max / step) * step);
  for (double t = 0; t <= a.hi * (1 + 1e-9); t += step) a.ticks.push_back(t);
  return a;
}

Axis log_axis(double min_positive, double max) {
  Axis a;
  a.log = true;
  a.lo = std::pow(10.0, std::floor(std::log10(std::max(min_positive, 1e-9))));
  a.hi = std::pow(10.0, std::ceil(std::log10(std::max(max, a.lo * 10))));
  if (a.hi <= a.lo) a.hi = a.lo * 10;
  for (double t = a.lo; t <= a.hi * (1 + 1e-9); t *= 10) a.ticks.push_back(t);
  return a;
}

std::string header(const std::string& id, const std::string& title) {
  return fmt::format(
      "<svg class=\"chart\" data-chart=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" "
      "viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\">\n"
      "<title>{}</title>\n<text class=\"chart-title\" x=\"{}\" y=\"20\">{}</text>\n",
      html_escape(id), kWidth, kHeight, kWidth, kHeight, html_escape(title), kLeft,
      html_escape(title));
}

std::string y_axis(const Axis& axis, Unit unit) {
  std::string out;
  for (double t : axis.ticks) {
    double y = kTop + kPlotH * (1 - axis.to_unit(t));
    out += fmt::format(
        "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/>"
        "<text class=\"tick\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        kLeft, kLeft + kPlotW, y, y, kLeft - 6, y + 4, html_escape(format_value(t, unit)));
  }
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>", kLeft,
                     kTop, kTop + kPlotH);
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\"/>\n", kLeft,
                     kLeft + kPlotW, kTop + kPlotH);
  return out;
}

std::string legend(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out;
  double x = kLeft + kPlotW;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    double w = 14 + 7.0 * static_cast<double>(it->first.size()) + 12;
    x -= w;
    out += fmt::format(
        "<g class=\"legend\"><rect x=\"{:.1f}\" y=\"28\" width=\"10\" height=\"10\" "
        "fill=\"{}\"/><text x=\"{:.1f}\" y=\"37\">{}</text></g>\n",
        x, it->second, x + 14, html_escape(it->first));
  }
  return out;
}

}  // namespace

std::string palette_color(size_t index) {
  static constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                             "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return kPalette[index % std::size(kPalette)];
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render(const BarChart& chart) {
  double max = 0, min_positive = 0;
  auto see = [&](double v) {
    if (!std::isfinite(v)) return;
    max = std::max(max, v);
    if (v > 0 && (min_positive == 0 || v < min_positive)) min_positive = v;
  };
  for (const auto& s : chart.series) {
    for (double v : s.values) see(v);
    for (const auto& [lo, hi] : s.whiskers) see(lo), see(hi);
  }
  Axis axis = chart.log_scale && min_positive > 0 ? log_axis(min_positive, max)
                                                  : linear_axis(max, chart.unit);

  std::string out = header(chart.id, chart.title);
  out += y_axis(axis, chart.unit);
  size_t ncat = std::max<size_t>(1, chart.categories.size());
  size_t nser = std::max<size_t>(1, chart.series.size());
  double group = kPlotW / static_cast<double>(ncat);
  double bar_w = group * 0.75 / static_cast<double>(nser);
  bool rotate = ncat > 8;
  for (size_t c = 0; c < chart.categories.size(); ++c) {
    double gx = kLeft + group * static_cast<double>(c) + group * 0.125;
    for (size_t s = 0; s < chart.series.size(); ++s) {
      const BarSeries& series = chart.series[s];
      if (c >= series.values.size() || !std::isfinite(series.values[c])) continue;
      double v = series.values[c];
      double top = kTop + kPlotH * (1 - std::clamp(axis.to_unit(v), 0.0, 1.0));
      double x = gx + bar_w * static_cast<double>(s);
      std::string color =
          c < series.colors.size() ? series.colors[c] : kSeriesColors[s % std::size(kSeriesColors)];
      std::string name =
          series.name.empty() ? chart.categories[c] : chart.categories[c] + " " + series.name;
      out += fmt::format(
          "<rect class=\"bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
          "fill=\"{}\"><title>{}: {}</title></rect>\n",
          x, top, std::max(1.0, bar_w - 1), std::max(0.5, kTop + kPlotH - top), color,
          html_escape(name), html_escape(format_value(v, chart.unit)));
      if (c < series.whiskers.size()) {
        auto [lo, hi] = series.whiskers[c];
        double y1 = kTop + kPlotH * (1 - std::clamp(axis.to_unit(lo), 0.0, 1.0));
        double y2 = kTop + kPlotH * (1 - std::clamp(axis.to_unit(hi), 0.0, 1.0));
        double cx = x + bar_w / 2;
        out += fmt::format(
            "<path class=\"whisker\" d=\"M{0:.1f} {1:.1f}V{2:.1f}M{3:.1f} {1:.1f}H{4:.1f}"
            "M{3:.1f} {2:.1f}H{4:.1f}\"><title>min {5}, max {6}</title></path>\n",
            cx, y1, y2, cx - bar_w / 4, cx + bar_w / 4, html_escape(format_value(lo, chart.unit)),
            html_escape(format_value(hi, chart.unit)));
      }
    }
    double lx = kLeft + group * (static_cast<double>(c) + 0.5);
    double ly = kTop + kPlotH + 16;
    if (rotate)
      out += fmt::format(
          "<text class=\"category\" x=\"{0:.1f}\" y=\"{1:.1f}\" text-anchor=\"end\" "
          "transform=\"rotate(-45 {0:.1f} {1:.1f})\">{2}</text>\n",
          lx, ly - 6, html_escape(chart.categories[c]));
    else
      out += fmt::format(
          "<text class=\"category\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
          lx, ly, html_escape(chart.categories[c]));
  }
  if (chart.series.size() > 1) {
    std::vector<std::pair<std::string, std::string>> entries;
    for (size_t s = 0; s < chart.series.size(); ++s)
      entries.emplace_back(chart.series[s].name, kSeriesColors[s % std::size(kSeriesColors)]);
    out += legend(entries);
  }
  return out + "</svg>\n";
}

std::string render(const LineChart& chart) {
  double max_x = 0, max_y = 0;
  for (const auto& s : chart.series)
    for (const auto& [x, y] : s.points) max_x = std::max(max_x, x), max_y = std::max(max_y, y);
  Axis xa = linear_axis(max_x, chart.x_unit), ya = linear_axis(max_y, chart.y_unit);

  std::string out = header(chart.id, chart.title);
  out += y_axis(ya, chart.y_unit);
  for (double t : xa.ticks) {
    double x = kLeft + kPlotW * xa.to_unit(t);
    out += fmt::format(
        "<text class=\"tick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", x,
        kTop + kPlotH + 16, html_escape(format_value(t, chart.x_unit)));
  }
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& s : chart.series) {
    if (s.points.empty()) continue;
    std::string d;
    for (const auto& [x, y] : s.points)
      d += fmt::format("{}{:.1f} {:.1f}", d.empty() ? "M" : "L", kLeft + kPlotW * xa.to_unit(x),
                       kTop + kPlotH * (1 - ya.to_unit(y)));
    out += fmt::format(
        "<path class=\"series\" d=\"{}\" stroke=\"{}\" fill=\"none\" stroke-width=\"2\">"
        "<title>{}</title></path>\n",
        d, s.color, html_escape(s.name));
    entries.emplace_back(s.name, s.color);
  }
  out += legend(entries);
  return out + "</svg>\n";
}

std::string render(const ScatterChart& chart) {
  double lo = 0, hi = 0;
  bool any = false;
  for (const auto& p : chart.points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    lo = any ? std::min({lo, p.x, p.y}) : std::min(p.x, p.y);
    hi = any ? std::max({hi, p.x, p.y}) : std::max(p.x, p.y);
    any = true;
  }
  // One range for both axes, a little wider than the data, on round steps.
  const double pad = std::max(hi - lo, std::abs(hi) * 0.05) * 0.08;
  lo -= pad;
  hi += pad;
  double step = nice_step(std::max(hi - lo, std::max(std::abs(hi), 1e-9) * 0.1) / 5);
  Axis axis;
  axis.lo = std::floor(lo / step) * step;
  axis.hi = std::ceil(hi / step) * step;
  if (axis.hi - axis.lo < step) axis.hi = axis.lo + step;
  for (double t = axis.lo; t <= axis.hi + step * 1e-9; t += step) axis.ticks.push_back(t);

  std::string out = header(chart.id, chart.title);
  out += y_axis(axis, chart.unit);
  auto px = [&](double v) { return kLeft + kPlotW * axis.to_unit(v); };
  auto py = [&](double v) { return kTop + kPlotH * (1 - axis.to_unit(v)); };
  for (double t : axis.ticks)
    out += fmt::format(
        "<text class=\"tick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", px(t),
        kTop + kPlotH + 16, html_escape(format_value(t, chart.unit)));
  out += fmt::format(
      "<text class=\"tick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
      kLeft + kPlotW / 2, kTop + kPlotH + 34, html_escape(chart.x_label));
  out += fmt::format(
      "<text class=\"tick\" x=\"14\" y=\"{0:.1f}\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 14 {0:.1f})\">{1}</text>\n",
      kTop + kPlotH / 2, html_escape(chart.y_label));
  out += fmt::format(
      "<path class=\"diagonal\" d=\"M{:.1f} {:.1f}L{:.1f} {:.1f}\" stroke=\"#999\" "
      "stroke-dasharray=\"4 3\" fill=\"none\"><title>replay = program</title></path>\n",
      px(axis.lo), py(axis.lo), px(axis.hi), py(axis.hi));
  for (const auto& p : chart.points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    out += fmt::format(
        "<circle class=\"point\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\">"
        "<title>{}: {} {}, {} {}</title></circle>"
        "<text class=\"category\" x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n",
        px(p.x), py(p.y), p.color, html_escape(p.label), html_escape(chart.x_label),
        html_escape(format_value(p.x, chart.unit)), html_escape(chart.y_label),
        html_escape(format_value(p.y, chart.unit)), px(p.x) + 8, py(p.y) - 6, html_escape(p.label));
  }
  return out + "</svg>\n";
}

}  // namespace mtreplay::results
