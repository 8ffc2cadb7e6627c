// Builds the fuzzers' seed corpus: each text trace given becomes a .mtr in the output
// directory (and its text is copied, for the import fuzzer).
#include <filesystem>
#include <fstream>

#include <fmt/core.h>

#include "mtreplay/traces/text_form.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    fmt::print(stderr, "usage: traces_make_seeds OUT_DIR TEXT...\n");
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out / "reader");
  std::filesystem::create_directories(out / "import");
  for (int i = 2; i < argc; ++i) {
    const std::filesystem::path text = argv[i];
    std::ifstream in(text);
    try {
      for (size_t chunk : {64, 4096}) {
        in.clear();
        in.seekg(0);
        mtreplay::traces::import_text(
            in, text.string(),
            out / "reader" / fmt::format("{}-{}.mtr", text.stem().string(), chunk), chunk);
      }
    } catch (const std::exception& e) {
      fmt::print(stderr, "traces_make_seeds: {}\n", e.what());
      return 2;
    }
    std::filesystem::copy_file(text, out / "import" / text.filename(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  return 0;
}
