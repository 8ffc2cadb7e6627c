// The text form of a trace (FORMAT.md "Text form"): `mtreplay dump` writes it,
// `mtreplay import` reads it, and tests and users write small traces by hand in it.
// dump -> import -> dump reproduces the dump byte for byte.
#pragma once

#include <cstdio>
#include <filesystem>
#include <istream>
#include <stdexcept>
#include <string>

#include "mtreplay/traces/trace_builder.hpp"
#include "mtreplay/traces/trace_reader.hpp"

namespace mtreplay::traces {

// A line of text that is not valid; what() is "NAME:LINE: problem".
class TextError : public std::runtime_error {
 public:
  TextError(const std::string& message, size_t line) : std::runtime_error(message), line_(line) {}
  size_t line() const { return line_; }

 private:
  size_t line_;
};

// Writes header lines, thread lines, then every event in merged order. Throws
// TraceError from the reader.
void dump_text(MergedReader& reader, std::FILE* out);
// One JSON object per line: {"header":{...}}, {"thread":{...}} lines, then events.
void dump_jsonl(MergedReader& reader, std::FILE* out);

// Parses text (name is used in messages) and writes the trace to `out`. Returns the
// number of events. Throws TextError for bad text, TraceError when `out` cannot be
// written.
uint64_t import_text(std::istream& text, const std::string& name, const std::filesystem::path& out,
                     size_t chunk_bytes = TraceBuilder::kDefaultChunkBytes);

// The pieces the text form is made of, shared by dump and import.
std::string quote(std::string_view s);                    // "..." with C escapes
bool unquote(std::string_view quoted, std::string& out);  // false when malformed
std::string event_text(const Event& e);                   // "malloc 32 -> 0x1000"

}  // namespace mtreplay::traces
