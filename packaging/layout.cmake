# The install layout (GNUInstallDirs), and mtreplay_install_layout: the header that finds
# the worker, libraries and samples from the running executable with these directories
# relative to the prefix (packaging/include/mtreplay/install_layout.hpp). Included before
# the pipeline so that its targets can link it; the install rules are in
# packaging/CMakeLists.txt, added after them.
include(GNUInstallDirs)
set(MTREPLAY_INSTALL_LIBEXECDIR "${CMAKE_INSTALL_LIBEXECDIR}/mtreplay")
set(MTREPLAY_INSTALL_DATADIR "${CMAKE_INSTALL_DATADIR}/mtreplay")
foreach(dir CMAKE_INSTALL_BINDIR CMAKE_INSTALL_LIBDIR MTREPLAY_INSTALL_LIBEXECDIR
    MTREPLAY_INSTALL_DATADIR)
  if(IS_ABSOLUTE "${${dir}}")
    # An absolute directory would tie the tree to one prefix (no relocation, no DESTDIR copy).
    message(FATAL_ERROR "${dir} must be relative to the prefix (is ${${dir}})")
  endif()
endforeach()

add_library(mtreplay_install_layout INTERFACE)
target_include_directories(mtreplay_install_layout INTERFACE
  ${CMAKE_CURRENT_LIST_DIR}/include)
target_compile_definitions(mtreplay_install_layout INTERFACE
  MTREPLAY_INSTALL_BINDIR="${CMAKE_INSTALL_BINDIR}"
  MTREPLAY_INSTALL_LIBDIR="${CMAKE_INSTALL_LIBDIR}"
  MTREPLAY_INSTALL_LIBEXECDIR="${MTREPLAY_INSTALL_LIBEXECDIR}"
  MTREPLAY_INSTALL_DATADIR="${MTREPLAY_INSTALL_DATADIR}")
