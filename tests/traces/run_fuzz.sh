#!/bin/sh
# Builds the libFuzzer targets with clang-14 (ASan+UBSan) in build-fuzz/ and runs each
# for SECONDS (default 60). Usage: tests/traces/run_fuzz.sh [SECONDS]
# Crashes land in build-fuzz/fuzz/crash-* ; rerun one with: build-fuzz/bin/traces_fuzz_reader FILE
set -eu
seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-fuzz"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DMTREPLAY_FUZZ=ON \
  -DMTREPLAY_SANITIZE=address >/dev/null
cmake --build "$build" --target traces_fuzz_reader traces_fuzz_import traces_make_seeds -j2
mkdir -p "$build/fuzz" && cd "$build/fuzz"
"$build/bin/traces_make_seeds" seeds "$root"/tests/traces/data/*.txt
for target in reader import; do
  mkdir -p "corpus-$target"
  "$build/bin/traces_fuzz_$target" -max_total_time="$seconds" -timeout=10 \
    "corpus-$target" "seeds/$target"
done
