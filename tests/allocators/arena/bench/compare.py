#!/usr/bin/env python3
"""Wall time and peak RSS of one command under several allocators, run side by side.

Rounds interleave the allocators (A B C A B C ...) so that machine noise hits all of
them alike; the medians are reported, with ratios to glibc.

  compare.py --lib build/lib/libarena.so [--rounds 7] [--] COMMAND...
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

SYSTEM = {
    "glibc": "",
    "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "mimalloc": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
    "scudo": "/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.scudo_standalone-x86_64.so",
}

PYTHON_WORKLOAD = ["python3", "-c",
                   "x=[str(i) for i in range(10**6)]; d={i:str(i) for i in range(200000)}"]


def run_once(command, preload, env_extra):
    env = dict(os.environ, **env_extra)
    if preload:
        env["LD_PRELOAD"] = preload
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execvpe(command[0], command, env)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"compare.py: {command[0]} failed under {preload or 'glibc'} (status {status})")
    return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime  # s, MiB, s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", action="append", default=[], help="name=path or path of a .so")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", help="comma-separated subset of the system allocators")
    parser.add_argument("command", nargs="*")
    args = parser.parse_args()
    command = args.command or PYTHON_WORKLOAD
    env_extra = {"PYTHONMALLOC": "malloc"}
    allocators = dict(SYSTEM)
    if args.only:
        allocators = {k: v for k, v in allocators.items() if k in args.only.split(",") or k == "glibc"}
    allocators = {k: v for k, v in allocators.items() if v == "" or os.path.exists(v)}
    for lib in args.lib:
        name, _, path = lib.rpartition("=")
        allocators[name or os.path.basename(path).removeprefix("lib").removesuffix(".so")] = path
    samples = {name: [] for name in allocators}
    for _ in range(args.rounds):
        for name, path in allocators.items():
            samples[name].append(run_once(command, path, env_extra))
    def med(runs, i):
        return statistics.median(run[i] for run in runs)

    base = [med(samples["glibc"], i) for i in range(3)]
    # CPU time (user+sys) is reported beside wall time: on a loaded machine it is the
    # steadier of the two.
    print(f"{'allocator':<10} {'wall s':>7} {'x glibc':>7} {'cpu s':>7} {'x glibc':>7} "
          f"{'peak MiB':>8} {'x glibc':>7}")
    for name, runs in samples.items():
        wall, rss, cpu = (med(runs, i) for i in range(3))
        print(f"{name:<10} {wall:7.3f} {wall / base[0]:7.2f} {cpu:7.3f} {cpu / base[2]:7.2f} "
              f"{rss:8.1f} {rss / base[1]:7.3f}")


if __name__ == "__main__":
    main()
