#!/usr/bin/env bash
# Replayer benchmarks (BENCHMARKS.md "Replayer harness cost and scaling"):
#  1. harness cost: a synthetic trace replayed under the null allocator;
#  2. scaling: 1 vs 2 recorded threads with the same per-thread work, sharing no
#     object (t2) or 0.1% of them (t2s: freed by the other thread);
#  3. the live map: the same traces under the null allocator with the array live map
#     (the default) and with lphash::PointerMap keyed by object id (sized for the live
#     set, or for all objects) or by recorded address;
#  4. pacing: the null-allocator harness free-running (--pace none) and paced (the
#     default window), run by run in turns: what keeping threads in step costs per op;
#  5. a recorded real program (python3) replayed under glibc vs the program's own run.
# Usage: bench_replayer.sh BUILD_DIR [RUNS]. Medians of RUNS (default 5) fresh processes;
# in part 1 the traces take turns run by run.
set -euo pipefail
build=${1:?usage: bench_replayer.sh BUILD_DIR [RUNS]}
runs=${2:-5}
bin=$(cd "$build/bin" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Synthetic traces (tests/tools/trace_gen): each thread churns a window of 256 live
# objects of 16..1024 bytes, malloc and free only, 4 M events per thread, an event
# every 10 ns of recorded time in the whole trace.
churn=(--live 256 --lifetime fifo --long 0 --realloc 0 --calloc 0 --memalign 0
  --usable-size 0 --min-size 16 --max-size 1024)
"$bin/trace_gen" "$work/t1.mtr" "${churn[@]}" --threads 1 --events 4000000 --gap-ns 10 --cross 0
"$bin/trace_gen" "$work/t2.mtr" "${churn[@]}" --threads 2 --events 8000000 --gap-ns 20 --cross 0
"$bin/trace_gen" "$work/t2s.mtr" "${churn[@]}" --threads 2 --events 8000000 --gap-ns 20 \
  --cross 0.001

summary() {  # JSON files -> median wall ns, cpu ns, ops, threads
  python3 - "$@" <<'PY'
import json, statistics, sys
runs = [r for f in sys.argv[1:] for r in json.load(open(f))["runs"]
        if r["status"] == "ok" and not r["warmup"]]
wall = statistics.median(r["wall_ns"] for r in runs)
cpu = statistics.median(r["cpu_user_ns"] + r["cpu_sys_ns"] for r in runs)
r = runs[0]
print(f'{wall:.0f} {cpu:.0f} {r["ops"]} {r["trace"]["threads"]}')
PY
}

echo "== harness cost and scaling (medians of $runs runs; load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-8s %-7s %10s %10s %14s %14s %12s\n' allocator trace wall_ms cpu_ms "ns/op/thread" "cpu ns/op" "Mops/s"
declare -A rate
for allocator in null glibc; do
  # The three traces take turns, one run each per round, so that a change in the
  # machine's load hits them alike (the scaling ratios compare them).
  for trace in t1 t2 t2s; do
    "$bin/mtreplay" replay "$work/$trace.mtr" --allocator $allocator --touch none --quiet --json "$work/warmup.json"
  done
  for round in $(seq "$runs"); do
    for trace in t1 t2 t2s; do
      "$bin/mtreplay" replay "$work/$trace.mtr" --allocator $allocator --touch none --quiet \
        --json "$work/$allocator.$trace.$round.json"
    done
  done
  for trace in t1 t2 t2s; do
    read -r wall cpu ops threads < <(summary "$work/$allocator.$trace".*.json)
    rate[$allocator.$trace]=$(python3 -c "print($ops / $wall * 1e3)")
    python3 -c "print('%-8s %-7s %10.1f %10.1f %14.2f %14.2f %12.2f' % ('$allocator', '$trace', $wall/1e6, $cpu/1e6, $wall*$threads/$ops, $cpu/$ops, $ops/$wall*1e3))"
  done
  python3 -c "print('  %s: 2 threads / 1 thread throughput = %.2fx (t2), %.2fx (t2s)' % ('$allocator', ${rate[$allocator.t2]} / ${rate[$allocator.t1]}, ${rate[$allocator.t2s]} / ${rate[$allocator.t1]}))"
done

echo "== live map: array vs lphash::PointerMap, null allocator (medians of $runs runs; load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-16s %-7s %10s %10s %14s %14s\n' live-map trace wall_ms cpu_ms "ns/op/thread" "cpu ns/op"
for trace in t1 t2 t2s; do
  maps="array lphash lphash-presized"
  # t2s hands addresses between threads, which the address-keyed map cannot order.
  [ $trace != t2s ] && maps="$maps lphash-address"
  for map in $maps; do
    "$bin/mtreplay" replay "$work/$trace.mtr" --allocator null --touch none --live-map $map --repeat "$runs" \
      --warmup 1 --quiet --json "$work/map.$map.$trace.json"
    read -r wall cpu ops threads < <(summary "$work/map.$map.$trace.json")
    python3 -c "print('%-16s %-7s %10.1f %10.1f %14.2f %14.2f' % ('$map', '$trace', $wall/1e6, $cpu/1e6, $wall*$threads/$ops, $cpu/$ops))"
  done
done

echo "== pacing: --pace none vs the default window, null allocator (medians of $runs runs; load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-7s %-10s %10s %10s %14s %14s\n' trace pace wall_ms cpu_ms "ns/op/thread" "cpu ns/op"
for round in $(seq "$runs"); do
  for trace in t1 t2 t2s; do
    for pace in none default; do
      flag=(); [ $pace = none ] && flag=(--pace none)
      "$bin/mtreplay" replay "$work/$trace.mtr" --allocator null --touch none "${flag[@]}" --quiet \
        --json "$work/pace.$pace.$trace.$round.json"
    done
  done
done
for trace in t1 t2 t2s; do
  declare -A per_op
  for pace in none default; do
    read -r wall cpu ops threads < <(summary "$work/pace.$pace.$trace".*.json)
    per_op[$pace]=$(python3 -c "print($wall*$threads/$ops)")
    python3 -c "print('%-7s %-10s %10.1f %10.1f %14.2f %14.2f' % ('$trace', '$pace', $wall/1e6, $cpu/1e6, $wall*$threads/$ops, $cpu/$ops))"
  done
  python3 -c "print('  $trace: pacing adds %+.2f ns/op/thread' % (${per_op[default]} - ${per_op[none]}))"
done

echo "== a recorded real program: python3 building 1.2M strings (PYTHONMALLOC=malloc)"
program=(python3 -c 'x=[str(i) for i in range(10**6)]; d={i:str(i) for i in range(200000)}')
(cd "$work" && PYTHONMALLOC=malloc "$bin/mtreplay" record -q -o 'py.%p.mtr' -- "${program[@]}")
trace=$(ls -S "$work"/py.*.mtr | head -1)
own=$(python3 - "${program[@]}" <<'PY'
import os, statistics, subprocess, sys, time
env = dict(os.environ, PYTHONMALLOC="malloc")
times = []
for _ in range(5):
    start = time.perf_counter()
    subprocess.run(sys.argv[1:], env=env, check=True)
    times.append(time.perf_counter() - start)
print(f"{statistics.median(times) * 1e9:.0f}")
PY
)
"$bin/mtreplay" replay "$trace" --allocator glibc --repeat "$runs" --quiet --json "$work/py.json"
read -r wall cpu ops threads < <(summary "$work/py.json")
python3 -c "print('program own run %.1f ms; replay under glibc %.1f ms wall (%.1f ms cpu) for %d ops; replay/program = %.2f' % ($own/1e6, $wall/1e6, $cpu/1e6, $ops, $wall/$own))"
