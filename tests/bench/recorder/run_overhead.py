#!/usr/bin/env python3
"""Recorder overhead, side by side in one run: untraced vs libmhook.so vs heaptrack.

Workloads
  python   PYTHONMALLOC=malloc python3 -c 'x=[str(i) for i in range(10**6)];
           d={i:str(i) for i in range(200000)}'   (the design brief's anchor)
  loop1    mhook_malloc_loop 1 CALLS   (malloc/free churn, one thread)
  loop2    mhook_malloc_loop 2 CALLS   (the same on two threads)

Each round runs every (workload, tool) pair once, interleaved, so that load from
other processes hits all of them alike; figures are medians over the rounds.
Reported per workload and tool: wall seconds, CPU seconds (user+sys, all threads),
and for libmhook: events, added wall ns per event, added CPU ns per event, bytes per
event on disk (median over the rounds' traces, with their range); for the loops also the recording thread's own CPU ns per call.
For loop1 one more row, "clock": the loop untraced but with the recorder's clock read
(rdtsc, multiply, shift) after every call and nothing else, i.e. the floor under the
recorder's added cost that only a cheaper clock could lower.

With --baseline DIR, one more tool "mhook-base" runs DIR/lib/libmhook.so (another
build, e.g. the code before a change) in the same rounds, interleaved with the rest.

--zstd-level N sets MHOOK_ZSTD_LEVEL for both (default: each build's own default).

usage: run_overhead.py [--build DIR] [--baseline DIR] [--zstd-level N] [--rounds N] [--calls N] [--no-heaptrack]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PY_CODE = "x=[str(i) for i in range(10**6)]; d={i:str(i) for i in range(200000)}"


def run_timed(argv, env):
    """Runs argv; returns (wall s, cpu s of the children, stdout)."""
    before = os.times()
    start = time.perf_counter()
    out = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, out.stdout.decode()


def trace_events(mtreplay, argv, env, workdir):
    """Events and bytes of one recording, from `mtreplay record`'s summary."""
    pattern = os.path.join(workdir, "count.%p.mtr")
    res = subprocess.run([mtreplay, "record", "-o", pattern, "--"] + argv, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    line = res.stderr.decode().splitlines()[0]
    m = re.search(r"(\d+) events.*?([\d.]+) bytes/event", line)
    for f in os.listdir(workdir):
        if f.startswith("count."):
            os.remove(os.path.join(workdir, f))
    return int(m.group(1)), float(m.group(2))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(here, "..", "..", "..", "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=10_000_000, help="calls per loop thread")
    ap.add_argument("--no-heaptrack", action="store_true")
    ap.add_argument("--baseline", help="a second build whose libmhook.so runs as mhook-base")
    ap.add_argument("--zstd-level", type=int, help="MHOOK_ZSTD_LEVEL for mhook and mhook-base")
    args = ap.parse_args()

    build = os.path.abspath(args.build)
    mhook = os.path.join(build, "lib", "libmhook.so")
    mtreplay = os.path.join(build, "bin", "mtreplay")
    loop = os.path.join(build, "bin", "mhook_malloc_loop")
    python = "/usr/bin/python3"
    for f in (mhook, mtreplay, loop, python):
        if not os.path.exists(f):
            sys.exit(f"run_overhead: {f} not found (build the mhook, mtreplay and mhook_malloc_loop targets)")
    heaptrack = None if args.no_heaptrack else shutil.which("heaptrack")
    base_mhook = os.path.join(os.path.abspath(args.baseline), "lib", "libmhook.so") if args.baseline else None
    if base_mhook and not os.path.exists(base_mhook):
        sys.exit(f"run_overhead: {base_mhook} not found")

    work = tempfile.mkdtemp(prefix="mhook-bench-")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MHOOK_") and k != "LD_PRELOAD"}
    workloads = {
        "python": ([python, "-c", PY_CODE], {"PYTHONMALLOC": "malloc"}),
        "loop1": ([loop, "1", str(args.calls)], {}),
        "loop2": ([loop, "2", str(args.calls)], {}),
    }
    tools = ["untraced", "mhook"] + (["mhook-base"] if base_mhook else []) + (["heaptrack"] if heaptrack else [])
    def tools_of(w):
        return tools[:1] + ["clock"] + tools[1:] if w == "loop1" else tools

    samples = {(w, t): [] for w in workloads for t in tools_of(w)}
    traced = [t for t in tools if t.startswith("mhook")]
    trace_bytes = {(w, t): [] for w in workloads for t in traced}  # per round: trace bytes
    loads = []
    loop_stats = {(w, t): [] for w in workloads if w.startswith("loop") for t in tools_of(w)}

    for r in range(args.rounds):
        for w, (argv, extra) in workloads.items():
            for t in tools_of(w):
                env = dict(base_env, **extra)
                cmd = list(argv)
                if t == "clock":
                    cmd.append("rdtsc")
                elif t.startswith("mhook"):
                    env["LD_PRELOAD"] = mhook if t == "mhook" else base_mhook
                    if args.zstd_level:
                        env["MHOOK_ZSTD_LEVEL"] = str(args.zstd_level)
                    env["MHOOK_OUTPUT"] = os.path.join(work, f"{w}.%p.mtr")
                elif t == "heaptrack":
                    cmd = [heaptrack, "-o", os.path.join(work, f"{w}.heaptrack")] + cmd
                wall, cpu, out = run_timed(cmd, env)
                samples[(w, t)].append((wall, cpu))
                if t in traced:
                    trace_bytes[(w, t)].append(sum(os.path.getsize(os.path.join(work, f))
                                              for f in os.listdir(work) if f.endswith(".mtr")))
                if w.startswith("loop"):
                    last = [l for l in out.splitlines() if l.startswith("{")][-1]
                    loop_stats[(w, t)].append(json.loads(last))
                for f in os.listdir(work):
                    os.remove(os.path.join(work, f))
        loads.append(os.getloadavg()[0])
        print(f"round {r + 1}/{args.rounds} done, load {loads[-1]:.1f}", file=sys.stderr)

    print(f"# rounds={args.rounds} calls/thread={args.calls} load after each round: "
          + " ".join(f"{l:.1f}" for l in loads))
    print("| workload | tool | wall s | cpu s | wall x | cpu x | events | +wall ns/ev | +cpu ns/ev | thread cpu ns/call | bytes/ev |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for w, (argv, extra) in workloads.items():
        events, _ = trace_events(mtreplay, argv, dict(base_env, **extra), work)
        # Bytes per event vary from run to run (timing jitter lands in the time deltas):
        # the median over the rounds, with the range.
        bpe = {}
        for t in traced:
            per_round = [b / events for b in trace_bytes[(w, t)]]
            bpe[t] = f"{statistics.median(per_round):.2f} ({min(per_round):.2f}-{max(per_round):.2f})"
        base_wall = statistics.median(s[0] for s in samples[(w, "untraced")])
        base_cpu = statistics.median(s[1] for s in samples[(w, "untraced")])
        for t in tools_of(w):
            wall = statistics.median(s[0] for s in samples[(w, t)])
            cpu = statistics.median(s[1] for s in samples[(w, t)])
            thread_ns = ""
            if w.startswith("loop"):
                thread_ns = f"{statistics.median(s['thread_cpu_ns_per_call'] for s in loop_stats[(w, t)]):.1f}"
            added = t not in ("untraced", "clock")
            print(f"| {w} | {t} | {wall:.3f} | {cpu:.3f} | {wall / base_wall:.2f} | {cpu / base_cpu:.2f} | "
                  f"{events if added else ''} | {(wall - base_wall) * 1e9 / events if added else 0:.1f} | "
                  f"{(cpu - base_cpu) * 1e9 / events if added else 0:.1f} | {thread_ns} | "
                  f"{bpe.get(t, '')} |")
    thread_ns = {t: statistics.median(s["thread_cpu_ns_per_call"] for s in loop_stats[("loop1", t)])
                 for t in tools_of("loop1")}
    clock = thread_ns["clock"] - thread_ns["untraced"]
    hook = thread_ns["mhook"] - thread_ns["untraced"]
    print(f"loop1 recording thread, added CPU ns per event: mhook {hook:.1f}; the clock read "
          f"alone costs {clock:.1f}")
    if base_mhook:
        print(f"loop1 recording thread, added CPU ns per event: mhook-base "
              f"{thread_ns['mhook-base'] - thread_ns['untraced']:.1f}")
    # The loops' own CLOCK_PROCESS_CPUTIME_ID (ns resolution; the cpu s column counts
    # 10 ms ticks, 1 ns per event at 10 M events): all threads, the writer's included.
    for w in ("loop1", "loop2"):
        per_event = {t: statistics.median(s["process_cpu_seconds"] * 1e9 / s["calls"]
                                          for s in loop_stats[(w, t)])
                     for t in tools_of(w) if t != "clock"}
        print(f"{w} process CPU ns per call (precise): "
              + ", ".join(f"{t} {v:.1f} (+{v - per_event['untraced']:.1f})"
                          for t, v in per_event.items()))
    for t in tools:
        if ("loop1", t) in loop_stats and loop_stats[("loop1", t)]:
            one = statistics.median(s["calls_per_second"] for s in loop_stats[("loop1", t)])
            two = statistics.median(s["calls_per_second"] for s in loop_stats[("loop2", t)])
            print(f"calls/s {t}: 1 thread {one:,.0f}, 2 threads {two:,.0f}, ratio {two / one:.2f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
