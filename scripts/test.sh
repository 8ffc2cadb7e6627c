#!/usr/bin/env bash
# The test command of README.md: sets up, builds, runs the whole suite through CTest,
# then rebuilds the concurrent parts under AddressSanitizer and ThreadSanitizer and
# runs their tests there. Long stress/fuzz runs: scripts/long-tests.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)

scripts/build.sh
ctest --test-dir build -LE 'long|bench' --output-on-failure -j "$jobs"

for san in address thread; do
  cmake -S . -B "build-$san" -G Ninja -DMTREPLAY_SANITIZE=$san >/dev/null
  cmake --build "build-$san" --target sanitizer_tests
  ctest --test-dir "build-$san" -L sanitizer -LE 'long|bench' --output-on-failure -j "$jobs"
done
