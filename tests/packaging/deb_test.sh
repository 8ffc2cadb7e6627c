#!/usr/bin/env bash
# Builds the Debian package with CPack and installs it in a clean root, then runs
# `mtreplay --help`, `mtreplay allocators` and a short compare of an installed sample
# there and removes the package, checking nothing of it is left.
#   deb_test.sh BUILD_DIR dpkg-root   the package into an empty root with `dpkg --root`
#                                     (its dependencies from this machine; ~30 s)
#   deb_test.sh BUILD_DIR chroot      a minimal Debian made by debootstrap from the
#                                     machine's Debian mirror, the package installed by
#                                     apt with its dependencies, run inside a chroot
#                                     (minutes: label long)
set -euo pipefail
build=$(realpath "$1")
how=$2
# The package's library directory under /usr (lib, or lib/<triplet> when configured for /usr).
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mtreplay-deb.XXXXXX")
cleanup() {
  # A failed chroot run may leave /proc mounted inside the root: it is in our private
  # mount namespace, gone with it; only then remove the tree.
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$tmp"/out/mtreplay_*.deb)
echo "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
# Dependencies are Debian's package names, the peer allocators only suggested.
depends=$(dpkg-deb -f "$deb" Depends)
suggests=$(dpkg-deb -f "$deb" Suggests)
for p in libzstd1 libfmt libboost-program-options libstdc++6 libc6; do
  [[ $depends == *"$p"* ]] || fail "Depends lacks $p: $depends"
done
for p in libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0; do
  [[ $suggests == *"$p"* ]] || fail "Suggests lacks $p: $suggests"
  [[ $depends != *"$p"* ]] || fail "$p is a Depends, not a Suggests"
done
dpkg-deb -c "$deb" >"$tmp/contents"
for f in usr/bin/mtreplay usr/libexec/mtreplay/mtreplay-worker "usr/$libdir/libmhook.so" \
  usr/share/man/man1/mtreplay-compare.1 usr/share/mtreplay/samples/gcc.mtr; do
  grep -q "\./$f\$" "$tmp/contents" || fail "no /$f in the package"
done

# What every clean root must show once the package is in: ROOT_RUN runs a command there,
# $1 is the root as the command sees it ("" inside a chroot).
check_installed() {
  local help
  help=$($ROOT_RUN /usr/bin/mtreplay --help) || fail "mtreplay --help in the root"
  grep -q '^  compare ' <<<"$help" || fail "mtreplay --help in the root lists no compare"
  $ROOT_RUN /usr/bin/mtreplay allocators --json >"$tmp/allocators.json"
  python3 - "$tmp/allocators.json" "$1/usr/$libdir" <<'PY'
import json, sys
listing = {a["name"]: a for a in json.load(open(sys.argv[1]))}
for name in ["arena", "dsmalloc", "ptmalloc"]:
    if not listing[name]["available"] or listing[name]["path"] != f"{sys.argv[2]}/lib{name}.so":
        sys.exit(f"FAIL: {name} in the root: {listing[name]}")
PY
  $ROOT_RUN /usr/bin/mtreplay compare -a arena,glibc --repeat 1 --warmup 0 --mode single \
    "$1/usr/share/mtreplay/samples/gcc.mtr" >"$tmp/compare.txt" ||
    { cat "$tmp/compare.txt"; fail "compare in the root"; }
  grep -q arena "$tmp/compare.txt" || fail "compare's table has no arena"
  # record: the installed hook under a real program; the trace lands in the root's /tmp.
  mkdir -p "$root/tmp"
  $ROOT_RUN /usr/bin/mtreplay record -q -o "$1/tmp/sort.%p.mtr" -- sort "$1/usr/share/doc/mtreplay/README.md" \
    >/dev/null || fail "record in the root"
  local trace
  trace=$(cd "$root/tmp" && ls sort.*.mtr | head -1)
  [[ -n $trace ]] || fail "record wrote no trace in the root"
  $ROOT_RUN /usr/bin/mtreplay info "$1/tmp/$trace" >"$tmp/info.txt" ||
    fail "info of the recorded trace in the root"
  grep -q malloc "$tmp/info.txt" || fail "the recorded trace has no malloc"
  rm -f "$root"/tmp/sort.*.mtr
}

case $how in
  dpkg-root)
    root="$tmp/root"
    mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
    touch "$root/var/lib/dpkg/status"
    # The root has no libc or shell of its own: dependencies are this machine's
    # (--force-depends) and the maintainer scripts (CPack's `ldconfig` after install and
    # removal) run outside it (--force-script-chrootless), with a stand-in ldconfig
    # first on PATH so that this machine's cache is left alone. What is checked is
    # dpkg's install and removal of every file, that the scripts ran, and that the
    # installed tree works from wherever the root is.
    mkdir -p "$tmp/stub"
    printf '#!/bin/sh\necho "ldconfig $DPKG_ROOT" >>"%s/ldconfig.calls"\n' "$tmp" >"$tmp/stub/ldconfig"
    chmod +x "$tmp/stub/ldconfig"
    export PATH="$tmp/stub:$PATH"
    dpkg --root="$root" --force-depends --force-script-chrootless -i "$deb" >"$tmp/dpkg.log" 2>&1 ||
      { cat "$tmp/dpkg.log"; fail "dpkg --root -i"; }
    [[ $(cat "$tmp/ldconfig.calls") == "ldconfig $root" ]] || fail "postinst did not run ldconfig"
    # Paths inside the root are prefixed: run its binaries by their path in the root.
    run_in_root() {
      local cmd=$1
      shift
      "$root$cmd" "$@"
    }
    ROOT_RUN=run_in_root
    check_installed "$root"
    dpkg --root="$root" --force-depends --force-script-chrootless -r mtreplay \
      >"$tmp/dpkg-r.log" 2>&1 ||
      { cat "$tmp/dpkg-r.log"; fail "dpkg --root -r"; }
    left=$(find "$root" -not -path "$root/var/lib/dpkg*" -type f)
    [[ -z $left ]] || fail "left after removal: $left"
    ;;
  chroot)
    command -v debootstrap >/dev/null || fail "debootstrap is not installed (scripts/setup.sh)"
    # This machine's Debian mirror, from its apt sources (one-line or deb822 form).
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -oE 'https?://[^ ]+/debian/?( |$)' |
      head -1 | tr -d ' ' || true)
    [[ -n $mirror ]] || fail "no Debian mirror in /etc/apt/sources.list*"
    suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
    root="$tmp/root"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
      { tail -20 "$tmp/debootstrap.log"; fail "debootstrap $suite"; }
    cp "$deb" "$root/tmp/"
    # A private mount namespace: /proc for the chroot, gone when the test ends.
    unshare --mount -- bash -euo pipefail -c '
      root=$1 deb=$2 tmp=$3
      mount -t proc proc "$root/proc"
      chroot "$root" apt-get update -q >"$tmp/apt.log" 2>&1
      DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q --no-install-recommends \
        "/tmp/$(basename "$deb")" >>"$tmp/apt.log" 2>&1 || { tail -20 "$tmp/apt.log"; exit 1; }
    ' _ "$root" "$deb" "$tmp" || fail "apt-get install of the .deb in the chroot"
    run_in_chroot() { unshare --mount -- bash -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' _ "$root" "$root" "$@"; }
    ROOT_RUN=run_in_chroot
    # Inside the chroot its paths are plain: check against an empty root prefix.
    check_installed ""
    run_in_chroot apt-get remove -y -q --purge mtreplay >"$tmp/remove.log" 2>&1 ||
      { cat "$tmp/remove.log"; fail "apt-get remove in the chroot"; }
    for f in usr/bin/mtreplay usr/libexec/mtreplay "usr/$libdir/libarena.so" usr/share/mtreplay \
      "usr/$libdir/cmake/mtreplay"; do
      [[ ! -e $root/$f ]] || fail "$f left after removal"
    done
    ;;
  *) fail "unknown mode $how (dpkg-root or chroot)" ;;
esac
echo "ok: .deb installed, ran and removed ($how)"
