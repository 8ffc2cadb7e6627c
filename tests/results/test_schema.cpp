#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "crafted.hpp"
#include "mtreplay/results/schema_io.hpp"

namespace mr = mtreplay::results;
using mr::testing::make_file;
using mr::testing::make_run;
using nlohmann::json;

namespace {

std::string error_of(const json& doc) {
  try {
    mr::parse_result(doc, "x.json");
  } catch (const mr::SchemaError& e) {
    return e.what();
  }
  return "(no error)";
}

json minimal_run() {
  return {{"trace", {{"name", "t"}, {"content_hash", "fnv1a64:1"}}},
          {"allocator", {{"name", "glibc"}}},
          {"wall_ns", 5}};
}

json minimal_file() {
  return {{"schema", "mtreplay-result"}, {"schema_version", 1}, {"runs", {minimal_run()}}};
}

}  // namespace

TEST(Schema, RoundTripKeepsEveryField) {
  mr::ResultFile f = make_file({{make_run({}), make_run({.crashed = true})}});
  f.trace_profiles.push_back({"fnv1a64:00000000000000aa", "python3", {{"1-16 B", 4}}, {}});
  mr::ResultFile back = mr::parse_result(mr::to_json(f), "mem");
  ASSERT_EQ(back.runs.size(), 2u);
  EXPECT_EQ(back.runs[0].wall_ns, f.runs[0].wall_ns);
  EXPECT_EQ(back.runs[0].latency_ns.at("malloc").p99, 200u);
  EXPECT_EQ(back.runs[0].rss_timeline, f.runs[0].rss_timeline);
  EXPECT_DOUBLE_EQ(*back.runs[0].fragmentation, 1.25);
  EXPECT_EQ(back.runs[0].page_faults, 800u);
  EXPECT_FALSE(back.runs[1].page_faults.has_value());  // none recorded: absent, not 0
  EXPECT_EQ(back.runs[1].status, mr::RunStatus::kCrashed);
  EXPECT_FALSE(back.runs[1].wall_ns.has_value());
  EXPECT_EQ(back.environment.cpu, "Test CPU");
  ASSERT_EQ(back.trace_profiles.size(), 1u);
  EXPECT_EQ(back.trace_profiles[0].size_histogram[0].count, 4u);
  EXPECT_EQ(mr::to_json(back), mr::to_json(f));
}

TEST(Schema, UnknownFieldsSurviveARewrite) {
  json doc = minimal_file();
  doc["runs"][0]["from_the_future"] = {{"x", 1}};
  mr::ResultFile f = mr::parse_result(doc, "x.json");
  f.runs[0].repeat = 3;
  json out = mr::to_json(f);
  EXPECT_EQ(out["runs"][0]["from_the_future"]["x"], 1);
  EXPECT_EQ(out["runs"][0]["repeat"], 3);
}

TEST(Schema, ErrorsNameTheFileAndTheField) {
  json doc = minimal_file();
  doc["runs"][0]["wall_ns"] = "fast";
  EXPECT_EQ(error_of(doc), "x.json: runs/0/wall_ns: expected an unsigned integer");
  doc = minimal_file();
  doc["runs"][0]["trace"].erase("content_hash");
  EXPECT_EQ(error_of(doc), "x.json: runs/0/trace/content_hash: missing");
  doc = minimal_file();
  doc["runs"][0]["status"] = "exploded";
  EXPECT_EQ(error_of(doc),
            "x.json: runs/0/status: unknown status 'exploded' (ok, failed or crashed)");
  doc = minimal_file();
  doc["runs"][0]["rss_timeline"] = {{1, 2}, {3}};
  EXPECT_EQ(error_of(doc), "x.json: runs/0/rss_timeline/1: expected [ns, bytes]");
  doc = minimal_file();
  doc.erase("runs");
  EXPECT_EQ(error_of(doc), "x.json: runs: missing");
}

TEST(Schema, RejectsOtherSchemasAndVersions) {
  json doc = minimal_file();
  doc["schema"] = "something-else";
  EXPECT_EQ(error_of(doc), "x.json: schema: is 'something-else', expected 'mtreplay-result'");
  doc = minimal_file();
  doc["schema_version"] = 2;
  EXPECT_EQ(error_of(doc), "x.json: schema_version: is 2, this mtreplay reads version 1");
  EXPECT_EQ(error_of(json::array()), "x.json: expected an object");
}

TEST(Schema, ReadFileReportsUnreadableAndNonJson) {
  auto dir = std::filesystem::temp_directory_path() / "mtreplay_schema_test";
  std::filesystem::create_directories(dir);
  auto bad = dir / "bad.json";
  std::ofstream(bad) << "{\"schema\": ";
  try {
    mr::read_result_file(bad);
    FAIL();
  } catch (const mr::SchemaError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: not JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(mr::read_result_file(dir / "absent.json"), mr::SchemaError);

  auto good = dir / "good.json";
  mr::write_result_file(make_file({{make_run({})}}), good);
  EXPECT_EQ(mr::read_result_file(good).runs.size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(dir / "good.json.tmp"));
  std::filesystem::remove_all(dir);
}
