#!/usr/bin/env python3
"""What measuring touched extents (traces/FORMAT.md "Touched extents") costs the
recorded program: process CPU time untraced, and under libmhook.so with
MHOOK_TOUCHED=0, resident (resident pages at the release), exact (pages dropped at the
allocation too) and 1 (auto, the default: dropped for the sizes seen to use under half
their pages), in interleaved rounds, medians. Loads: a 64 KiB buffer
filled whole and freed (the worst case: recycled pages the exact mode makes the
program fault in again), the same with 64 bytes written, and a 1 MiB buffer filled.

  tests/bench/recorder/touched_cost.py [--build build] [--rounds 5] [--n 20000]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

MODES = [("untraced", None), ("off", "0"), ("resident", "resident"), ("exact", "exact"),
         ("auto", "1")]


def cpu_seconds(argv, env):
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"touched_cost: {argv} failed ({status})")
    return ru.ru_utime + ru.ru_stime


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(here, "..", "..", "..", "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=20000, help="iterations of each load")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    mhook = os.path.join(build, "lib", "libmhook.so")
    loop = os.path.join(build, "bin", "mhook_large_block_loop")
    for f in (mhook, loop):
        if not os.path.exists(f):
            sys.exit(f"touched_cost: {f} not found (build the mhook and mhook_large_block_loop targets)")
    loads = {
        "64k filled": [loop, "65536", "65536", str(args.n)],
        "64k, 64 B written": [loop, "65536", "64", str(args.n)],
        "1m filled": [loop, str(1 << 20), str(1 << 20), str(max(1, args.n // 16))],
    }
    work = tempfile.mkdtemp(prefix="touched-cost-")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MHOOK_") and k != "LD_PRELOAD"}
    samples = {(l, m): [] for l in loads for m, _ in MODES}
    try:
        for r in range(args.rounds):
            for i, (load, argv) in enumerate(loads.items()):
                order = MODES[(r + i) % len(MODES):] + MODES[: (r + i) % len(MODES)]
                for mode, value in order:
                    env = dict(base_env)
                    if value is not None:
                        env.update(LD_PRELOAD=mhook, MHOOK_TOUCHED=value,
                                   MHOOK_OUTPUT=os.path.join(work, "t.%p.mtr"))
                    samples[(load, mode)].append(cpu_seconds(argv, env))
                    for f in os.listdir(work):
                        os.remove(os.path.join(work, f))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"touched_cost: {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}; "
          f"process CPU ms, median (x untraced)")
    print("| load | " + " | ".join(m for m, _ in MODES) + " |")
    print("|---|" + "---:|" * len(MODES))
    for load in loads:
        base = statistics.median(samples[(load, "untraced")])
        cells = []
        for mode, _ in MODES:
            med = statistics.median(samples[(load, mode)])
            cells.append(f"{med * 1e3:.0f} ({med / base:.2f}x)")
        print(f"| {load} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
