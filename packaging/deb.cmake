# The Debian package: `cpack -G DEB --config build/CPackConfig.cmake` (or `cmake --build
# build --target package`) writes mtreplay_<version>_<arch>.deb with everything
# `cmake --install` installs, under /usr. Its Depends are Debian's package names,
# found by dpkg-shlibdeps from the libraries the binaries link (libzstd1, libfmt,
# libboost-program-options, libstdc++6, libc6); the peer allocators that `mtreplay
# compare` uses when they are there are Suggests.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mtreplay)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "mtreplay")
set(CPACK_PACKAGE_CONTACT "mtreplay maintainers <mtreplay@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "record the malloc traffic of multithreaded programs and replay it against allocators")
set(CPACK_PACKAGE_DESCRIPTION
  "mtreplay records every malloc-family call of a real program with a preload hook\n\
(libmhook.so) and replays the trace against competing allocators (glibc, jemalloc,\n\
tcmalloc, mimalloc, scudo and its own arena, dsmalloc and ptmalloc), comparing time,\n\
latency and memory. The package also carries the project's allocators as libraries\n\
(CMake package and pkg-config files) and sample traces.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS
  "libjemalloc2, libtcmalloc-minimal4, libmimalloc2.0, libclang-rt-14-dev")
# The debug information stays in the build tree (RelWithDebInfo): 17 MB packed with it.
set(CPACK_STRIP_FILES ON)
include(CPack)
