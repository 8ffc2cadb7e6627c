#!/usr/bin/env python3
"""Prints the lphash benchmark as Markdown tables: median ops/s of every map per
(mix, threads), and lphash's ratio to the best peer, once by wall time and once by CPU
time (ops per CPU-second of the benchmark threads: the fairer figure when the machine
is shared, though it flatters maps whose threads sleep in a lock). Input: lphash_bench's
--benchmark_out JSON (run with --benchmark_repetitions=N)."""
import json
import re
import sys

OPS_PER_ITERATION = {"replay_mix": 3, "find_heavy": 20}
SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
rows = {}
cpu_rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    m = re.match(r"(\w+)/(\w+)/.*threads:(\d+)", b["run_name"])
    mix, name, threads = m.group(1), m.group(2), int(m.group(3))
    rows.setdefault((mix, threads), {})[name] = b["items_per_second"]
    cpu_seconds = b["cpu_time"] * SECONDS[b["time_unit"]]
    cpu_rows.setdefault((mix, threads), {})[name] = OPS_PER_ITERATION[mix] / cpu_seconds

maps = ["lphash", "ck_ht", "tbb_chm", "libcuckoo", "std_mutex"]


def table(title, rows):
    print(f"{title}\n")
    print("| mix | threads | " + " | ".join(maps) + " | lphash / best peer |")
    print("|---|---|" + "---|" * (len(maps) + 1))
    for (mix, threads), r in sorted(rows.items()):
        peers = {k: v for k, v in r.items() if k != "lphash"}
        best = max(peers, key=peers.get)
        cells = " | ".join(f"{r[m] / 1e6:.2f}" if m in r else "-" for m in maps)
        print(f"| {mix} | {threads} | {cells} | {r['lphash'] / peers[best]:.2f}x ({best}) |")
    print()


table("Wall time, M ops/s (median):", rows)
table("CPU time, M ops per CPU-second (median):", cpu_rows)
