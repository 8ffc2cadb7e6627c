#include "mtreplay/results/schema_io.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <fstream>
#include <system_error>

namespace mtreplay::results {

using nlohmann::json;

std::string_view status_name(RunStatus s) {
  switch (s) {
    case RunStatus::kOk:
      return "ok";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kCrashed:
      return "crashed";
  }
  return "?";
}

std::optional<uint64_t> Run::cpu_ns() const {
  if (!cpu_user_ns || !cpu_sys_ns) return std::nullopt;
  return *cpu_user_ns + *cpu_sys_ns;
}

namespace {

// A view of one JSON object that knows its path, so every error names the field.
class Fields {
 public:
  Fields(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {
    if (!obj_.is_object()) fail("", "expected an object");
  }

  [[noreturn]] void fail(std::string_view key, std::string_view what) const {
    std::string where = path_;
    if (!key.empty()) where += where.empty() ? std::string(key) : "/" + std::string(key);
    if (where.empty()) throw SchemaError(std::string(what));
    throw SchemaError(fmt::format("{}: {}", where, what));
  }

  const json* find(std::string_view key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  std::string sub_path(std::string_view key) const { return fmt::format("{}/{}", path_, key); }

  std::optional<uint64_t> opt_u64(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (v->is_number_unsigned()) return v->get<uint64_t>();
    if (v->is_number_integer() && v->get<int64_t>() >= 0) return v->get<uint64_t>();
    // Some writers emit integral doubles (e.g. 1.2e9); accept them when exact.
    if (v->is_number_float()) {
      double d = v->get<double>();
      if (d >= 0 && d == static_cast<double>(static_cast<uint64_t>(d)))
        return static_cast<uint64_t>(d);
    }
    fail(key, "expected an unsigned integer");
  }
  uint64_t u64(std::string_view key, uint64_t fallback) const {
    return opt_u64(key).value_or(fallback);
  }
  std::optional<double> opt_double(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) fail(key, "expected a number");
    return v->get<double>();
  }
  int64_t i64(std::string_view key, int64_t fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_number_integer()) fail(key, "expected an integer");
    return v->get<int64_t>();
  }
  bool boolean(std::string_view key, bool fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) fail(key, "expected true or false");
    return v->get<bool>();
  }
  std::string str(std::string_view key, std::string fallback = {}) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_string()) fail(key, "expected a string");
    return v->get<std::string>();
  }
  std::string required_str(std::string_view key) const {
    const json* v = find(key);
    if (!v) fail(key, "missing");
    if (!v->is_string() || v->get<std::string>().empty()) fail(key, "expected a non-empty string");
    return v->get<std::string>();
  }
  const json* object(std::string_view key, bool required) const {
    const json* v = find(key);
    if (!v) {
      if (required) fail(key, "missing");
      return nullptr;
    }
    if (!v->is_object()) fail(key, "expected an object");
    return v;
  }
  const json* array(std::string_view key) const {
    const json* v = find(key);
    if (!v) return nullptr;
    if (!v->is_array()) fail(key, "expected an array");
    return v;
  }

 private:
  const json& obj_;
  std::string path_;
};

std::map<std::string, uint64_t> u64_map(const Fields& parent, std::string_view key) {
  std::map<std::string, uint64_t> out;
  const json* obj = parent.object(key, false);
  if (!obj) return out;
  Fields f(*obj, parent.sub_path(key));
  for (const auto& [k, v] : obj->items()) out[k] = f.u64(k, 0);
  return out;
}

RunStatus parse_status(const Fields& f) {
  std::string s = f.str("status", "ok");
  if (s == "ok") return RunStatus::kOk;
  if (s == "failed") return RunStatus::kFailed;
  if (s == "crashed") return RunStatus::kCrashed;
  f.fail("status", fmt::format("unknown status '{}' (ok, failed or crashed)", s));
}

std::vector<HistogramBin> parse_bins(const Fields& f, std::string_view key) {
  std::vector<HistogramBin> bins;
  const json* arr = f.array(key);
  if (!arr) return bins;
  for (size_t i = 0; i < arr->size(); ++i) {
    Fields bin((*arr)[i], fmt::format("{}/{}", f.sub_path(key), i));
    bins.push_back({bin.required_str("label"), bin.u64("count", 0)});
  }
  return bins;
}

}  // namespace

Run parse_run(const json& obj, std::string_view where) {
  Fields f(obj, std::string(where));
  Run r;
  r.raw = obj;

  Fields t(*f.object("trace", true), f.sub_path("trace"));
  r.trace.name = t.required_str("name");
  r.trace.path = t.str("path");
  r.trace.content_hash = t.required_str("content_hash");
  r.trace.events = t.u64("events", 0);
  r.trace.threads = static_cast<uint32_t>(t.u64("threads", 0));
  r.trace.pid = static_cast<uint32_t>(t.u64("pid", 0));

  Fields a(*f.object("allocator", true), f.sub_path("allocator"));
  r.allocator.name = a.required_str("name");
  r.allocator.path = a.str("path");
  r.allocator.version = a.str("version");
  if (const json* em = a.array("emulated")) {
    for (size_t i = 0; i < em->size(); ++i) {
      if (!(*em)[i].is_string()) a.fail(fmt::format("emulated/{}", i), "expected a string");
      r.allocator.emulated.push_back((*em)[i].get<std::string>());
    }
  }

  r.mode = f.str("mode", "parallel");
  r.touch = f.str("touch", "none");
  r.verify = f.boolean("verify", false);
  r.repeat = static_cast<int>(f.i64("repeat", 0));
  r.warmup = f.boolean("warmup", false);
  r.status = parse_status(f);
  r.error = f.str("error");
  r.failed_at_op = f.i64("failed_at_op", -1);

  r.wall_ns = f.opt_u64("wall_ns");
  r.cpu_user_ns = f.opt_u64("cpu_user_ns");
  r.cpu_sys_ns = f.opt_u64("cpu_sys_ns");
  r.page_faults = f.opt_u64("page_faults");
  r.ops = f.opt_u64("ops");
  r.ops_per_sec = f.opt_double("ops_per_sec");
  r.ops_by_kind = u64_map(f, "ops_by_kind");
  if (const json* lat = f.object("latency_ns", false)) {
    for (const auto& [kind, v] : lat->items()) {
      Fields l(v, fmt::format("{}/latency_ns/{}", where, kind));
      r.latency_ns[kind] = {l.u64("samples", 0), l.u64("p50", 0),  l.u64("p90", 0),
                            l.u64("p99", 0),     l.u64("p999", 0), l.u64("max", 0)};
    }
  }
  r.baseline_rss_bytes = f.opt_u64("baseline_rss_bytes");
  r.peak_rss_bytes = f.opt_u64("peak_rss_bytes");
  r.peak_rss_delta_bytes = f.opt_u64("peak_rss_delta_bytes");
  if (const json* tl = f.array("rss_timeline")) {
    for (size_t i = 0; i < tl->size(); ++i) {
      const json& p = (*tl)[i];
      bool pair_ok = p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number() &&
                     p[0].get<double>() >= 0 && p[1].get<double>() >= 0;
      if (!pair_ok) f.fail(fmt::format("rss_timeline/{}", i), "expected [ns, bytes]");
      r.rss_timeline.emplace_back(p[0].get<uint64_t>(), p[1].get<uint64_t>());
    }
  }
  r.peak_live_bytes = f.opt_u64("peak_live_bytes");
  r.fragmentation = f.opt_double("fragmentation");
  r.sync_wait_ns = f.opt_u64("sync_wait_ns");
  r.anomalies = u64_map(f, "anomalies");
  return r;
}

ResultFile parse_result(const json& doc, std::string_view origin) {
  try {
    Fields top(doc, "");
    ResultFile file;
    file.schema = top.str("schema");
    if (file.schema != kSchemaName)
      top.fail("schema", fmt::format("is '{}', expected '{}'", file.schema, kSchemaName));
    const json* version = top.find("schema_version");
    if (!version || !version->is_number_integer()) top.fail("schema_version", "missing");
    file.schema_version = version->get<int>();
    if (file.schema_version < 1 || file.schema_version > kSchemaVersion)
      top.fail("schema_version", fmt::format("is {}, this mtreplay reads version {}",
                                             file.schema_version, kSchemaVersion));
    file.created = top.str("created");
    if (const json* env = top.object("environment", false)) {
      Fields e(*env, "environment");
      file.environment = {e.str("cpu"),
                          e.str("kernel"),
                          e.str("libc"),
                          e.str("mtreplay_version"),
                          e.str("mtreplay_revision"),
                          static_cast<int>(e.i64("cores", 0))};
    }
    const json* runs = top.array("runs");
    if (!runs) top.fail("runs", "missing");
    for (size_t i = 0; i < runs->size(); ++i)
      file.runs.push_back(parse_run((*runs)[i], fmt::format("runs/{}", i)));
    if (const json* profiles = top.array("trace_profiles")) {
      for (size_t i = 0; i < profiles->size(); ++i) {
        Fields p((*profiles)[i], fmt::format("trace_profiles/{}", i));
        file.trace_profiles.push_back({p.required_str("content_hash"), p.str("name"),
                                       parse_bins(p, "size_histogram"),
                                       parse_bins(p, "lifetime_histogram")});
      }
    }
    return file;
  } catch (const SchemaError& e) {
    throw SchemaError(fmt::format("{}: {}", origin, e.what()));
  }
}

ResultFile read_result_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw SchemaError(fmt::format("{}: cannot open", path.string()));
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::parse_error& e) {
    throw SchemaError(
        fmt::format("{}: not JSON (at byte {})", path.string(), static_cast<uint64_t>(e.byte)));
  }
  return parse_result(doc, path.string());
}

namespace {

template <typename T>
void put(json& out, const char* key, const std::optional<T>& v) {
  if (v) out[key] = *v;
}

json bins_to_json(const std::vector<HistogramBin>& bins) {
  json arr = json::array();
  for (const auto& b : bins) arr.push_back({{"label", b.label}, {"count", b.count}});
  return arr;
}

}  // namespace

json to_json(const Run& r) {
  json out = r.raw.is_object() ? r.raw : json::object();
  out["trace"] = {{"name", r.trace.name},
                  {"path", r.trace.path},
                  {"content_hash", r.trace.content_hash},
                  {"events", r.trace.events},
                  {"threads", r.trace.threads},
                  {"pid", r.trace.pid}};
  out["allocator"] = {{"name", r.allocator.name},
                      {"path", r.allocator.path},
                      {"version", r.allocator.version},
                      {"emulated", r.allocator.emulated}};
  out["mode"] = r.mode;
  out["touch"] = r.touch;
  out["verify"] = r.verify;
  out["repeat"] = r.repeat;
  out["warmup"] = r.warmup;
  out["status"] = status_name(r.status);
  out["error"] = r.error;
  out["failed_at_op"] = r.failed_at_op;
  put(out, "wall_ns", r.wall_ns);
  put(out, "cpu_user_ns", r.cpu_user_ns);
  put(out, "cpu_sys_ns", r.cpu_sys_ns);
  put(out, "page_faults", r.page_faults);
  put(out, "ops", r.ops);
  put(out, "ops_per_sec", r.ops_per_sec);
  if (!r.ops_by_kind.empty()) out["ops_by_kind"] = r.ops_by_kind;
  if (!r.latency_ns.empty()) {
    json lat = json::object();
    for (const auto& [kind, l] : r.latency_ns)
      lat[kind] = {{"samples", l.samples}, {"p50", l.p50},   {"p90", l.p90},
                   {"p99", l.p99},         {"p999", l.p999}, {"max", l.max}};
    out["latency_ns"] = lat;
  }
  put(out, "baseline_rss_bytes", r.baseline_rss_bytes);
  put(out, "peak_rss_bytes", r.peak_rss_bytes);
  put(out, "peak_rss_delta_bytes", r.peak_rss_delta_bytes);
  if (!r.rss_timeline.empty()) {
    json tl = json::array();
    for (const auto& [t, rss] : r.rss_timeline) tl.push_back({t, rss});
    out["rss_timeline"] = tl;
  }
  put(out, "peak_live_bytes", r.peak_live_bytes);
  put(out, "fragmentation", r.fragmentation);
  put(out, "sync_wait_ns", r.sync_wait_ns);
  if (!r.anomalies.empty()) out["anomalies"] = r.anomalies;
  return out;
}

json to_json(const ResultFile& f) {
  json out = {{"schema", f.schema},
              {"schema_version", f.schema_version},
              {"created", f.created},
              {"environment",
               {{"cpu", f.environment.cpu},
                {"cores", f.environment.cores},
                {"kernel", f.environment.kernel},
                {"libc", f.environment.libc},
                {"mtreplay_version", f.environment.mtreplay_version},
                {"mtreplay_revision", f.environment.mtreplay_revision}}}};
  json runs = json::array();
  for (const auto& r : f.runs) runs.push_back(to_json(r));
  out["runs"] = std::move(runs);
  if (!f.trace_profiles.empty()) {
    json profiles = json::array();
    for (const auto& p : f.trace_profiles)
      profiles.push_back({{"content_hash", p.content_hash},
                          {"name", p.name},
                          {"size_histogram", bins_to_json(p.size_histogram)},
                          {"lifetime_histogram", bins_to_json(p.lifetime_histogram)}});
    out["trace_profiles"] = std::move(profiles);
  }
  return out;
}

void write_result_file(const ResultFile& file, const std::filesystem::path& path) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw std::runtime_error(fmt::format("{}: cannot write", tmp.string()));
    out << to_json(file).dump(1) << '\n';
    if (!out.flush()) throw std::runtime_error(fmt::format("{}: write failed", tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("{}: cannot rename into place: {}", path.string(), ec.message()));
}

}  // namespace mtreplay::results
