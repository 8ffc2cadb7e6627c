// Memory cost per live small block: holds `count` blocks of `size` bytes and prints how
// many resident bytes each one costs (request + header/footer/metadata + size-class
// rounding), the figure by which "least metadata per block" is compared. The resident
// set is read from /proc/self/statm before and after, so the allocator's own tables
// count too, wherever it keeps them.
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <boost/program_options.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

namespace po = boost::program_options;

long resident_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return -1;
  long size_pages = 0;
  long resident_pages = 0;
  const int read = std::fscanf(statm, "%ld %ld", &size_pages, &resident_pages);
  std::fclose(statm);
  return read == 2 ? resident_pages * ::sysconf(_SC_PAGESIZE) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 0;
  std::size_t size = 0;
  po::options_description options{"small_blocks: resident bytes per live small block"};
  options.add_options()("help,h", "this help")(
      "count,n", po::value(&count)->default_value(2'000'000), "blocks held at once")(
      "size,s", po::value(&size)->default_value(16), "bytes requested per block");
  po::variables_map values;
  try {
    po::store(po::parse_command_line(argc, argv, options), values);
    po::notify(values);
  } catch (const po::error& error) {
    fmt::print(stderr, "small_blocks: {}\n", error.what());
    return 2;
  }
  if (values.count("help") != 0) {
    fmt::print("{}", fmt::streamed(options));
    return 0;
  }
  // The pointer table comes first and is touched, so only the blocks grow the heap.
  std::vector<void*> blocks(count, nullptr);
  std::memset(blocks.data(), 0, count * sizeof(void*));
  const long before = resident_bytes();
  for (void*& block : blocks) {
    block = std::malloc(size);
    if (block == nullptr) return 3;
    std::memset(block, 0x33, size);
  }
  const long after = resident_bytes();
  fmt::print("{{\"count\": {}, \"size\": {}, \"bytes_per_block\": {:.2f}}}\n", count, size,
             static_cast<double>(after - before) / static_cast<double>(count));
  for (void* block : blocks) std::free(block);
  return 0;
}
