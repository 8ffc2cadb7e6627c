#include <fmt/core.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "mtreplay/traces/format.hpp"
#include "mtreplay/traces/text_form.hpp"

namespace mtreplay::traces {
namespace {

void append_pointer(std::string& out, uint64_t p) {
  if (p == 0)
    out += "NULL";
  else
    fmt::format_to(std::back_inserter(out), "{:#x}", p);
}

// Flushes a growing text buffer to the stream now and then: dumps can be gigabytes.
class Sink {
 public:
  explicit Sink(std::FILE* out) : out_(out) {}
  ~Sink() { flush(); }
  std::string& text() { return text_; }
  void maybe_flush() {
    if (text_.size() > (1u << 16)) flush();
  }
  void flush() {
    std::fwrite(text_.data(), 1, text_.size(), out_);
    text_.clear();
  }

 private:
  std::FILE* out_;
  std::string text_;
};

}  // namespace

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          fmt::format_to(std::back_inserter(out), "\\x{:02x}", static_cast<unsigned char>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

bool unquote(std::string_view q, std::string& out) {
  if (q.size() < 2 || q.front() != '"' || q.back() != '"') return false;
  const std::string_view body = q.substr(1, q.size() - 2);
  auto hex = [](char h, unsigned& v) {
    if (h >= '0' && h <= '9')
      v = v * 16 + static_cast<unsigned>(h - '0');
    else if (h >= 'a' && h <= 'f')
      v = v * 16 + static_cast<unsigned>(h - 'a' + 10);
    else if (h >= 'A' && h <= 'F')
      v = v * 16 + static_cast<unsigned>(h - 'A' + 10);
    else
      return false;
    return true;
  };
  out.clear();
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '"') return false;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == body.size()) return false;
    switch (body[i]) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'x': {
        unsigned v = 0;
        if (body.size() - i < 3) return false;
        if (!hex(body[i + 1], v) || !hex(body[i + 2], v)) return false;
        out += static_cast<char>(v);
        i += 2;
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

std::string event_text(const Event& e) {
  const format::OpFields f = format::fields_of(e.op);
  std::string out(op_name(e.op));
  if (f.ptr) {
    out += ' ';
    append_pointer(out, e.ptr);
  }
  if (f.count) fmt::format_to(std::back_inserter(out), " {}", e.count);
  if (f.align) fmt::format_to(std::back_inserter(out), " {}", e.align);
  if (f.size) fmt::format_to(std::back_inserter(out), " {}", e.size);
  if (f.result == format::OpFields::Result::kPointer) {
    out += " -> ";
    append_pointer(out, e.result);
  } else if (f.result == format::OpFields::Result::kValue) {
    fmt::format_to(std::back_inserter(out), " -> {}", e.result);
  }
  if (e.error != 0) fmt::format_to(std::back_inserter(out), " err={}", e.error);
  return out;
}

void dump_text(MergedReader& reader, std::FILE* out) {
  const TraceHeader& h = reader.header();
  Sink sink(out);
  std::string& s = sink.text();
  const auto it = std::back_inserter(s);
  fmt::format_to(it, "# mtreplay trace, text form (see traces/FORMAT.md)\n");
  fmt::format_to(it, "version {}\npid {}\nppid {}\nparent_trace_pid {}\npage_size {}\n", h.version,
                 h.pid, h.ppid, h.parent_trace_pid, h.page_size);
  fmt::format_to(it, "start_realtime_ns {}\nstart_clock_ns {}\nticks_per_second {}\n",
                 h.start_realtime_ns, h.start_clock_ns, h.ticks_per_second);
  fmt::format_to(it, "exe {}\nargv", quote(h.exe));
  for (const auto& a : h.argv) fmt::format_to(it, " {}", quote(a));
  fmt::format_to(it, "\n");
  for (const ThreadInfo& t : reader.threads())
    fmt::format_to(it, "thread t{} tid {}\n", t.index, t.os_tid);
  uint64_t previous = 0;
  Event e;
  while (reader.next(e)) {
    const char* coarse = e.coarse_time ? "~" : "";
    if (e.time_ns >= previous)
      fmt::format_to(it, "t{} {}+{}ns {}\n", e.thread, coarse, e.time_ns - previous, event_text(e));
    else
      fmt::format_to(it, "t{} {}-{}ns {}\n", e.thread, coarse, previous - e.time_ns, event_text(e));
    previous = e.time_ns;
    sink.maybe_flush();
  }
}

void dump_jsonl(MergedReader& reader, std::FILE* out) {
  const TraceHeader& h = reader.header();
  Sink sink(out);
  std::string& s = sink.text();
  nlohmann::ordered_json header = {{"version", h.version},
                                   {"pid", h.pid},
                                   {"ppid", h.ppid},
                                   {"parent_trace_pid", h.parent_trace_pid},
                                   {"page_size", h.page_size},
                                   {"start_realtime_ns", h.start_realtime_ns},
                                   {"start_clock_ns", h.start_clock_ns},
                                   {"ticks_per_second", h.ticks_per_second},
                                   {"exe", h.exe},
                                   {"argv", h.argv}};
  // Paths and arguments are bytes, not always UTF-8: invalid sequences become U+FFFD.
  const auto dump = [](const nlohmann::ordered_json& j) {
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  };
  s += dump(nlohmann::ordered_json{{"header", header}}) + "\n";
  for (const ThreadInfo& t : reader.threads())
    s += nlohmann::ordered_json{{"thread",
                                 {{"index", t.index}, {"tid", t.os_tid}, {"events", t.events}}}}
             .dump() +
         "\n";
  Event e;
  while (reader.next(e)) {
    const format::OpFields f = format::fields_of(e.op);
    nlohmann::ordered_json j = {{"t", e.thread}, {"time_ns", e.time_ns}, {"op", op_name(e.op)}};
    if (e.coarse_time) j["coarse"] = true;
    if (f.ptr) j["ptr"] = e.ptr;
    if (f.count) j["count"] = e.count;
    if (f.align) j["align"] = e.align;
    if (f.size) j["size"] = e.size;
    if (f.result != format::OpFields::Result::kNone) j["result"] = e.result;
    if (e.error != 0) j["error"] = e.error;
    s += j.dump();
    s += '\n';
    sink.maybe_flush();
  }
}

}  // namespace mtreplay::traces
