#!/usr/bin/env python3
"""How much a program's own live set depends on the allocator it runs on.

A replay reproduces the live set of its recording, which is made on glibc. A program
whose threads hand work to each other through a queue keeps as much live as the
allocator's speed lets the queue fill, so its live set (and with it its peak RSS) may
differ under another allocator in a way no replay of one recording can follow. This
records CMD with each allocator behind libmhook.so (the recorder sees the C++ operators
too, so jemalloc, tcmalloc, mimalloc and scudo record whole), in interleaved rounds,
and prints per allocator the median of the recordings' peak live bytes and of the
program's own peak RSS (a separate run without the recorder), each also as a ratio to
glibc's. With --replay it also replays each allocator's recordings under it and under
glibc's recording, and prints validate's peak-RSS prediction from each
((P(glibc) + R(A) - R(glibc)) / P(glibc)) beside the program's ratio.

  live_by_allocator.py BUILD [--rounds N] [--replay] [--keep DIR] -- CMD [ARGS...]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def available_allocators(mtreplay):
    out = subprocess.run([mtreplay, "allocators", "--json", "--available"], check=True,
                         capture_output=True, text=True).stdout
    return [(a["name"], a["path"]) for a in json.loads(out) if a["name"] != "null"]


def peak_rss_of(command, preload):
    """The program's own peak RSS in bytes: /usr/bin/time's, which forks a small process."""
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = preload
    else:
        env.pop("LD_PRELOAD", None)
    with tempfile.NamedTemporaryFile(mode="r") as times:
        subprocess.run(["/usr/bin/time", "-o", times.name, "-f", "%M", *command], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        return int(times.read().split()[-1]) * 1024


def record(command, mhook, preload, trace):
    env = dict(os.environ, MHOOK_OUTPUT=trace,
               LD_PRELOAD=mhook + (" " + preload if preload else ""))
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def peak_live_of(mtreplay, trace):
    out = subprocess.run([mtreplay, "info", trace, "--json", "--no-progress"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["peak_live"]["bytes"]


def replay_rss(mtreplay, trace, allocator, scratch):
    result = os.path.join(scratch, "replay.json")
    subprocess.run([mtreplay, "replay", trace, "-a", allocator, "--json", result], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(result) as f:
        return json.load(f)["runs"][0]["program_peak_rss_bytes"]


def spearman(x, y):
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0] * len(v)
        for k, i in enumerate(order):
            r[i] = k
        return r
    rx, ry, n = ranks(x), ranks(y), len(x)
    return 1 - 6 * sum((a - b) ** 2 for a, b in zip(rx, ry)) / (n * (n * n - 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--replay", action="store_true")
    parser.add_argument("--keep", help="keep the recordings in this directory")
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("no command after --")
    args = parser.parse_args(argv[:argv.index("--")])
    command = argv[argv.index("--") + 1:]
    mtreplay = os.path.join(args.build, "bin", "mtreplay")
    mhook = os.path.abspath(os.path.join(args.build, "lib", "libmhook.so"))
    allocators = available_allocators(mtreplay)
    names = [name for name, _ in allocators]
    if "glibc" not in names:
        sys.exit("live_by_allocator: glibc missing from `mtreplay allocators`")
    scratch = args.keep or tempfile.mkdtemp(prefix="live_by_allocator.")
    os.makedirs(scratch, exist_ok=True)
    live = {n: [] for n in names}
    rss = {n: [] for n in names}
    traces = {n: [] for n in names}
    for r in range(args.rounds):
        for k in range(len(allocators)):
            name, path = allocators[(r + k) % len(allocators)]  # rotating start
            trace = os.path.join(scratch, f"{name}.{r}.mtr")
            record(command, mhook, path, trace)
            traces[name].append(trace)
            live[name].append(peak_live_of(mtreplay, trace))
            rss[name].append(peak_rss_of(command, path))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    med = statistics.median
    mib = 1 << 20
    print(f"{'allocator':10s} {'recorded peak live MiB (range)':>32s} {'ratio':>6s} "
          f"{'program peak RSS MiB (range)':>30s} {'ratio':>6s}")
    for n in names:
        print(f"{n:10s} {med(live[n]) / mib:14.2f} ({min(live[n]) / mib:.2f}-"
              f"{max(live[n]) / mib:.2f}) {med(live[n]) / med(live['glibc']):12.2f} "
              f"{med(rss[n]) / mib:14.2f} ({min(rss[n]) / mib:.2f}-{max(rss[n]) / mib:.2f})"
              f" {med(rss[n]) / med(rss['glibc']):12.2f}")
    if not args.replay:
        return
    # Replays: each allocator's own recordings under it, glibc's recordings under it.
    own = {n: [replay_rss(mtreplay, t, n, scratch) for t in traces[n]] for n in names}
    on_glibc = {n: [replay_rss(mtreplay, t, n, scratch) for t in traces["glibc"]] for n in names}
    base = med(rss["glibc"])
    print(f"\n{'allocator':10s} {'program':>8s} {'glibc rec':>10s} {'error':>6s} "
          f"{'own rec':>8s} {'error':>6s}")
    errors = {"glibc": [], "own": []}
    for n in names:
        program = med(rss[n]) / base
        from_glibc = (base + med(on_glibc[n]) - med(on_glibc["glibc"])) / base
        from_own = (base + med(own[n]) - med(own["glibc"])) / base
        if n != "glibc":
            errors["glibc"].append(abs(from_glibc - program))
            errors["own"].append(abs(from_own - program))
        print(f"{n:10s} {program:8.2f} {from_glibc:10.2f} {from_glibc - program:+6.2f} "
              f"{from_own:8.2f} {from_own - program:+6.2f}")
    program = [med(rss[n]) for n in names]
    print(f"mean |error|: glibc's recording {statistics.mean(errors['glibc']):.3f}, "
          f"each allocator's own {statistics.mean(errors['own']):.3f}; peak-RSS rho: "
          f"{spearman(program, [med(on_glibc[n]) for n in names]):.2f} / "
          f"{spearman(program, [med(own[n]) for n in names]):.2f}")


if __name__ == "__main__":
    main()
