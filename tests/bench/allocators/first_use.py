#!/usr/bin/env python3
"""Malloc until first use, and free, in ns: every workload under every backend, side by side.

Each run preloads libfirst_use.so (first_use.cpp) in front of the backend: it times each
malloc together with a load of the block's first byte, and each free, between fences, by
band of request size. An allocator that touches the block it hands out pays a cold
block's misses inside malloc; one whose metadata lives apart leaves them to the program's
first access; the load charges both alike. Runs are interleaved as in bench_allocators.py
and the figures are medians over the rounds of each run's mean. The fences serialise the
calls: these are latencies, not throughput (bench_allocators.py measures wall time).

A command that starts other programs (g++ runs cc1plus and as) reports per process; the
process with the most malloc calls is taken.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile

import bench_allocators

BANDS = ["malloc_128", "malloc_1k", "malloc_8k", "malloc_64k", "malloc_above_64k", "free"]
MIN_CALLS = 100  # a band with fewer calls under any backend is left out of the table
BAND_LABELS = {
    "malloc_128": "malloc <= 128 B", "malloc_1k": "malloc <= 1 KiB",
    "malloc_8k": "malloc <= 8 KiB", "malloc_64k": "malloc <= 64 KiB",
    "malloc_above_64k": "malloc > 64 KiB", "free": "free",
}


def run_once(shim, backend_path, workload, workdir):
    """The report of the run's busiest process; RuntimeError naming what went wrong."""
    for old in glob.glob(os.path.join(workdir, "*.json")):
        os.remove(old)
    argv = workload["command"]
    env = dict(os.environ)
    env.update(assignment.split("=", 1) for assignment in workload["env"])
    env["LD_PRELOAD"] = " ".join(p for p in (shim, backend_path) if p)
    env["FIRST_USE_OUT"] = os.path.join(workdir, "%p.json")
    completed = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, check=False)
    # ld.so warns and runs the program anyway when it cannot preload an object: that run
    # would measure glibc.
    if "cannot be preloaded" in completed.stderr:
        raise RuntimeError(completed.stderr.strip().splitlines()[0])
    if completed.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {completed.returncode}")
    reports = []
    for path in glob.glob(os.path.join(workdir, "*.json")):
        with open(path) as f:
            reports.append(json.load(f))
    if not reports:
        raise RuntimeError(f"{argv[0]}: no report from {os.path.basename(shim)}")
    return max(reports, key=lambda r: sum(r[b]["calls"] for b in BANDS if b != "free"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True, help="the CMake build tree")
    parser.add_argument("--rounds", type=int, default=3)
    bench_allocators.add_workload_options(parser, "thread_malloc,mixed_lifetime")
    parser.add_argument("--json", help="also write every run's report here")
    args = parser.parse_args()
    if args.rounds < 1:
        print("first_use: --rounds must be at least 1", file=sys.stderr)
        sys.exit(2)
    shim = os.path.abspath(os.path.join(args.build_dir, "lib", "libfirst_use.so"))
    if not os.path.exists(shim):
        print(f"first_use: no {shim} (build the target first_use)", file=sys.stderr)
        sys.exit(2)
    backends = bench_allocators.backends_or_exit(args, "first_use")

    _, commands, scratch = bench_allocators.chosen_workloads(args, "first_use")  # kept to the end

    names = list(backends)
    reports = {w: {b: [] for b in names} for w in commands}
    with tempfile.TemporaryDirectory(prefix="first_use.") as workdir:
        for round_index in range(args.rounds):
            order = names[round_index % len(names):] + names[:round_index % len(names)]
            for workload, command in commands.items():
                for backend in order:
                    try:
                        reports[workload][backend].append(
                            run_once(shim, backends[backend], command, workdir))
                    except RuntimeError as error:
                        print(f"first_use: {workload} under {backend}: {error}", file=sys.stderr)
                        sys.exit(1)
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)

    peers = [b for b in names if b in bench_allocators.PEERS]
    others = [b for b in names if b not in bench_allocators.PEERS]
    for workload in commands:
        print(f"\n### {workload}: mean ns a call, malloc with the first load of the block "
              f"(median of {args.rounds} runs)\n")
        ratio_columns = [f"{b} x best peer" for b in others] if peers else []
        print("| " + " | ".join(["call", "calls"] + names + ratio_columns) + " |")
        print("|---|" + "---:|" * (1 + len(names) + len(ratio_columns)))
        for band in BANDS:
            # A band of a few calls (a library's buffer at start-up) under some backends
            # and none under others says nothing about them.
            calls = min(statistics.median(r[band]["calls"] for r in reports[workload][b])
                        for b in names)
            if calls < MIN_CALLS:
                continue
            means = {b: statistics.median(r[band]["mean_ns"] for r in reports[workload][b])
                     for b in names}
            best = min((means[b] for b in peers), default=0)
            cells = [f"**{means[b]:.1f}**" if peers and means[b] == best and b in peers
                     else f"{means[b]:.1f}" for b in names]
            if peers:
                cells += [f"{means[b] / best:.2f}" if best else "-" for b in others]
            print(f"| {BAND_LABELS[band]} | {calls:.0f} | " + " | ".join(cells) + " |")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backends": backends, "reports": reports}, f, indent=1)


if __name__ == "__main__":
    main()
