// The HTML report rendered by headless Chromium: the DOM after layout must hold the
// bars and lines each chart is meant to draw, and the screenshot must not be blank.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "crafted.hpp"
#include "mtreplay/results/html_report.hpp"
#include "mtreplay/results/summary.hpp"
#include "run_command.hpp"

namespace mr = mtreplay::results;
using mr::testing::make_file;
using mr::testing::make_run;
using mr::testing::make_runs;
using mr::testing::run_command;
using mr::testing::TempDir;

namespace {

const char* kChromium = "/usr/bin/chromium";

std::string chromium(const TempDir& dir, const std::string& args) {
  return "timeout 120 " + std::string(kChromium) +
         " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
         " --disable-background-networking --disable-component-update --disable-sync"
         " --user-data-dir='" +
         (dir / "profile").string() + "' " + args;
}

mr::ResultFile report_input() {
  const mr::testing::RunSpec py{}, gcc{.trace = "gcc", .hash = "fnv1a64:00000000000000bb"};
  auto with = [](mr::testing::RunSpec s, const char* alloc) {
    s.allocator = alloc;
    return s;
  };
  auto file = make_file({make_runs(with(py, "glibc"), {100, 102, 98, 101, 99}),
                         make_runs(with(py, "jemalloc"), {90, 91, 89, 92, 90}),
                         make_runs(with(py, "mimalloc"), {95, 96, 94, 93, 97}),
                         make_runs(with(gcc, "glibc"), {300, 302, 301, 299, 305}),
                         make_runs(with(gcc, "jemalloc"), {280, 281, 282, 279, 283})});
  // A backend that crashed in every run: in the table, not in the charts.
  for (int i = 0; i < 5; ++i)
    file.runs.push_back(make_run({.trace = "gcc",
                                  .hash = "fnv1a64:00000000000000bb",
                                  .allocator = "scudo",
                                  .crashed = true,
                                  .repeat = i}));
  file.trace_profiles.push_back({"fnv1a64:00000000000000aa",
                                 "python3",
                                 {{"<= 16 B", 10}, {"<= 32 B", 400}, {"<= 64 B", 90}},
                                 {{"<1us", 300}, {"<10us", 150}, {"never freed", 50}}});
  return file;
}

}  // namespace

TEST(HtmlReport, IsSelfContained) {
  auto file = report_input();
  std::string html = mr::html_report(file, mr::summarize(file, "glibc"));
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // only the xmlns
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_NE(html.find("FAILED: crashed in 5 of 5 runs"), std::string::npos);
}

TEST(HtmlReport, ChromiumDrawsEveryChart) {
  if (!std::filesystem::exists(kChromium)) GTEST_SKIP() << "no " << kChromium;
  TempDir dir("mtreplay_html_test");
  auto file = report_input();
  auto page = dir / "report.html";
  std::ofstream(page) << mr::html_report(file, mr::summarize(file, "glibc"));

  auto dom = run_command(chromium(dir, "--dump-dom 'file://" + page.string() + "'"), dir.path());
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom.out, m, std::regex("data-rendered=\"([^\"]*)\"")))
      << "the inline check did not run";
  std::string json = std::regex_replace(m[1].str(), std::regex("&quot;"), "\"");
  auto drawn = nlohmann::json::parse(json);

  auto bars = [&](const std::string& chart) { return drawn.at(chart).at("bars").get<int>(); };
  auto lines = [&](const std::string& chart) { return drawn.at(chart).at("lines").get<int>(); };
  EXPECT_EQ(bars("python3-wall_ns"), 3);
  EXPECT_EQ(bars("python3-peak_rss_delta_bytes"), 3);
  EXPECT_EQ(bars("python3-latency-malloc"), 3 * 4);  // p50, p90, p99, p999 each
  EXPECT_EQ(bars("python3-latency-free"), 3 * 4);
  EXPECT_EQ(lines("python3-rss-timeline"), 3);
  EXPECT_EQ(bars("python3-sizes"), 3);
  EXPECT_EQ(bars("python3-lifetimes"), 3);
  EXPECT_EQ(bars("gcc-wall_ns"), 2);  // scudo crashed: no bar
  EXPECT_EQ(lines("gcc-rss-timeline"), 2);
  EXPECT_FALSE(drawn.contains("gcc-sizes"));  // no profile for gcc in the file
  EXPECT_EQ(drawn.size(), 12u);

  // A screenshot of the report against one of an empty page of the same size: PNG
  // compresses a blank page to almost nothing.
  auto blank = dir / "blank.html";
  std::ofstream(blank) << "<!DOCTYPE html><html><body></body></html>";
  auto shot = dir / "report.png", blank_shot = dir / "blank.png";
  for (auto [html, png] : {std::pair{page, shot}, std::pair{blank, blank_shot}}) {
    auto r = run_command(chromium(dir, "--window-size=1200,1600 --screenshot='" + png.string() +
                                           "' 'file://" + html.string() + "'"),
                         dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ASSERT_TRUE(std::filesystem::exists(shot));
  EXPECT_GT(std::filesystem::file_size(shot), 10 * std::filesystem::file_size(blank_shot));
}
