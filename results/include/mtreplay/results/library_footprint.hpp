// The shared libraries an allocator brings into a program that did not load them.
//
// jemalloc and tcmalloc link libstdc++. Preloaded into a C program (python3, perl,
// sqlite3) they load it, and its pages are resident in the program under those two
// allocators only: about 1 MiB, 0.07 of python3's peak RSS. The replay worker is a C++
// program that has libstdc++ under every allocator, so its replays cannot show that
// difference. validate measures it once per allocator and adds it to the replays' peaks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace mtreplay::results {

// soname -> path of every library `ldd FILE` lists (the dynamic loader's own view of
// what FILE needs, its dependencies' dependencies included; the vDSO and entries without
// a path left out); nullopt when ldd fails or FILE is not a dynamically linked ELF file.
// ldd runs through the launcher, its stdout into a file in work_dir.
using LibrarySet = std::map<std::string, std::string>;
std::optional<LibrarySet> shared_libraries(const std::filesystem::path& launcher,
                                           const std::filesystem::path& file,
                                           const std::filesystem::path& work_dir);

// The libraries of `wanted` whose sonames `present` lacks.
LibrarySet missing_from(const LibrarySet& wanted, const LibrarySet& present);

// Peak RSS a small C program (`true`) gains when `libraries` are preloaded into it: the
// median of 5 runs with them against the median of 5 without, 0 when it gains nothing
// or there is nothing to preload.
uint64_t preload_footprint(const std::filesystem::path& launcher, const LibrarySet& libraries,
                           const std::filesystem::path& work_dir);

}  // namespace mtreplay::results
