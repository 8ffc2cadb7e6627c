#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds programs outside the tree
# against it and runs them: a CMake project with find_package(mtreplay CONFIG
# COMPONENTS arena) linking mtreplay::arena, and C programs built with
# `pkg-config --cflags --libs mtreplay-dsmalloc` / `mtreplay-ptmalloc`. A component that
# does not exist must fail find_package.
# usage: consumer_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1")
source=$(realpath "$2")
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mtreplay-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
cmake --install "$build" --prefix "$tmp/first" >/dev/null
mv "$tmp/first" "$tmp/prefix"  # the packages are relocatable too
prefix="$tmp/prefix"
cp -r "$source/tests/packaging/consumer" "$tmp/consumer"

# CMake: configure, build, run (CMake's build RPATH points at the imported library).
cmake -S "$tmp/consumer" -B "$tmp/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "configuring the consumer"; }
cmake --build "$tmp/consumer-build" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "building the consumer"; }
"$tmp/consumer-build/uses_arena" || fail "uses_arena"
# (not `ldd | grep -q`: with pipefail, grep's early exit can fail the pipe)
libraries=$(ldd "$tmp/consumer-build/uses_arena")
[[ $libraries == *"$prefix/$libdir/libarena.so"* ]] ||
  fail "uses_arena does not load the installed libarena.so"

# An unknown component is an error of find_package, naming it.
mkdir -p "$tmp/bogus"
cat >"$tmp/bogus/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(bogus C)  # C: find_package then searches lib/<triplet> too
find_package(mtreplay CONFIG REQUIRED COMPONENTS arena tcmalloc)
CM
if cmake -S "$tmp/bogus" -B "$tmp/bogus-build" -DCMAKE_PREFIX_PATH="$prefix" \
  >"$tmp/bogus.log" 2>&1; then
  fail "find_package accepted the component tcmalloc"
fi
grep -q "tcmalloc" "$tmp/bogus.log" || fail "find_package's error does not name tcmalloc"

# pkg-config: the .pc files find the moved prefix through their own location.
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
for allocator in dsmalloc ptmalloc; do
  flags=$(pkg-config --cflags --libs "mtreplay-$allocator")
  [[ $flags == *"-I$prefix/"* ]] || fail "pkg-config mtreplay-$allocator gives $flags"
  define=""
  [[ $allocator == dsmalloc ]] && define=-DUSE_DSMALLOC
  # shellcheck disable=SC2086
  cc $define -o "$tmp/uses_$allocator" "$tmp/consumer/uses_allocator.c" $flags
  LD_LIBRARY_PATH="$prefix/$libdir" "$tmp/uses_$allocator" || fail "uses_$allocator"
done
[[ $(pkg-config --modversion mtreplay-arena) == "$(cat "$build/packaging/version.txt")" ]] ||
  fail "mtreplay-arena.pc has the wrong version"
echo "ok: find_package(mtreplay COMPONENTS arena), pkg-config dsmalloc and ptmalloc"
