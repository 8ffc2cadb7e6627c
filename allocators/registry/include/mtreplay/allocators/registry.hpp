// The allocators mtreplay knows by name: the system malloc, the deployed peers from
// Debian's packages, the project's own preload libraries, and the null allocator
// that measures the replay harness. Finding one never loads it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtreplay::allocators {

struct Backend {
  std::string name;
  std::string description;
  std::filesystem::path path;  // the .so to preload; empty for the system malloc
  bool available = false;      // the file exists here (always true for glibc)
  std::string version;         // from the package database, glibc or the project
  std::string package;         // the Debian package that ships it, if any
};

// Every known backend, available or not. `lib_dir` is where the project's own .so
// files are built (build/lib: the mtreplay binary's ../lib).
std::vector<Backend> known_backends(const std::filesystem::path& lib_dir);

// A known name, or a path to any malloc-compatible shared object (a name containing
// '/' or ending in .so). nullopt when the name is unknown; a known or path backend
// whose file is missing comes back with available == false.
std::optional<Backend> find_backend(std::string_view name_or_path,
                                    const std::filesystem::path& lib_dir);

// Version of an installed Debian package from the dpkg database; empty if unknown.
std::string package_version(std::string_view package);

}  // namespace mtreplay::allocators
