// The mtreplay subcommands. Each lives in its own cmd_*.cpp, parses its own
// options (Boost.Program_options) and returns the process exit code
// (see exit_codes.hpp). `args` excludes "mtreplay" and the subcommand name.
#pragma once

#include <span>

namespace mtreplay::cli {

using Args = std::span<char* const>;

int run_record(Args args);      // recorder/: run a program under libmhook.so
int run_info(Args args);        // traces/: what a trace holds
int run_dump(Args args);        // traces/: trace -> text or jsonl
int run_import(Args args);      // traces/: text -> trace
int run_replay(Args args);      // replayer/: replay a trace against one allocator
int run_allocators(Args args);  // replayer/: the known backends and whether they are here
int run_compare(Args args);     // results/: replay traces x allocators, tabulate
int run_diff(Args args);        // results/: statistical verdict between two result files
int run_validate(Args args);    // results/: the program itself against its replays

}  // namespace mtreplay::cli
