// Writes synthetic traces for the replayer benchmarks: T threads, each churning a
// window of live objects (free the oldest, allocate a new one, sizes 16..1024), with
// a chosen fraction of objects freed by the neighbouring thread instead. Addresses
// are reused as a real allocator would reuse them.
#include <fmt/core.h>

#include <boost/program_options.hpp>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "mtreplay/traces/trace_builder.hpp"

namespace po = boost::program_options;
using mtreplay::traces::Event;
using mtreplay::traces::Op;

int main(int argc, char** argv) {
  po::options_description options("replayer_bench_trace OUT.mtr [options]");
  options.add_options()("help,h", "show this help")(
      "threads", po::value<uint32_t>()->default_value(1), "recorded threads")(
      "ops", po::value<uint64_t>()->default_value(1'000'000), "malloc+free pairs per thread")(
      "window", po::value<uint32_t>()->default_value(256), "live objects per thread")(
      "shared", po::value<double>()->default_value(0.0),
      "fraction of objects freed by the next thread")("out", po::value<std::string>(), "output");
  po::positional_options_description positional;
  positional.add("out", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "replayer_bench_trace: {}\n", e.what());
    return 2;
  }
  if (vm.count("help") || !vm.count("out")) {
    fmt::print("usage: replayer_bench_trace OUT.mtr [--threads N] [--ops N] [--window N] [--shared F]\n");
    return vm.count("help") ? 0 : 2;
  }
  uint32_t threads = vm["threads"].as<uint32_t>(), window = vm["window"].as<uint32_t>();
  uint64_t pairs = vm["ops"].as<uint64_t>();
  double shared = vm["shared"].as<double>();

  mtreplay::traces::TraceHeader header;
  header.version = 1;
  header.pid = 1;
  header.page_size = 4096;
  header.exe = "synthetic";
  mtreplay::traces::TraceBuilder builder(vm["out"].as<std::string>(), header);

  struct Live {
    uint64_t address;
    bool handed_over;
  };
  std::vector<std::deque<Live>> live(threads);
  std::vector<std::vector<uint64_t>> free_addresses(threads);  // per owner, for reuse
  std::vector<std::deque<uint64_t>> inbox(threads);             // objects to free for a neighbour
  std::vector<uint64_t> next_address(threads);
  for (uint32_t t = 0; t < threads; ++t) next_address[t] = (uint64_t{t} + 1) << 36;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> size(16, 1024);
  std::bernoulli_distribution hand_over(shared);
  uint64_t time = 1000;
  auto emit = [&](uint32_t thread, Op op, uint64_t ptr, uint64_t bytes, uint64_t result) {
    Event e;
    e.time_ns = time += 10;
    e.thread = thread;
    e.op = op;
    e.ptr = ptr;
    e.size = bytes;
    e.result = result;
    builder.add(e);
  };
  for (uint64_t i = 0; i < pairs; ++i) {
    for (uint32_t t = 0; t < threads; ++t) {
      if (!inbox[t].empty()) {
        emit(t, Op::kFree, inbox[t].front(), 0, 0);
        free_addresses[(t + threads - 1) % threads].push_back(inbox[t].front());
        inbox[t].pop_front();
      } else if (live[t].size() >= window) {
        Live oldest = live[t].front();
        live[t].pop_front();
        if (oldest.handed_over && threads > 1) {
          inbox[(t + 1) % threads].push_back(oldest.address);
        } else {
          emit(t, Op::kFree, oldest.address, 0, 0);
          free_addresses[t].push_back(oldest.address);
        }
      }
      uint64_t address;
      if (!free_addresses[t].empty()) {
        address = free_addresses[t].back();
        free_addresses[t].pop_back();
      } else {
        address = next_address[t] += 1024;
      }
      emit(t, Op::kMalloc, 0, size(rng), address);
      live[t].push_back({address, hand_over(rng)});
    }
  }
  builder.finish();
  return 0;
}
