// mtreplay import TEXT -o TRACE: builds a trace from its text form (FORMAT.md "Text
// form"); TEXT may be - for stdin.
#include <fmt/core.h>
#include <fmt/ostream.h>

#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "mtreplay/traces/text_form.hpp"
#include "parse_options.hpp"
#include "progress.hpp"

namespace po = boost::program_options;

namespace {

// Reads through to another stream buffer and says how many bytes went by, for the
// progress of a long import.
class CountingBuffer : public std::streambuf {
 public:
  CountingBuffer(std::streambuf* source, mtreplay::cli::ReadProgress& progress, uint64_t total)
      : source_(source), progress_(progress), total_(total) {}

 protected:
  int_type underflow() override {
    const std::streamsize n = source_->sgetn(buffer_, sizeof buffer_);
    if (n <= 0) return traits_type::eof();
    consumed_ += static_cast<uint64_t>(n);
    progress_.update(consumed_, total_, "bytes");
    setg(buffer_, buffer_, buffer_ + n);
    return traits_type::to_int_type(buffer_[0]);
  }

 private:
  std::streambuf* source_;
  mtreplay::cli::ReadProgress& progress_;
  uint64_t total_, consumed_ = 0;
  char buffer_[1 << 16];
};

}  // namespace

int mtreplay::cli::run_import(Args args) {
  po::options_description visible("usage: mtreplay import TEXT -o TRACE [options]\noptions");
  visible.add_options()("help,h", "show this help")("output,o", po::value<std::string>(),
                                                    "the trace file to write")(
      "chunk-bytes", po::value<size_t>()->default_value(traces::TraceBuilder::kDefaultChunkBytes),
      "encoded bytes per chunk (frame)");
  ReadProgress::add_options(visible);
  po::options_description all;
  all.add(visible).add_options()("text", po::value<std::string>());
  po::positional_options_description positional;
  positional.add("text", 1);
  const auto parsed = parse_options("import", args, all, positional);
  if (!parsed) return kExitBadInput;
  const po::variables_map& vm = *parsed;
  if (vm.count("help")) {
    fmt::print("{}\n", fmt::streamed(visible));
    return kExitOk;
  }
  if (!vm.count("text") || !vm.count("output")) {
    fmt::print(stderr, "mtreplay import: need TEXT and -o TRACE (try mtreplay import --help)\n");
    return kExitBadInput;
  }
  const std::string text_path = vm["text"].as<std::string>();
  const std::filesystem::path out = vm["output"].as<std::string>();
  std::ifstream file;
  std::istream* in = &std::cin;
  if (text_path != "-") {
    file.open(text_path);
    if (!file) {
      fmt::print(stderr, "mtreplay import: cannot open {}\n", text_path);
      return kExitBadInput;
    }
    in = &file;
  }
  ReadProgress progress("import", vm);
  std::optional<CountingBuffer> counting;
  std::optional<std::istream> counted;
  if (progress.enabled()) {
    std::error_code error;
    const uint64_t total = text_path == "-" ? 0 : std::filesystem::file_size(text_path, error);
    counting.emplace(in->rdbuf(), progress, error ? 0 : total);
    counted.emplace(&*counting);
    in = &*counted;
  }
  try {
    const uint64_t events = traces::import_text(*in, text_path == "-" ? "<stdin>" : text_path, out,
                                                vm["chunk-bytes"].as<size_t>());
    progress.finish();
    fmt::print(stderr, "mtreplay import: wrote {} events to {}\n", events, out.string());
  } catch (const traces::TextError& e) {
    progress.finish();
    std::error_code ignored;
    std::filesystem::remove(out, ignored);  // never leave a half-built trace behind
    fmt::print(stderr, "mtreplay import: {}\n", e.what());
    return kExitBadInput;
  } catch (const traces::TraceError& e) {
    progress.finish();
    fmt::print(stderr, "mtreplay import: {}\n", e.what());
    return kExitBadInput;
  }
  return kExitOk;
}
