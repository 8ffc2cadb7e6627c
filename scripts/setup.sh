#!/usr/bin/env bash
# Installs everything mtreplay builds, tests and compares with, from Debian's packages.
# Idempotent: apt runs only when something is missing.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config
  libboost-program-options-dev libfmt-dev libzstd-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # sanitizers and fuzzing (clang's runtimes)
  clang-14 libclang-rt-14-dev
  # the allocators we compare against
  libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0
  # lphash's benchmark peers
  libck-dev libtbb-dev libcuckoo-dev
  # real programs the tests run, the recorder's peer, the HTML report's test
  python3 git xz-utils coreutils zstd heaptrack libc-devtools chromium hyperfine parallel
  # the .deb (cpack's dpkg-shlibdeps) and its clean-root test
  dpkg-dev debootstrap man-db
  # the fidelity benchmark's programs (tests/bench/fidelity); the allocator harness's jq
  sqlite3 perl jq
  # instructions per allocator call (tests/bench/allocators/instruction_counts.py)
  valgrind
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
