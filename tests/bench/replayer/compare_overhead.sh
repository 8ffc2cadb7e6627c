#!/usr/bin/env bash
# compare's own cost above its replays (BENCHMARKS.md "Plan once: compare's overhead").
# Records the python workload of issue #11 (7.4 M events), then runs
#   mtreplay compare TRACE -a glibc,arena --repeat 3 --warmup 1
# ROUNDS times with a cold plan cache (an empty --cache-dir: the trace is planned once,
# by the first run) and ROUNDS times with a warm one (the plan is mapped by every run),
# interleaved, and prints per round: elapsed, the sum of the 8 runs' wall_ns, the ratio.
# Usage: compare_overhead.sh BUILD_DIR [ROUNDS] [TRACE]
set -euo pipefail
build=${1:?usage: compare_overhead.sh BUILD_DIR [ROUNDS] [TRACE]}
rounds=${2:-3}
bin=$(cd "$build/bin" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trace=${3:-}
if [ -z "$trace" ]; then
  (cd "$work" && "$bin/mtreplay" record -o "$work/py.%p.mtr" -- env PYTHONMALLOC=malloc \
    python3 -c 'x=[str(i) for i in range(10**6)]; d={i:str(i) for i in range(200000)}' \
    >/dev/null 2>&1)
  trace=$(ls -S "$work"/py.*.mtr | head -1)  # the interpreter's own trace: the largest
fi

one() {  # CACHE_DIR LABEL
  local start end
  start=$(date +%s.%N)
  "$bin/mtreplay" compare "$trace" -a glibc,arena --repeat 3 --warmup 1 --cache-dir "$1" \
    --json "$work/out.json" >/dev/null
  end=$(date +%s.%N)
  python3 - "$work/out.json" "$start" "$end" "$2" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
elapsed = float(sys.argv[3]) - float(sys.argv[2])
replays = sum(r["wall_ns"] for r in runs if r["status"] == "ok") / 1e9
print(f"{sys.argv[4]:5} runs {len(runs)}  elapsed {elapsed:6.2f} s  replays {replays:5.2f} s"
      f"  ratio {elapsed / replays:4.2f}")
PY
}

echo "trace $(basename "$trace"): $("$bin/mtreplay" info "$trace" | head -1)"
echo "load: $(uptime)"
for i in $(seq "$rounds"); do
  rm -rf "$work/cache"
  one "$work/cache" cold
  one "$work/cache" warm
done
echo "load: $(uptime)"
