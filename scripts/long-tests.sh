#!/usr/bin/env bash
# The runs too long for CI: stress and fuzz tests labeled `long` (and the .deb in a
# debootstrapped chroot, label `package`, which needs the Debian mirror), in the normal build
# and under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build -L long --output-on-failure
cmake -S . -B build-thread -G Ninja -DMTREPLAY_SANITIZE=thread >/dev/null
cmake --build build-thread --target sanitizer_tests
ctest --test-dir build-thread -L sanitizer -L long --output-on-failure
