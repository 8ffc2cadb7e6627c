#!/usr/bin/env bash
# compare's own cost above its replays (BENCHMARKS.md "Plan once: compare's overhead").
# Records the python workload of issue #11 (7.4 M events), then runs
#   mtreplay compare TRACE -a glibc,arena --repeat 3 --warmup 1
# ROUNDS times with a cold plan cache (an empty --cache-dir: the trace is planned once,
# by the first run) and ROUNDS times with a warm one (the plan is mapped by every run),
# interleaved, and prints per round: elapsed, the sum of the 8 runs' wall_ns, the ratio.
# Then reading + planning throughput: `mtreplay replay --allocator null` with an empty
# plan cache minus the same with the plan cached, in events/s, beside `zstd -d` of the
# trace's zstd frames (extracted into one .zst) on the same machine.
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

# Reading + planning vs zstd's decompression of the same frames.
python3 - "$trace" "$work/frames.zst" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
at = struct.unpack_from("<I", data, 12)[0]
with open(sys.argv[2], "wb") as out:
    while at + 40 <= len(data) and data[at:at + 4] == b"MTRF":
        size = struct.unpack_from("<I", data, at + 24)[0]
        out.write(data[at + 40:at + 40 + size])
        at += 40 + size
PY
events=$("$bin/mtreplay" info "$trace" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
now() { date +%s.%N; }
plan_s=() zstd_s=()
for i in $(seq "$rounds"); do
  rm -rf "$work/pc"
  t0=$(now); "$bin/mtreplay" replay "$trace" --allocator null --quiet --cache-dir "$work/pc"
  t1=$(now); "$bin/mtreplay" replay "$trace" --allocator null --quiet --cache-dir "$work/pc"
  t2=$(now); zstd -q -d -c "$work/frames.zst" >/dev/null
  t3=$(now)
  plan_s+=("$(echo "($t1 - $t0) - ($t2 - $t1)" | bc -l)") zstd_s+=("$(echo "$t3 - $t2" | bc -l)")
done
python3 - "$events" "$(stat -c %s "$work/frames.zst")" "${plan_s[*]}" "${zstd_s[*]}" <<'PY'
import statistics, sys
events, zbytes = int(sys.argv[1]), int(sys.argv[2])
plan = statistics.median(float(x) for x in sys.argv[3].split())
zstd = statistics.median(float(x) for x in sys.argv[4].split())
print(f"read+plan {plan:.2f} s = {events / plan / 1e6:.2f} M events/s;"
      f" zstd -d of its {zbytes / 1e6:.1f} MB of frames {zstd:.3f} s = {events / zstd / 1e6:.1f} M events/s")
PY
echo "load: $(uptime)"
