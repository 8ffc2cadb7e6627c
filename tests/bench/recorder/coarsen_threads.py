#!/usr/bin/env python3
"""What coarse stamps would do to a threaded trace: an offline experiment.

Reads a trace's text dump, gives every thread coarse stamps as the recorder gives a
thread that is alone (each run of RUN events repeats the run's first stamp; a lower
bound of the true times), re-merges the threads by those times (ties in the original
order, each thread's own order kept) and imports the result. `mtreplay info` of the
output then shows the address-reuse inversions that coarse stamps in a threaded
process would cause (a free sorted after the allocation that reused its address),
i.e. what a reader would have to repair.

usage: coarsen_threads.py MTREPLAY TRACE OUT.mtr [--run 64]
"""
import argparse
import os
import re
import subprocess
import sys

TIME = re.compile(r"^(t\d+) ([+-])(\d+)ns (.*)$")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mtreplay")
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--run", type=int, default=64)
    args = ap.parse_args()
    text = subprocess.run([args.mtreplay, "dump", args.trace], stdout=subprocess.PIPE, check=True).stdout.decode("utf-8", "surrogateescape")
    header, events = [], []
    now = 0
    for line in text.splitlines():
        m = TIME.match(line)
        if not m:
            if line.startswith("version"):
                line = "version 2"
            header.append(line)
            continue
        delta = int(m.group(3))
        now = now + delta if m.group(2) == "+" else now - delta
        events.append([m.group(1), now, m.group(4)])
    left, reading = {}, {}
    for e in events:
        t = e[0]
        if left.get(t, 0) == 0:
            reading[t] = e[1]
            left[t] = args.run
        left[t] -= 1
        e[1] = reading[t]
    order = sorted(range(len(events)), key=lambda i: (events[i][1], i))
    out = header + [f"{events[i][0]} @{events[i][1]}ns {events[i][2]}" for i in order]
    text_path = args.out + ".txt"
    with open(text_path, "wb") as f:
        f.write("\n".join(out).encode("utf-8", "surrogateescape") + b"\n")
    subprocess.run([args.mtreplay, "import", text_path, "-o", args.out], check=True)
    os.remove(text_path)


if __name__ == "__main__":
    sys.exit(main())
