// Deterministic fuzzing of the readers: valid traces mutated by bit flips, byte
// overwrites, truncations, insertions, deletions and splices. Every case must either
// read or throw TraceError: no crash, no hang, no other exception. Run under ASan in
// the sanitizer build. MTREPLAY_MUTATION_CASES sets the number of cases (the long test
// runs many more).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>

#include "mtreplay/traces/analysis.hpp"
#include "test_support.hpp"

namespace mtreplay::traces {
namespace {

using namespace testing;

std::vector<char> slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Reads everything the way the tools do; returns false on TraceError.
bool read_all(const std::filesystem::path& p) {
  try {
    {
      ChunkReader chunks(p);
      Chunk c;
      while (chunks.next(c)) {
      }
    }
    MergedReader merged(p);
    (void)analyze(merged);
    return true;
  } catch (const TraceError&) {
    return false;
  }
}

size_t case_count() {
  const char* env = std::getenv("MTREPLAY_MUTATION_CASES");
  return env ? std::strtoull(env, nullptr, 10) : 3000;
}

TEST(Mutation, ReadersReadOrThrowTraceError) {
  std::vector<std::vector<char>> seeds;
  for (uint64_t s = 0; s < 3; ++s) {
    const auto p = scratch("seed" + std::to_string(s) + ".mtr");
    write_trace(p, synthetic_stream(300 + 200 * s, 1 + static_cast<uint32_t>(s), s), 256 << s);
    seeds.push_back(slurp(p));
  }
  std::mt19937_64 rng(20261122);
  const auto path = scratch("case.mtr");
  size_t read = 0, rejected = 0;
  const size_t cases = case_count();
  for (size_t i = 0; i < cases; ++i) {
    std::vector<char> bytes = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !bytes.empty(); ++k) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 6) {
        case 0:
          bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
          break;
        case 1:
          bytes[at] = static_cast<char>(rng());
          break;
        case 2:
          bytes.resize(at);
          break;
        case 3:
          bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(rng()));
          break;
        case 4:
          bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        case 5: {  // splice a run of another trace in
          const auto& other = seeds[rng() % seeds.size()];
          const size_t from = rng() % other.size();
          const size_t len = std::min<size_t>(1 + rng() % 200, other.size() - from);
          const size_t room = bytes.size() - at;
          std::copy_n(other.begin() + static_cast<std::ptrdiff_t>(from), std::min(len, room),
                      bytes.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        }
      }
    }
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    try {
      (read_all(path) ? read : rejected) += 1;
    } catch (const std::exception& e) {
      FAIL() << "case " << i << ": unexpected exception " << e.what();
    }
  }
  EXPECT_EQ(read + rejected, cases);
  EXPECT_GT(rejected, cases / 4);  // the mutations do break things
  EXPECT_GT(read, 0u);             // and truncations still read
}

}  // namespace
}  // namespace mtreplay::traces
