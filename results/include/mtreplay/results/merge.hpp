// compare --from A.json B.json ...: several result files (the shards of one matrix,
// or runs made at different times) merged into one before tabulating. Refused when
// they do not describe the same experiment: one trace name with two contents, or
// different environments (machine, kernel, libc, mtreplay build), or the same run
// measured run (trace, allocator, mode, repeat) twice; `force` merges anyway. A warm-up
// run found twice (each shard warms up) is kept once.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "mtreplay/results/schema.hpp"

namespace mtreplay::results {

struct MergeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct NamedResult {
  std::string origin;  // the file name, for messages
  ResultFile file;
};

// Runs in order of trace (first appearance), warm-ups first, then by repeat; within
// that, in the order of the files. Throws MergeError with a one-line reason.
ResultFile merge_results(const std::vector<NamedResult>& inputs, bool force);

}  // namespace mtreplay::results
