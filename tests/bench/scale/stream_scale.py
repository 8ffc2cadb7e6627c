#!/usr/bin/env python3
"""Memory and time of a streamed replay (--plan stream) beside a whole plan's
(BENCHMARKS.md, "Scale"). For each trace: runs `mtreplay replay` with each --plan,
polls the resident memory of the parent (mtreplay) and of its worker separately every
50 ms, and prints elapsed time, the replay's own wall time, the wait between segments,
the segments, the peak live bytes and each process's peak RSS. The worker's RSS holds
the allocator's live set; `worker - live` is the replayer's own share there.

A plan is `memory`, `stream` (--plan-ahead auto), or `stream:yes` / `stream:no` to
choose whether the next segment is planned while the worker replays one. With
--rounds N the plans take turns N times and each row is printed as it comes.

Usage: stream_scale.py BUILD_DIR TRACE [TRACE...] [--plans stream,memory]
                       [--allocator A] [--segment-events N] [--rounds N]
                       [--extra "--touch none ..."]"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def run(binary, trace, plan, allocator, segment_events, extra):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        mode, _, ahead = plan.partition(":")
        cmd = [binary, "replay", trace, "--quiet", "--no-cache", "--plan", mode,
               "--allocator", allocator, "--json", out]
        if segment_events:
            cmd += ["--segment-events", str(segment_events)]
        if ahead:
            cmd += ["--plan-ahead", ahead]
        cmd += extra.split()
        start = time.monotonic()
        proc = subprocess.Popen(cmd)
        parent_peak = worker_peak = 0
        while proc.poll() is None:
            parent_peak = max(parent_peak, rss_kib(proc.pid))
            for child in children(proc.pid):
                worker_peak = max(worker_peak, rss_kib(child))
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        if proc.returncode != 0:
            return {"plan": plan, "error": f"exit {proc.returncode}"}
        with open(out) as f:
            r = json.load(f)["runs"][0]
    return {
        "plan": plan, "elapsed_s": round(elapsed, 2), "ops": r["ops"],
        "replay_wall_s": round(r["wall_ns"] / 1e9, 2),
        "replay_cpu_s": round((r["cpu_user_ns"] + r["cpu_sys_ns"]) / 1e9, 2),
        "elapsed_per_wall": round(elapsed / (r["wall_ns"] / 1e9), 2) if r["wall_ns"] else None,
        "stall_s": round(r["stream_stall_ns"] / 1e9, 2), "segments": r["plan_segments"],
        "peak_live_mib": r["peak_live_bytes"] >> 20,
        "parent_peak_mib": parent_peak >> 10, "worker_peak_mib": worker_peak >> 10,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("traces", nargs="+")
    ap.add_argument("--plans", default="stream,memory")
    ap.add_argument("--allocator", default="glibc")
    ap.add_argument("--segment-events", type=int, default=None,
                    help="default: mtreplay replay's own")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--extra", default="", help="more `mtreplay replay` options")
    args = ap.parse_args()
    binary = os.path.join(args.build, "bin", "mtreplay")
    for trace in args.traces:
        for _ in range(args.rounds):
            for plan in args.plans.split(","):
                row = run(binary, trace, plan, args.allocator, args.segment_events, args.extra)
                print(json.dumps({"trace": os.path.basename(trace), **row}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
