// Where an mtreplay tree keeps its parts, found from the running executable: an
// installed tree works wherever its prefix is moved or unpacked (DESTDIR, a copied
// /opt tree, a .deb), and a build tree (build/bin, build/lib) works the same way. No
// absolute path is compiled in; the relative directories come from the install rules
// (packaging/CMakeLists.txt), the defaults below are the build tree's.
//
//   <prefix>/<bindir>/mtreplay                   the CLI (its directory gives <prefix>)
//   <prefix>/<libexecdir>/mtreplay-worker        build tree: beside mtreplay
//   <prefix>/<libdir>/libmhook.so, libarena.so   build tree: <prefix>/lib
//   <prefix>/<datadir>/samples/*.mtr             build tree: ../traces/samples of the build dir
#pragma once

#include <filesystem>
#include <system_error>
#include <vector>

#ifndef MTREPLAY_INSTALL_BINDIR
#define MTREPLAY_INSTALL_BINDIR "bin"
#endif
#ifndef MTREPLAY_INSTALL_LIBDIR
#define MTREPLAY_INSTALL_LIBDIR "lib"
#endif
#ifndef MTREPLAY_INSTALL_LIBEXECDIR
#define MTREPLAY_INSTALL_LIBEXECDIR "libexec/mtreplay"
#endif
#ifndef MTREPLAY_INSTALL_DATADIR
#define MTREPLAY_INSTALL_DATADIR "share/mtreplay"
#endif

namespace mtreplay::layout {

// The running executable, symlinks resolved (empty if /proc is not mounted).
inline std::filesystem::path self_exe() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe;
}

// The prefix an executable runs from: its directory less the bin dir's components.
inline std::filesystem::path prefix_of(const std::filesystem::path& exe) {
  std::filesystem::path dir = exe.parent_path();
  for ([[maybe_unused]] const auto& part : std::filesystem::path(MTREPLAY_INSTALL_BINDIR))
    dir = dir.parent_path();
  return dir;
}

// mtreplay-worker: the installed one under libexec, else the one beside the executable.
inline std::filesystem::path worker_path(const std::filesystem::path& exe = self_exe()) {
  std::error_code ec;
  auto installed = prefix_of(exe) / MTREPLAY_INSTALL_LIBEXECDIR / "mtreplay-worker";
  if (std::filesystem::is_regular_file(installed, ec)) return installed;
  return exe.parent_path() / "mtreplay-worker";
}

// The directory of libmhook.so and the project's allocators (libarena.so, ...).
inline std::filesystem::path library_dir(const std::filesystem::path& exe = self_exe()) {
  std::error_code ec;
  auto installed = prefix_of(exe) / MTREPLAY_INSTALL_LIBDIR;
  if (std::filesystem::is_regular_file(installed / "libmhook.so", ec)) return installed;
  return exe.parent_path().parent_path() / "lib";
}

// Where the bundled sample traces may be, in search order: the installed data dir,
// then the source tree around a build directory.
inline std::vector<std::filesystem::path> sample_dirs(const std::filesystem::path& exe) {
  return {(prefix_of(exe) / MTREPLAY_INSTALL_DATADIR / "samples").lexically_normal(),
          (exe.parent_path() / ".." / ".." / "traces" / "samples").lexically_normal()};
}

}  // namespace mtreplay::layout
