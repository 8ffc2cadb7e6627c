#!/usr/bin/env bash
# Installs the build into a temporary prefix and into a DESTDIR, moves the prefix
# elsewhere and, with the build and source trees hidden (a private mount namespace
# with an empty tmpfs over each), checks that the installed mtreplay finds its worker,
# libraries and samples: `allocators` lists the project's allocators as available
# from the prefix, `record` traces a real program, `replay` runs the trace on arena,
# `compare` runs the installed samples; the man pages and bash completion are there.
# usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1")
source=$(realpath "$2")
# The library directory this build installs to (lib, or lib/<triplet> for prefix /usr).
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mtreplay-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# 1. A prefix install, then the whole prefix moved to another place.
cmake --install "$build" --prefix "$tmp/first" >/dev/null
mkdir -p "$tmp/moved"
mv "$tmp/first" "$tmp/moved/prefix"
prefix="$tmp/moved/prefix"
# 2. A DESTDIR install (as a package build does), used where it was staged.
DESTDIR="$tmp/stage" cmake --install "$build" --prefix /opt/mtreplay >/dev/null
staged="$tmp/stage/opt/mtreplay"

for p in "$prefix" "$staged"; do
  for f in bin/mtreplay libexec/mtreplay/mtreplay-worker libexec/mtreplay/mtreplay-launch \
    "$libdir"/libmhook.so \
    "$libdir"/libarena.so "$libdir"/libdsmalloc.so "$libdir"/libptmalloc.so \
    "$libdir"/libmtreplay_null.so include/arena/arena.h \
    include/mtreplay/dsmalloc/dsmalloc.h include/mtreplay/ptmalloc/ptmalloc.h \
    "$libdir"/cmake/mtreplay/mtreplayConfig.cmake "$libdir"/pkgconfig/mtreplay-arena.pc \
    share/mtreplay/samples/python3.mtr share/man/man1/mtreplay.1 \
    share/man/man1/mtreplay-compare.1 share/bash-completion/completions/mtreplay \
    share/doc/mtreplay/README.md; do
    [[ -e $p/$f ]] || fail "$p/$f not installed"
  done
done
# No path of the build tree is compiled into what was installed (RUNPATH, strings).
for f in "$prefix"/bin/mtreplay "$prefix"/libexec/mtreplay/mtreplay-worker "$prefix/$libdir"/*.so; do
  runpath=$(readelf -d "$f" | grep -E 'RPATH|RUNPATH' || true)
  if [[ $runpath == *"$build"* ]]; then
    fail "$f has a RUNPATH into the build tree"
  fi
done

# Runs a command with the build and source trees hidden when a mount namespace can be
# had (root, as in CI); otherwise as is (the trees are still not on any path we pass).
hidden() {
  if unshare --mount true 2>/dev/null; then
    # (cd /: a working directory inside the trees would still reach them)
    unshare --mount -- bash -c 'mount -t tmpfs none "$1" && mount -t tmpfs none "$2" &&
      cd / && shift 2 && exec "$@"' _ "$build" "$source" "$@"
  else
    "$@"
  fi
}
if ! unshare --mount true 2>/dev/null; then
  echo "note: no mount namespace here; the build tree is not hidden" >&2
fi

check_prefix() {
  local p=$1 work=$2
  mkdir -p "$work"
  # The project's allocators, available from this prefix.
  hidden "$p/bin/mtreplay" allocators --json >"$work/allocators.json"
  python3 - "$work/allocators.json" "$p/$libdir" <<'PY'
import json, sys
listing = {a["name"]: a for a in json.load(open(sys.argv[1]))}
for name, lib in [("arena", "libarena.so"), ("dsmalloc", "libdsmalloc.so"),
                  ("ptmalloc", "libptmalloc.so"), ("null", "libmtreplay_null.so")]:
    a = listing[name]
    want = f"{sys.argv[2]}/{lib}"
    if not a["available"] or a["path"] != want:
        sys.exit(f"FAIL: {name}: available={a['available']} path={a['path']} (want {want})")
PY
  # record: a real multithreaded program (xz with two threads) under the installed hook.
  head -c 3000000 /dev/urandom >"$work/input"
  hidden "$p/bin/mtreplay" record -q -o "$work/xz.%p.mtr" -- xz -T2 -k -1 "$work/input" ||
    fail "$p: record failed"
  local trace
  trace=$(ls "$work"/xz.*.mtr | head -1)
  [[ -s $trace ]] || fail "$p: record wrote no trace"
  hidden "$p/bin/mtreplay" info --json "$trace" >"$work/info.json"
  python3 - "$work/info.json" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
text = json.dumps(info)
def find(o, key):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == key: return v
            r = find(v, key)
            if r is not None: return r
    if isinstance(o, list):
        for v in o:
            r = find(v, key)
            if r is not None: return r
    return None
events, threads = find(info, "events"), find(info, "threads")
if not events or events < 10:
    sys.exit(f"FAIL: the recorded trace has {events} events")
PY
  # replay: the installed worker with the installed arena preloaded.
  hidden "$p/bin/mtreplay" replay "$trace" -a arena -q --json "$work/replay.json" ||
    fail "$p: replay on arena failed"
  # compare: no trace given, so the installed samples.
  hidden "$p/bin/mtreplay" compare -a arena,glibc --repeat 1 --warmup 0 --mode single \
    --json "$work/compare.json" >"$work/compare.txt" || fail "$p: compare of the samples failed"
  python3 - "$work/compare.json" "$p/share/mtreplay/samples" <<'PY'
import json, os, sys
runs = json.load(open(sys.argv[1]))["runs"]
samples = sorted(f for f in os.listdir(sys.argv[2]) if f.endswith(".mtr"))
seen = sorted({os.path.basename(r["trace"]["path"]) for r in runs})
if seen != samples:
    sys.exit(f"FAIL: compare ran {seen}, the installed samples are {samples}")
if sorted({r["allocator"]["name"] for r in runs}) != ["arena", "glibc"]:
    sys.exit("FAIL: compare did not run arena and glibc")
bad = [r for r in runs if r["status"] != "ok"]
if bad:
    sys.exit(f"FAIL: {len(bad)} runs not ok")
PY
  echo "ok: $p (allocators, record of xz -T2, replay on arena, compare of the samples)"
}

check_prefix "$prefix" "$tmp/work-moved"
check_prefix "$staged" "$tmp/work-staged"

# Run through a symlink elsewhere (as /usr/local/bin/mtreplay -> /opt/...): the tree is
# still the one the link points into.
mkdir -p "$tmp/linkbin"
ln -s "$prefix/bin/mtreplay" "$tmp/linkbin/mtreplay"
hidden "$tmp/linkbin/mtreplay" allocators --json >"$tmp/linked.json"
python3 - "$tmp/linked.json" "$prefix/$libdir/libarena.so" <<'PY'
import json, sys
arena = {a["name"]: a for a in json.load(open(sys.argv[1]))}["arena"]
if not arena["available"] or arena["path"] != sys.argv[2]:
    sys.exit(f"FAIL: through a symlink, arena is {arena}")
PY

# The man pages render, and each names every option its command's --help lists.
for page in "$prefix"/share/man/man1/mtreplay-*.1; do
  command=$(basename "$page" .1)
  command=${command#mtreplay-}
  text=$(MANWIDTH=200 man -l "$page" 2>/dev/null)
  for option in $("$prefix/bin/mtreplay" "$command" --help | awk '/^  -/ { print $1; if ($2 == "[") print $3 }'); do
    grep -qF -- "$option" <<<"$text" || fail "man page of $command lacks $option"
  done
done
# The completion offers the commands and a command's options, read from that mtreplay.
completions=$(PATH="$prefix/bin:$PATH" bash -c '
  source "$1"
  COMP_WORDS=(mtreplay co); COMP_CWORD=1; _mtreplay; echo "${COMPREPLY[*]}"
  COMP_WORDS=(mtreplay compare --rep); COMP_CWORD=2; _mtreplay; echo "${COMPREPLY[*]}"' _ \
  "$prefix/share/bash-completion/completions/mtreplay")
[[ $completions == $'compare\n--repeat' ]] || fail "bash completion gave: $completions"
echo "ok: man pages and bash completion"
