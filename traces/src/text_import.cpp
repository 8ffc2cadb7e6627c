// Parser of the text form (FORMAT.md "Text form"). Every problem is a TextError
// naming the line.
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "mtreplay/traces/format.hpp"
#include "mtreplay/traces/text_form.hpp"

namespace mtreplay::traces {
namespace {

class LineParser {
 public:
  LineParser(const std::string& name, size_t line) : name_(name), line_(line) {}

  [[noreturn]] void fail(std::string_view what) const {
    throw TextError(fmt::format("{}:{}: {}", name_, line_, what), line_);
  }

  // Splits a line into tokens: whitespace separates, "..." is one token, # starts a
  // comment outside quotes.
  std::vector<std::string_view> tokenize(std::string_view text) const {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < text.size()) {
      const char c = text[i];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++i;
        continue;
      }
      if (c == '#') break;
      const size_t start = i;
      if (c == '"') {
        for (++i; i < text.size() && text[i] != '"'; ++i)
          if (text[i] == '\\') ++i;
        if (i >= text.size()) fail("unterminated string");
        ++i;
      } else {
        while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
               text[i] != '#')
          ++i;
      }
      out.push_back(text.substr(start, i - start));
    }
    return out;
  }

  uint64_t number(std::string_view token, std::string_view what) const {
    uint64_t v = 0;
    int base = 10;
    std::string_view digits = token;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
      digits.remove_prefix(2);
      base = 16;
    }
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
      fail(fmt::format("{} '{}' is not a number (decimal or 0x hex, at most 2^64-1)", what, token));
    return v;
  }

  uint64_t pointer(std::string_view token, std::string_view what) const {
    if (token == "NULL" || token == "null") return 0;
    return number(token, what);
  }

  uint32_t u32(std::string_view token, std::string_view what) const {
    const uint64_t v = number(token, what);
    if (v > UINT32_MAX) fail(fmt::format("{} {} does not fit in 32 bits", what, token));
    return static_cast<uint32_t>(v);
  }

  uint32_t thread(std::string_view token) const {
    if (token.size() < 2 || token[0] != 't')
      fail(fmt::format("expected a thread like t0, got '{}'", token));
    return u32(token.substr(1), "thread index");
  }

  // "+120ns", "-5us", "@1500" (absolute); the unit defaults to ns.
  uint64_t time(std::string_view token, uint64_t previous) const {
    const char sign = token[0];
    std::string_view rest = token.substr(1);
    uint64_t scale = 1;
    for (auto [suffix, factor] : {std::pair<std::string_view, uint64_t>{"ns", 1},
                                  {"us", 1000},
                                  {"ms", 1'000'000},
                                  {"s", 1'000'000'000}}) {
      if (rest.size() > suffix.size() && rest.ends_with(suffix)) {
        rest.remove_suffix(suffix.size());
        scale = factor;
        break;
      }
    }
    const uint64_t v = number(rest, "time");
    if (v > UINT64_MAX / scale) fail(fmt::format("time '{}' overflows", token));
    const uint64_t ns = v * scale;
    if (sign == '@') return ns;
    if (sign == '+') {
      if (ns > UINT64_MAX - previous) fail(fmt::format("time '{}' overflows", token));
      return previous + ns;
    }
    if (ns > previous) fail(fmt::format("time '{}' goes before the trace start", token));
    return previous - ns;
  }

 private:
  const std::string& name_;
  size_t line_;
};

bool is_time(std::string_view t) {
  return t[0] == '+' || t[0] == '-' || t[0] == '@';
}

// `~` before a time (or alone, for the previous line's time): a coarse stamp.
bool is_coarse_mark(std::string_view t) {
  return t[0] == '~' && (t.size() == 1 || is_time(t.substr(1)));
}

}  // namespace

uint64_t import_text(std::istream& text, const std::string& name, const std::filesystem::path& out,
                     size_t chunk_bytes) {
  TraceHeader header;
  header.version = format::kVersion;
  header.ticks_per_second = 1'000'000'000;
  header.page_size = 4096;
  std::optional<TraceBuilder> builder;
  std::map<uint32_t, uint32_t> declared_tids;
  std::map<uint32_t, bool> has_events;
  uint64_t previous_time = 0;
  std::string raw;
  size_t line_no = 0;

  while (std::getline(text, raw)) {
    ++line_no;
    const LineParser p(name, line_no);
    const std::vector<std::string_view> tok = p.tokenize(raw);
    if (tok.empty()) continue;
    const std::string_view key = tok[0];

    if (key == "thread") {
      if (tok.size() != 4 || tok[2] != "tid") p.fail("expected: thread tN tid OS_TID");
      const uint32_t t = p.thread(tok[1]);
      if (has_events[t]) p.fail(fmt::format("thread t{} declared after its first event", t));
      declared_tids[t] = p.u32(tok[3], "tid");
      if (builder) builder->set_os_tid(t, declared_tids[t]);
      continue;
    }
    if (key[0] != 't' || key.size() < 2 || key[1] < '0' || key[1] > '9') {
      // A header line.
      if (builder) p.fail(fmt::format("header line '{}' after the first event", key));
      auto one = [&]() {
        if (tok.size() != 2) p.fail(fmt::format("expected: {} VALUE", key));
        return tok[1];
      };
      if (key == "version") {
        const uint64_t version = p.number(one(), "version");
        if (version < format::kMinVersion || version > format::kMaxVersion)
          p.fail(fmt::format("unsupported text version {}", tok[1]));
        header.version = static_cast<uint32_t>(version);
      } else if (key == "pid")
        header.pid = p.u32(one(), "pid");
      else if (key == "ppid")
        header.ppid = p.u32(one(), "ppid");
      else if (key == "parent_trace_pid")
        header.parent_trace_pid = p.u32(one(), "parent_trace_pid");
      else if (key == "page_size")
        header.page_size = p.u32(one(), "page_size");
      else if (key == "start_realtime_ns")
        header.start_realtime_ns = p.number(one(), "start_realtime_ns");
      else if (key == "start_clock_ns")
        header.start_clock_ns = p.number(one(), "start_clock_ns");
      else if (key == "ticks_per_second")
        header.ticks_per_second = p.number(one(), "ticks_per_second");
      else if (key == "exe") {
        if (!unquote(one(), header.exe)) p.fail("exe needs one \"quoted\" path");
      } else if (key == "argv") {
        header.argv.clear();
        for (size_t i = 1; i < tok.size(); ++i)
          if (!unquote(tok[i], header.argv.emplace_back()))
            p.fail(fmt::format("argv element {} is not a \"quoted\" string", i));
      } else {
        p.fail(fmt::format("unknown line '{}' (expected a header key, 'thread' or tN)", key));
      }
      continue;
    }

    // An event: tN [TIME] OP ARGS... [-> RESULT] [err=N]
    if (!builder) {
      builder.emplace(out, header, chunk_bytes);
      for (auto [t, tid] : declared_tids) builder->set_os_tid(t, tid);
    }
    Event e;
    e.thread = p.thread(key);
    size_t i = 1;
    e.time_ns = previous_time;
    if (i < tok.size() && is_coarse_mark(tok[i])) {
      if (header.version < 3) p.fail("a coarse stamp ('~') needs 'version 3'");
      e.coarse_time = true;
      if (tok[i].size() == 1)
        ++i;
      else
        e.time_ns = p.time(tok[i++].substr(1), previous_time);
    } else if (i < tok.size() && is_time(tok[i])) {
      e.time_ns = p.time(tok[i++], previous_time);
    }
    if (i == tok.size()) p.fail("missing operation");
    if (!op_from_name(tok[i], e.op)) p.fail(fmt::format("unknown operation '{}'", tok[i]));
    const std::string_view op = tok[i++];
    if (e.op == Op::kTouched && header.version < 6) p.fail("'touched' needs 'version 6'");
    const format::OpFields f = format::fields_of(e.op);
    auto arg = [&](std::string_view what) {
      if (i == tok.size() || tok[i] == "->" || tok[i].starts_with("err="))
        p.fail(fmt::format("{} needs {}", op, what));
      return tok[i++];
    };
    if (f.ptr) e.ptr = p.pointer(arg("a pointer"), "pointer");
    if (f.count) e.count = p.number(arg("a count"), "count");
    if (f.align) e.align = p.number(arg("an alignment"), "alignment");
    if (f.size) e.size = p.number(arg("a size"), "size");
    if (i < tok.size() && tok[i] == "->") {
      if (f.result == format::OpFields::Result::kNone) p.fail(fmt::format("{} has no result", op));
      if (++i == tok.size()) p.fail("missing result after '->'");
      e.result = f.result == format::OpFields::Result::kPointer ? p.pointer(tok[i++], "result")
                                                                : p.number(tok[i++], "result");
    } else if (f.result == format::OpFields::Result::kPointer) {
      p.fail(fmt::format("{} needs '-> RESULT' (the returned pointer, or NULL)", op));
    }
    if (i < tok.size() && tok[i].starts_with("err=")) {
      std::string_view v = tok[i++].substr(4);
      const bool negative = !v.empty() && v[0] == '-';
      if (negative) v.remove_prefix(1);
      const uint64_t mag = p.number(v, "error");
      if (mag > (negative ? uint64_t{1} << 31 : uint64_t{INT32_MAX}) || mag == 0)
        p.fail("err= needs a non-zero 32-bit value");
      e.error =
          negative ? static_cast<int32_t>(-static_cast<int64_t>(mag)) : static_cast<int32_t>(mag);
    }
    if (i != tok.size()) p.fail(fmt::format("unexpected '{}' after the event", tok[i]));
    has_events[e.thread] = true;
    builder->add(e);
    previous_time = e.time_ns;
  }
  if (text.bad()) throw TextError(fmt::format("{}: read error", name), line_no);
  if (!builder) builder.emplace(out, header, chunk_bytes);
  for (auto [t, tid] : declared_tids) builder->set_os_tid(t, tid);
  builder->finish();
  return builder->events();
}

}  // namespace mtreplay::traces
