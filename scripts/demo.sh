#!/usr/bin/env bash
# The main job of README.md: set up, build, then replay the bundled sample traces
# against every allocator available here and print the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/bin/mtreplay compare "$@"
