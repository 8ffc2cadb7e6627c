#!/usr/bin/env python3
"""Where each backend's peak RSS is: anonymous memory, the allocator's library, libc, other files.

Peak RSS (alloc_launch's, exact) says how much; this says which mappings hold it, side by
side for every backend. Each run goes through alloc_launch, so its peak is the command's
own, and the command's process is sampled from outside (/proc/PID/smaps, every
--interval-ms): the breakdown is that of the sample with the most resident, a little
below the exact peak when the peak lasts less than a sampling interval. Of a command that
starts other processes, the one that held the most is shown. The sampling takes 35-40 %
of a CPU: on a 2-core machine the peaks differ a little from bench_allocators.py's.

A file-backed page counts in a process's RSS once it is mapped into it, although the page
cache shares it with every other process: an allocator that calls into a part of libc the
program does not use pays for it here (a page fault maps up to 64 KiB of a library
around the page: BENCHMARKS.md, #14, Session 49). Runs are interleaved as in
bench_allocators.py and every figure is the median over the rounds.
"""
import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time

import bench_allocators

PARTS = ["anonymous", "allocator", "libc", "other files"]
PART_LABELS = {"anonymous": "anonymous", "allocator": "allocator's .so", "libc": "libc",
               "other files": "program, other files"}


@functools.lru_cache(maxsize=None)
def resolved(path):
    """os.path.realpath, once per mapped file: the sampler reads every mapping each
    millisecond."""
    return os.path.realpath(path)


def part_of(name, allocator_path):
    """Which part a mapping named `name` (smaps' path column) counts in; None for the
    kernel's own ([vdso], [vvar], [vsyscall])."""
    if name == "" or name in ("[heap]", "[stack]") or name.startswith("[anon"):
        return "anonymous"
    if name.startswith("["):
        return None
    if allocator_path and resolved(name) == allocator_path:
        return "allocator"
    if os.path.basename(name).startswith("libc.so"):
        return "libc"
    return "other files"


def resident_by_part(pid, allocator_path):
    """KiB resident in each part of `pid`'s mappings now; None when there are none to read
    (the process is gone, or between its exec's two address spaces)."""
    try:
        with open(f"/proc/{pid}/smaps") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    parts = dict.fromkeys(PARTS, 0)
    part = None
    for line in lines:
        fields = line.split(None, 5)
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            part = part_of(fields[5] if len(fields) > 5 else "", allocator_path)
        elif fields and fields[0] == "Rss:" and part is not None:
            parts[part] += int(fields[1])
    return parts if lines else None


def descendants_of(pid):
    """The processes under `pid` now. alloc_launch runs a probe of the preloaded object,
    then mtreplay-launch, which runs the command."""
    found = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(child) for child in f.read().split()]
    except OSError:
        return found
    for child in children:
        found += [child] + descendants_of(child)
    return found


def run_once(bin_dir, backend_path, workload, interval):
    """(alloc_launch's report, the largest sample's KiB by part or None if the command
    ended before a sample); RuntimeError naming what went wrong, a command that failed
    included."""
    command = bench_allocators.launch_command(bin_dir, backend_path, workload)
    allocator_path = os.path.realpath(backend_path) if backend_path else ""
    largest = {}  # pid -> its largest sample
    # Files, not pipes: a command that writes more than a pipe holds would wait for a
    # reader while this loop waits for it to end.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        launch = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        while launch.poll() is None:
            for child in descendants_of(launch.pid):
                parts = resident_by_part(child, allocator_path)
                if parts is not None and sum(parts.values()) > sum(
                        largest.get(child, {}).values()):
                    largest[child] = parts
            time.sleep(interval)
        out.seek(0)
        err.seek(0)
        if launch.returncode != 0:
            raise RuntimeError(f"alloc_launch failed: {err.read().strip()}")
        report = bench_allocators.split_launch_output(out.read())[1]
    if report["exit_status"] != 0:
        raise RuntimeError(f"exited {report['exit_status']}")
    # The command's process is the one that holds the most: the probe and mtreplay-launch
    # are small programs that allocate next to nothing.
    return report, max(largest.values(), key=lambda p: sum(p.values()), default=None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True, help="the CMake build tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval-ms", type=float, default=1.0,
                        help="time between two samples of a run (default 1 ms)")
    bench_allocators.add_workload_options(parser, "thread_malloc,producer_consumer_one_cpu")
    args = parser.parse_args()
    if args.rounds < 1 or args.interval_ms <= 0:
        print("peak_rss_map: --rounds must be at least 1 and --interval-ms above 0",
              file=sys.stderr)
        sys.exit(2)
    backends = bench_allocators.backends_or_exit(args, "peak_rss_map")
    bin_dir, commands, scratch = bench_allocators.chosen_workloads(args, "peak_rss_map")

    names = list(backends)
    peaks = {w: {b: [] for b in names} for w in commands}
    samples = {w: {b: [] for b in names} for w in commands}
    for round_index in range(args.rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for workload, command in commands.items():
            for backend in order:
                try:
                    report, largest = run_once(bin_dir, backends[backend], command,
                                               args.interval_ms / 1000)
                except RuntimeError as error:
                    print(f"peak_rss_map: {workload} under {backend}: {error}", file=sys.stderr)
                    sys.exit(1)
                peaks[workload][backend].append(report["peak_rss_kib"])
                if largest is not None:
                    samples[workload][backend].append(largest)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    del scratch

    for workload in commands:
        print(f"\n### {workload}: peak RSS and where it is, KiB (medians of {args.rounds})\n")
        print("| backend | peak RSS | x glibc | sampled | "
              + " | ".join(PART_LABELS[p] for p in PARTS) + " |")
        print("|---|" + "---:|" * (3 + len(PARTS)))
        base = statistics.median(peaks[workload][names[0]])
        for backend in names:
            peak = statistics.median(peaks[workload][backend])
            taken = samples[workload][backend]
            if taken:
                cells = [f"{statistics.median(sum(s.values()) for s in taken):.0f}"]
                cells += [f"{statistics.median(s[p] for s in taken):.0f}" for p in PARTS]
            else:
                cells = ["too short to sample"] + [""] * len(PARTS)
            print(f"| {backend} | {peak:.0f} | {peak / base:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
