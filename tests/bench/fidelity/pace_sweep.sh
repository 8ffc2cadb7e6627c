#!/usr/bin/env bash
# Pacing windows against the recording (BENCHMARKS.md "Pacing"): for each trace, the
# replay's peak live bytes as a multiple of the recorded peak, its wall and CPU time and
# the pacing wait, free-running (--pace none) and at several windows, under glibc.
# Traces: the prodcons sample, and fresh recordings of the sample's program and of
# batch_queue (a bounded queue of std::map batches). Medians of RUNS fresh processes,
# the windows taking turns run by run.
# Usage: pace_sweep.sh BUILD_DIR [RUNS] [WINDOWS...]
set -euo pipefail
build=${1:?usage: pace_sweep.sh BUILD_DIR [RUNS] [WINDOWS...]}
runs=${2:-5}
shift $(($# < 2 ? $# : 2))
windows=("$@")
((${#windows[@]})) || windows=(none 10ms 1ms 250us 100us 20us)
bin=$(cd "$build/bin" && pwd)
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp "$root/traces/samples/prodcons.mtr" "$work/prodcons-sample.mtr"
"$bin/mtreplay" record -q -o "$work/prodcons-fresh.%p.mtr" -- "$bin/sample_prodcons" 2 2 20000 >/dev/null
"$bin/mtreplay" record -q -o "$work/batch-queue.%p.mtr" -- "$bin/fidelity_batch_queue" >/dev/null
echo "== pacing windows (glibc, medians of $runs runs; load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-16s %-7s %12s %10s %10s %10s\n' trace pace "live/recorded" wall_ms cpu_ms pace_ms
for trace in "$work"/*.mtr; do
  name=$(basename "$trace" .mtr); name=${name%%.*}
  recorded=$("$bin/mtreplay" info --json "$trace" | python3 -c 'import json,sys; print(json.load(sys.stdin)["peak_live"]["bytes"])')
  for round in $(seq "$runs"); do
    for pace in "${windows[@]}"; do
      "$bin/mtreplay" replay "$trace" --pace "$pace" --quiet --json "$work/$name.$pace.$round.json"
    done
  done
  for pace in "${windows[@]}"; do
    python3 - "$recorded" "$name" "$pace" "$work/$name.$pace".*.json <<'PY'
import json, statistics, sys
recorded, name, pace, files = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
runs = [json.load(open(f))["runs"][0] for f in files]
med = lambda f: statistics.median(f(r) for r in runs)
live = sorted(r["peak_live_bytes"] / recorded for r in runs)
print(f'{name:<16} {pace:<7} {statistics.median(live):6.2f} ({live[0]:.2f}-{live[-1]:.2f}) '
      f'{med(lambda r: r["wall_ns"]) / 1e6:10.1f} {med(lambda r: r["cpu_user_ns"] + r["cpu_sys_ns"]) / 1e6:10.1f} '
      f'{med(lambda r: r["pace_wait_ns"]) / 1e6:10.1f}')
PY
  done
done
