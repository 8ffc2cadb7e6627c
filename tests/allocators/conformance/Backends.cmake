# The one list of allocator backends every allocator test and benchmark runs against.
# Included by tests/allocators/{conformance,stress,programs} and tests/bench/allocators.
#
# After inclusion:
#   MTREPLAY_ALLOCATOR_BACKENDS     names, glibc first (the reference, nothing preloaded)
#   MTREPLAY_ALLOCATOR_<name>_PATH  the .so to LD_PRELOAD ("" for glibc)
#   MTREPLAY_OUR_ALLOCATORS         the project's own allocators (arena dsmalloc ptmalloc),
#                                   listed whether or not their target exists yet
#   MTREPLAY_OUR_<name>_PATH        where the build leaves each of ours
#   MTREPLAY_OUR_<name>_TARGET      its CMake target when that target exists, else ""
# System allocators that are not installed are left out (with a message), ours are in
# MTREPLAY_ALLOCATOR_BACKENDS only when their target exists; tests that use a backend
# call mtreplay_depend_on_backends(<exe>) so that our .so files are built first.
# No include_guard: variables are per directory, so every includer needs its own copy.

set(MTREPLAY_ALLOCATOR_BACKENDS glibc)
set(MTREPLAY_ALLOCATOR_glibc_PATH "")

# System peers: name and the Debian path of the preloadable library.
set(_mtreplay_system_allocators
    "jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    "tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
    "mimalloc=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"
    "scudo=/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.scudo_standalone-x86_64.so")
# Their documented departures from the suite's rules, each relaxing one check (the keys
# are explained in deviations.hpp). Found by running the suite; glibc and ours have none.
set(MTREPLAY_ALLOCATOR_jemalloc_DEVIATIONS small-block-alignment errno-on-failure
    zero-size-alignment)
set(MTREPLAY_ALLOCATOR_tcmalloc_DEVIATIONS small-block-alignment errno-on-failure
    invalid-alignment pvalloc-overflow)
set(MTREPLAY_ALLOCATOR_mimalloc_DEVIATIONS small-block-alignment errno-on-failure
    misaligned-after-reuse)
set(MTREPLAY_ALLOCATOR_scudo_DEVIATIONS errno-on-failure huge-alignment
    aligned-alloc-size-multiple)

foreach(entry IN LISTS _mtreplay_system_allocators)
  string(REPLACE "=" ";" pair "${entry}")
  list(GET pair 0 name)
  list(GET pair 1 path)
  if(EXISTS "${path}")
    list(APPEND MTREPLAY_ALLOCATOR_BACKENDS ${name})
    set(MTREPLAY_ALLOCATOR_${name}_PATH "${path}")
  else()
    message(STATUS "allocator tests: ${name} not installed (${path}), left out")
  endif()
endforeach()

# Ours: the preload .so of each lands in build/lib/lib<name>.so. The target that
# produces it is the first of these names that exists.
set(MTREPLAY_OUR_ALLOCATORS arena dsmalloc ptmalloc)
foreach(name IN LISTS MTREPLAY_OUR_ALLOCATORS)
  set(MTREPLAY_OUR_${name}_PATH "${CMAKE_BINARY_DIR}/lib/lib${name}.so")
  set(MTREPLAY_OUR_${name}_TARGET "")
  foreach(candidate ${name} ${name}_preload ${name}_so)
    if(TARGET ${candidate})
      get_target_property(type ${candidate} TYPE)
      if(type STREQUAL "SHARED_LIBRARY" OR type STREQUAL "MODULE_LIBRARY")
        set(MTREPLAY_OUR_${name}_TARGET ${candidate})
        break()
      endif()
    endif()
  endforeach()
  if(MTREPLAY_OUR_${name}_TARGET)
    list(APPEND MTREPLAY_ALLOCATOR_BACKENDS ${name})
    set(MTREPLAY_ALLOCATOR_${name}_PATH "${MTREPLAY_OUR_${name}_PATH}")
  endif()
endforeach()

# Builds our allocators' .so before <target>, so a test never runs against a stale one.
function(mtreplay_depend_on_backends target)
  foreach(name IN LISTS MTREPLAY_OUR_ALLOCATORS)
    if(MTREPLAY_OUR_${name}_TARGET)
      add_dependencies(${target} ${MTREPLAY_OUR_${name}_TARGET})
    endif()
  endforeach()
endfunction()

# The environment a test needs to run under backend <name>: LD_PRELOAD (none for glibc)
# and the expectation the test binaries check, so a misconfigured run cannot pass.
function(mtreplay_backend_environment name out_var)
  set(path "${MTREPLAY_ALLOCATOR_${name}_PATH}")
  set(env "MTREPLAY_EXPECT_ALLOCATOR=${name}" "MTREPLAY_EXPECT_ALLOCATOR_PATH=${path}")
  if(MTREPLAY_ALLOCATOR_${name}_DEVIATIONS)
    string(REPLACE ";" "," deviations "${MTREPLAY_ALLOCATOR_${name}_DEVIATIONS}")
    list(APPEND env "MTREPLAY_KNOWN_DEVIATIONS=${deviations}")
  endif()
  # A sanitizer runtime must come first in the process; preloading before it aborts at
  # start-up, so sanitizer builds run without the backend and the tests skip themselves.
  if(path AND NOT MTREPLAY_SANITIZE)
    list(APPEND env "LD_PRELOAD=${path}")
  endif()
  set(${out_var} "${env}" PARENT_SCOPE)
endfunction()
