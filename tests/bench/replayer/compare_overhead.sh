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
# "per-run" rows: the same 8 replays as separate `mtreplay replay --no-cache` (each reads
# and plans the trace, as compare's runs did before the plan cache; PER_RUN=0 skips).
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

report() {  # LABEL START END CPU_FILE JSON...
  python3 - "$@" <<'PY'
import json, sys
label, start, end, cpu_file = sys.argv[1:5]
runs = [r for f in sys.argv[5:] for r in json.load(open(f))["runs"]]
elapsed = float(end) - float(start)
cpu = sum(float(x) for x in open(cpu_file).read().split())
replays = sum(r["wall_ns"] for r in runs if r["status"] == "ok") / 1e9
timed = replays + sum(r.get("excluded_ns", 0) for r in runs if r["status"] == "ok") / 1e9
run_cpu = sum(r["cpu_user_ns"] + r["cpu_sys_ns"] for r in runs if r["status"] == "ok") / 1e9
print(f"{label:7} runs {len(runs)}  elapsed {elapsed:6.2f} s  replays {replays:5.2f} s"
      f"  ratio {elapsed / replays:4.2f}  (with touch work {elapsed / timed:4.2f})"
      f"  cpu {cpu:5.2f} s vs the runs' {run_cpu:5.2f} s")
PY
}

one() {  # CACHE_DIR LABEL
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/cpu" "$bin/mtreplay" compare "$trace" -a glibc,arena \
    --repeat 3 --warmup 1 --cache-dir "$1" --json "$work/out.json" >/dev/null
  end=$(date +%s.%N)
  report "$2" "$start" "$end" "$work/cpu" "$work/out.json"
}

# What compare did before the plan cache: 8 replays, each reading and planning.
per_run() {
  local start end i
  start=$(date +%s.%N)
  : >"$work/cpu"
  for i in 1 2 3 4 5 6 7 8; do
    /usr/bin/time -f "%U %S" -a -o "$work/cpu" "$bin/mtreplay" replay "$trace" --quiet \
      --no-cache -a "$([ $((i % 2)) = 0 ] && echo glibc || echo arena)" --json "$work/r$i.json"
  done
  end=$(date +%s.%N)
  report per-run "$start" "$end" "$work/cpu" "$work"/r?.json
}

echo "trace $(basename "$trace"): $("$bin/mtreplay" info "$trace" | head -1)"
echo "load: $(uptime)"
for i in $(seq "$rounds"); do
  rm -rf "$work/cache"
  one "$work/cache" cold
  one "$work/cache" warm
  [ "${PER_RUN:-1}" = 0 ] || per_run
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
