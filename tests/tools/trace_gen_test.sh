#!/usr/bin/env bash
# trace_gen on small traces, one per feature (tests/tools/README.md):
#  - `mtreplay info --json` counts exactly what trace_gen says it wrote (--json);
#  - the same arguments give the same bytes, another seed other bytes;
#  - the dump shows the model: growing stamps, thread_start first and thread_exit last
#    per thread, cross-thread frees after their allocation, addresses reused many times,
#    long-lived objects spanning most of the trace only when asked for, aligned results;
#  - replay --verify (serial and parallel, glibc) runs clean: exit 0, no anomaly.
# Usage: trace_gen_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: trace_gen_test.sh BUILD_DIR}
bin=$(cd "$build/bin" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {  # NAME yes|no|any(objects living over 40% of the trace) TRACE_GEN_ARGS...: generate, compare with info, inspect the dump
  local name=$1 expect_long=$2
  shift 2
  "$bin/trace_gen" "$work/$name.mtr" "$@" --json >"$work/$name.gen.json" 2>/dev/null
  "$bin/mtreplay" info --json "$work/$name.mtr" >"$work/$name.info.json"
  "$bin/mtreplay" dump --format jsonl "$work/$name.mtr" >"$work/$name.jsonl"
  python3 - "$work/$name" "$expect_long" <<'PY'
import json, sys
base, expect_long = sys.argv[1], sys.argv[2]  # yes, no, any
gen = json.load(open(base + ".gen.json"))
info = json.load(open(base + ".info.json"))
def same(key, got):
    assert got == gen[key], f"{base}: info {key} = {got}, trace_gen wrote {gen[key]}"
same("events", info["events"])
same("events_by_op", info["events_by_op"])
for key in ("allocations", "releases", "free_null", "requested_bytes", "cross_thread_releases"):
    same(key, info[key])
same("peak_live_objects", info["peak_live"]["objects"])
same("peak_live_bytes", info["peak_live"]["bytes"])
same("live_objects_at_end", info["live_at_end"]["objects"])
same("live_bytes_at_end", info["live_at_end"]["bytes"])
anomalies = info["anomalies"]
assert all(v == 0 for v in anomalies.values()), f"{base}: anomalies {anomalies}"

live, last_time, threads, objects_at = {}, -1, {}, {}  # live: ptr -> (time, event index)
long_lived, n, moving = 0, gen["events"], {}
for index, line in enumerate(open(base + ".jsonl")):
    e = json.loads(line)
    if "time_ns" not in e:
        continue
    t, op, time = e["t"], e["op"], e["time_ns"]
    assert time > last_time, f"{base}: stamp {time} after {last_time}"
    last_time = time
    if t not in threads:
        assert op == "thread_start", f"{base}: t{t} starts with {op}"
    assert threads.get(t) != "exited", f"{base}: t{t} has {op} after thread_exit"
    threads[t] = "exited" if op == "thread_exit" else "running"
    if op in ("free", "realloc_begin") and e.get("ptr", 0):
        when, born = live.pop(e["ptr"])  # KeyError: released while not live
        assert when < time
        if op == "realloc_begin":
            moving[t] = born  # the same object goes on at realloc's result
        elif index - born > 0.4 * n:
            long_lived += 1
    if op in ("malloc", "calloc", "realloc", "memalign", "posix_memalign", "aligned_alloc"):
        ptr = e["result"]
        assert ptr and ptr not in live, f"{base}: {ptr:#x} returned while live"
        if "align" in e:
            assert ptr % e["align"] == 0, f"{base}: {ptr:#x} not aligned to {e['align']}"
        live[ptr] = (time, moving.pop(t) if op == "realloc" else index)
        objects_at[ptr] = objects_at.get(ptr, 0) + 1
assert all(state == "exited" for state in threads.values()), f"{base}: a thread did not exit"
assert len(objects_at) == gen["addresses"], f"{base}: {len(objects_at)} addresses"
assert max(objects_at.values()) >= 20, f"{base}: no address reused 20 times"
assert gen["allocations"] >= 5 * gen["addresses"], f"{base}: little reuse"
if expect_long == "yes":
    assert long_lived >= 10, f"{base}: {long_lived} objects live over 40% of the trace"
elif expect_long == "no":
    assert long_lived == 0, f"{base}: {long_lived} long-lived objects without --long"
PY
}

# Every feature, then each one alone or at an extreme.
check mix yes --threads 4 --events 120000 --live 256 --long 0.05 --long-span 0.9 --cross 0.2 \
  --realloc 0.1 --calloc 0.1 --memalign 0.05 --usable-size 0.05 --drain
check fifo no --threads 1 --events 40000 --live 64 --lifetime fifo --long 0 --cross 0 \
  --realloc 0 --calloc 0 --memalign 0 --usable-size 0
check lognormal any --threads 3 --events 60000 --live 128 --lifetime lognormal --long 0 --cross 0.5
check aligned no --threads 2 --events 30000 --live 64 --long 0 --memalign 0.9 --realloc 0 \
  --calloc 0 --usable-size 0

# Every event counted once: the drained trace ends with nothing live and no free(NULL).
python3 - "$work/mix.gen.json" <<'PY'
import json, sys
gen = json.load(open(sys.argv[1]))
assert gen["live_objects_at_end"] == 0 and gen["live_bytes_at_end"] == 0, gen
assert gen["cross_thread_releases"] > 0 and gen["events_by_op"]["realloc"] > 0, gen
for op in ("calloc", "memalign", "posix_memalign", "aligned_alloc", "malloc_usable_size"):
    assert gen["events_by_op"].get(op, 0) > 0, op
PY

# Deterministic: same arguments, same bytes; another seed, other bytes.
"$bin/trace_gen" "$work/again.mtr" --threads 4 --events 120000 --live 256 --long 0.05 \
  --long-span 0.9 --cross 0.2 --realloc 0.1 --calloc 0.1 --memalign 0.05 --usable-size 0.05 \
  --drain 2>/dev/null
cmp "$work/mix.mtr" "$work/again.mtr"
"$bin/trace_gen" "$work/seed2.mtr" --threads 4 --events 120000 --live 256 --long 0.05 \
  --long-span 0.9 --cross 0.2 --realloc 0.1 --calloc 0.1 --memalign 0.05 --usable-size 0.05 \
  --drain --seed 2 2>/dev/null
! cmp -s "$work/mix.mtr" "$work/seed2.mtr"

# Bad arguments: exit 2 with a one-line message.
for bad in "--events 3 --threads 2" "--lifetime pareto" "--cross 1.5" "--min-size 0"; do
  set +e
  # shellcheck disable=SC2086
  "$bin/trace_gen" "$work/bad.mtr" $bad 2>"$work/bad.err"
  rc=$?
  set -e
  [ "$rc" = 2 ] || { echo "trace_gen $bad: exit $rc, not 2"; exit 1; }
  [ "$(wc -l <"$work/bad.err")" = 1 ] || { echo "trace_gen $bad: not one line"; exit 1; }
done

# Replays clean under glibc, serial and parallel, with every check on.
for mode in serial parallel; do
  "$bin/mtreplay" replay "$work/mix.mtr" --verify --mode $mode --quiet --no-cache \
    --json "$work/replay.$mode.json"
  python3 - "$work/replay.$mode.json" "$work/mix.gen.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))["runs"][0]
gen = json.load(open(sys.argv[2]))
assert run["status"] == "ok", run["status"]
assert all(v == 0 for v in run["anomalies"].values()), run["anomalies"]
assert run["peak_live_bytes"] == gen["peak_live_bytes"] or run["mode"] == "parallel", run
PY
done
echo "trace_gen: all checks passed"
