#include "mtreplay/allocators/registry.hpp"

#include <gnu/libc-version.h>

#include <algorithm>
#include <fstream>

#ifndef MTREPLAY_VERSION
#define MTREPLAY_VERSION "0.0.0"
#endif

namespace mtreplay::allocators {
namespace {

namespace fs = std::filesystem;

#if defined(__x86_64__)
constexpr std::string_view kTriplet = "x86_64-linux-gnu", kClangArch = "x86_64";
#elif defined(__aarch64__)
constexpr std::string_view kTriplet = "aarch64-linux-gnu", kClangArch = "aarch64";
#else
constexpr std::string_view kTriplet = "", kClangArch = "";
#endif

// A shared object installed in the system library directories, or the first
// candidate path when none exists (so the listing still says where it would be).
fs::path system_library(std::string_view file) {
  std::vector<fs::path> candidates = {fs::path("/usr/lib") / kTriplet / file,
                                      fs::path("/lib") / kTriplet / file,
                                      fs::path("/usr/lib") / file};
  std::error_code ec;
  for (const auto& c : candidates) {
    if (fs::exists(c, ec)) return c;
  }
  return candidates.front();
}

// Scudo standalone ships inside the clang runtime of each LLVM version: the newest.
std::pair<fs::path, std::string> scudo_library() {
  std::string file = "libclang_rt.scudo_standalone-" + std::string(kClangArch) + ".so";
  fs::path best;
  std::string package;
  int best_major = -1;
  std::error_code ec;
  for (const auto& llvm : fs::directory_iterator("/usr/lib", ec)) {
    std::string dir = llvm.path().filename().string();
    if (dir.rfind("llvm-", 0) != 0) continue;
    int major = std::atoi(dir.c_str() + 5);
    std::error_code inner;
    for (const auto& version : fs::directory_iterator(llvm.path() / "lib/clang", inner)) {
      fs::path candidate = version.path() / "lib/linux" / file;
      if (major > best_major && fs::exists(candidate, inner)) {
        best = candidate, best_major = major;
        package = "libclang-rt-" + std::to_string(major) + "-dev";
      }
    }
  }
  if (best.empty()) best = fs::path("/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux") / file;
  if (package.empty()) package = "libclang-rt-14-dev";
  return {best, package};
}

Backend make(std::string name, std::string description, fs::path path, std::string package) {
  Backend b{std::move(name), std::move(description), std::move(path), false, {}, std::move(package)};
  std::error_code ec;
  b.available = fs::is_regular_file(b.path, ec);
  if (b.available && !b.package.empty()) b.version = package_version(b.package);
  return b;
}

Backend project(std::string name, std::string description, const fs::path& lib_dir,
                std::string file) {
  Backend b = make(std::move(name), std::move(description), lib_dir / file, {});
  if (b.available) b.version = MTREPLAY_VERSION;
  return b;
}

}  // namespace

std::string package_version(std::string_view package) {
  std::ifstream status("/var/lib/dpkg/status");
  std::string line;
  bool in_package = false, installed = false;
  std::string version;
  auto finish = [&] { return in_package && installed && !version.empty(); };
  while (std::getline(status, line)) {
    if (line.empty()) {
      if (finish()) return version;
      in_package = installed = false;
      version.clear();
    } else if (line.rfind("Package: ", 0) == 0) {
      in_package = std::string_view(line).substr(9) == package;
    } else if (in_package && line.rfind("Status: ", 0) == 0) {
      installed = line.find(" installed") != std::string::npos;
    } else if (in_package && line.rfind("Version: ", 0) == 0) {
      version = line.substr(9);
    }
  }
  return finish() ? version : std::string();
}

std::vector<Backend> known_backends(const fs::path& lib_dir) {
  std::vector<Backend> all;
  Backend glibc{"glibc", "the system malloc (no preload)", {}, true, gnu_get_libc_version(), "libc6"};
  all.push_back(glibc);
  all.push_back(make("jemalloc", "jemalloc (Debian libjemalloc2)",
                     system_library("libjemalloc.so.2"), "libjemalloc2"));
  all.push_back(make("tcmalloc", "gperftools tcmalloc-minimal (Debian libtcmalloc-minimal4)",
                     system_library("libtcmalloc_minimal.so.4"), "libtcmalloc-minimal4"));
  all.push_back(make("mimalloc", "mimalloc (Debian libmimalloc2.0)",
                     system_library("libmimalloc.so.2"), "libmimalloc2.0"));
  auto [scudo, scudo_package] = scudo_library();
  all.push_back(make("scudo", "LLVM scudo standalone (Debian " + scudo_package + ")", scudo,
                     scudo_package));
  all.push_back(project("arena", "mtreplay's metadata-separated arena malloc", lib_dir,
                        "libarena.so"));
  all.push_back(project("dsmalloc", "mtreplay's single-arena dsmalloc", lib_dir, "libdsmalloc.so"));
  all.push_back(project("ptmalloc", "mtreplay's classic ptmalloc-style baseline", lib_dir,
                        "libptmalloc.so"));
  all.push_back(project("null", "bump allocator that never frees: the replay harness cost",
                        lib_dir, "libmtreplay_null.so"));
  return all;
}

std::optional<Backend> find_backend(std::string_view name_or_path, const fs::path& lib_dir) {
  for (auto& b : known_backends(lib_dir)) {
    if (b.name == name_or_path) return b;
  }
  bool looks_like_path = name_or_path.find('/') != std::string_view::npos ||
                         name_or_path.find(".so") != std::string_view::npos;
  if (!looks_like_path) return std::nullopt;
  std::error_code ec;
  fs::path path = fs::absolute(fs::path(name_or_path), ec);
  Backend b;
  b.name = path.filename().string();
  b.description = "a malloc-compatible shared object";
  b.path = path;
  b.available = fs::is_regular_file(path, ec);
  return b;
}

}  // namespace mtreplay::allocators
