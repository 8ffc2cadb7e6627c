#!/usr/bin/env bash
# Scale (BENCHMARKS.md "Scale", issue #11): peak RSS and time of info, dump, import
# and diff on generated traces of growing length with the same live set. Memory must
# stay flat. Two address models: "reuse" (allocator-like reuse, trace_gen defaults) and
# "fresh" (half the allocations at addresses never used again, so every address the
# trace ever released is new).
# Usage: bench_scale.sh BUILD_DIR [LARGEST_EVENTS (default 100000000)] [WORK_DIR]
# (a 10^8-event trace is ~600 MB; dump | import streams 3.4 GB of text through a pipe).
set -euo pipefail
build=${1:?usage: bench_scale.sh BUILD_DIR [LARGEST_EVENTS] [WORK_DIR]}
largest=${2:-100000000}
bin=$(cd "$build/bin" && pwd)
work=${3:-$(mktemp -d)}
[ -z "${3:-}" ] && trap 'rm -rf "$work"' EXIT
cd "$work"

rss() {  # LABEL CMD... : prints "LABEL seconds s max-RSS KB"
  local label=$1
  shift
  /usr/bin/time -f "$label %e s %M KB" -o time.txt "$@" >/dev/null
  cat time.txt
}

for model in reuse fresh; do
  extra=()
  [ $model = fresh ] && extra=(--fresh 0.5)
  for n in 1000000 10000000 100000000; do
    [ "$n" -le "$largest" ] || continue
    trace=$model.$n.mtr
    echo "== $model, $n events (load $(cut -d' ' -f1-3 /proc/loadavg))"
    rss trace_gen "$bin/trace_gen" "$trace" --threads 4 --events "$n" --live 1024 --long 0.01 \
      --long-span 0.9 --cross 0.05 "${extra[@]}"
    echo "file $(stat -c %s "$trace") bytes"
    rss info "$bin/mtreplay" info --no-progress "$trace"
    /usr/bin/time -f "dump %e s %M KB" -o dump.txt "$bin/mtreplay" dump --no-progress "$trace" |
      /usr/bin/time -f "import %e s %M KB" -o import.txt \
        "$bin/mtreplay" import --no-progress - -o re.mtr 2>/dev/null
    cat dump.txt import.txt
    rm -f re.mtr
  done
  rm -f $model.*.mtr
done

# diff reads result files, whose size does not grow with the trace (per-run figures,
# a bounded RSS timeline): results of replays of a 10^6- and a 10^7-event trace.
for n in 1000000 10000000; do
  "$bin/trace_gen" t.mtr --threads 4 --events $n --live 1024 --long 0.01 --cross 0.05 2>/dev/null
  for side in base cand; do
    "$bin/mtreplay" replay t.mtr --repeat 3 --quiet --no-cache --json $side.json
  done
  echo "== diff of two 3-run results of a $n-event trace ($(stat -c %s base.json) bytes)"
  rss diff "$bin/mtreplay" diff base.json cand.json
done
