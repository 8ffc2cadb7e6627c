#!/usr/bin/env python3
"""Whole-program allocator benchmark: every workload under every backend, side by side.

Runs are interleaved (round after round, each round visiting every backend in a rotated
order) so that noise from other work on the machine falls on all backends alike; the
figures are medians over the rounds. Wall time and peak RSS come from alloc_launch
(the child's wait4 rusage, started from the small mtreplay-launch) and are reported as ratios to glibc.

The backends (name -> preloaded .so) are the ones the tests use, written by CMake into
the build tree as allocator_backends.json.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile

PYTHON_WORKLOAD = "x=[str(i) for i in range(10**6)]; d={i:str(i) for i in range(200000)}"
JSON_PYTHON = "import json, sys; print(len(json.load(open(sys.argv[1]))))"
JSON_JQ_FILTER = "map(select(.id % 3 == 0)) | length"
DOCUMENT = "{document}"  # stands for the JSON document's path in a workload's command


def write_json_document(path):
    """A 10 MB JSON array of 150,000 small records, the same at every run: what the json_*
    workloads load."""
    records = [{"id": i, "name": f"n{i}", "tags": [f"t{i % 7}", f"u{i % 13}"], "v": i * 0.5}
               for i in range(150_000)]
    with open(path, "w") as out:
        json.dump(records, out)


def prepare(chosen, tool, bin_dir):
    """Stops with exit 2 when a chosen workload's program is missing; writes the JSON
    document where a workload needs it. Returns the temporary directory holding it (None
    when none does), to keep until the runs are over."""
    missing = sorted({w["command"][0] for w in chosen.values()
                      if shutil.which(w["command"][0]) is None})
    if missing:
        where = "scripts/build.sh builds it" if missing[0].startswith(bin_dir) else \
            "scripts/setup.sh installs it"
        print(f"{tool}: {missing[0]} not found ({where})", file=sys.stderr)
        sys.exit(2)
    if not any(DOCUMENT in w["command"] for w in chosen.values()):
        return None
    scratch = tempfile.TemporaryDirectory(prefix=f"{tool}.")
    document = os.path.join(scratch.name, "document.json")
    write_json_document(document)
    for w in chosen.values():
        w["command"] = [document if a == DOCUMENT else a for a in w["command"]]
    return scratch


def default_python():
    # The distribution's interpreter, not a version-manager shim (a shell script that
    # would be timed and preloaded too).
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


# The classic allocator workload shapes (issue #14): program and arguments, sized to run
# about 0.3-1 s each under glibc on the project's 2-core machine.
CLASSIC = {
    "large_blocks": ["alloc_large_blocks"],
    "large_blocks_touched": ["alloc_large_blocks", "--touch", "1"],
    "mixed_lifetime": ["alloc_mixed_lifetime"],
    "server_exchange": ["alloc_server_exchange"],
    "thread_malloc": ["alloc_thread_malloc"],
    "bigint_factor": ["alloc_bigint_factor"],
    "logic_minimize": ["alloc_logic_minimize"],
    "small_churn": ["alloc_small_churn"],
    "false_sharing_thrash": ["alloc_false_sharing", "--passive", "0"],
    "false_sharing_scratch": ["alloc_false_sharing", "--passive", "1"],
    "random_churn": ["alloc_random_churn"],
}
CLASSIC_SET = list(CLASSIC) + ["producer_consumer"]


def workloads(args):
    classic = {name: {"command": [os.path.join(args.bin_dir, argv[0])] + argv[1:], "env": []}
               for name, argv in CLASSIC.items()}
    return classic | {
        "python": {"command": [args.python, "-c", PYTHON_WORKLOAD],
                   "env": ["PYTHONMALLOC=malloc"]},
        "producer_consumer": {"command": [os.path.join(args.bin_dir, "alloc_producer_consumer"),
                                          "--transfers", str(args.transfers)],
                              "env": []},
        # producer_consumer with both threads on one CPU: the queue fills and drains in
        # turns under every allocator, so the peak RSS compare at one depth (not in the
        # classic set).
        "producer_consumer_one_cpu": {
            "command": [os.path.join(args.bin_dir, "alloc_producer_consumer"),
                        "--transfers", str(args.transfers), "--one-cpu"],
            "env": []},
        # producer_consumer with the producer and the consumer on a CPU each: left to the
        # scheduler, some runs put both on one CPU, at half the wall (not in the classic
        # set).
        "producer_consumer_two_cpus": {
            "command": [os.path.join(args.bin_dir, "alloc_producer_consumer"),
                        "--transfers", str(args.transfers), "--two-cpus"],
            "env": []},
        "small_blocks": {"command": [os.path.join(args.bin_dir, "alloc_small_blocks"),
                                     "--count", "2000000", "--size", "16"],
                         "env": []},
        # mixed_lifetime with every free its own thread's: beside mixed_lifetime, what the
        # cross-thread frees cost or save each allocator (not in the classic set).
        "mixed_lifetime_local": {"command": [os.path.join(args.bin_dir, "alloc_mixed_lifetime"),
                                             "--cross-thread", "0"],
                                 "env": []},
        # thread_malloc with every block 224 bytes: one object type replaced at random, so
        # the free blocks are spread one or two to a slab (not in the classic set).
        "fixed_size_churn": {"command": [os.path.join(args.bin_dir, "alloc_thread_malloc"),
                                         "--size", "224"],
                             "env": []},
        # 5,000-byte blocks handed from one thread to another four at a time: the cost of
        # the cross-thread frees when few blocks of a class are live (not in the classic set).
        "handoff": {"command": [os.path.join(args.bin_dir, "alloc_handoff")], "env": []},
        # Batches of 64 buffers of 4-64 KiB written at their first and last byte, then all
        # freed: where the pages no block wrote stay out of RSS, and at what cost in page
        # faults (not in the classic set).
        "batch_buffers": {"command": [os.path.join(args.bin_dir, "alloc_batch_buffers")],
                          "env": []},
        # A shell running 100 commands, each of them with the allocator preloaded too: what
        # a fork and a program's start cost (not in the classic set).
        "shell_commands": {"command": ["bash", "-c", "for i in $(seq 100); do /bin/true; done"],
                           "env": []},
        # Real programs loading a 10 MB JSON document (write_json_document): python3 frees the
        # file's bytes, a block of 10 MB, and builds its objects for the next half second;
        # jq keeps 300 k records of 272 and 392 bytes. Their peak RSS is where a cache of
        # freed large blocks and the size classes of a few hundred bytes show (not in the
        # classic set).
        "json_python": {"command": [args.python, "-c", JSON_PYTHON, DOCUMENT], "env": []},
        "json_jq": {"command": ["jq", "-c", JSON_JQ_FILTER, DOCUMENT], "env": []},
    }


# The outside allocators the project's own are judged against (issue #12: at most 1.1x
# the best of them on every workload, the best on half).
PEERS = ["glibc", "jemalloc", "tcmalloc", "mimalloc"]


def print_best_peer_summary(walls, round_walls, names):
    """For each backend that is not a peer: its wall over the best peer's, per workload.

    `walls` maps workload -> backend -> median wall seconds; `round_walls` maps workload
    -> backend -> the wall of each round, in round order. Three rows a backend: the ratio
    of the medians; the median of the ratios taken round by round ("paired"): the
    rounds are interleaved, so a slow spell of the machine falls on every backend of a
    round alike and cancels in that round's ratio, where medians taken apart keep it;
    and the ratio of the fastest runs. On the 2-core guests a single run is either fast
    or about 1.5x slower, whatever the allocator (small_churn under glibc: 0.24 s or
    0.38 s; BENCHMARKS.md, #14, Session 28), so a median of 5 depends on how many slow
    runs a backend drew; the fastest run is what it costs when nothing slows it.

    A fourth row says how settled each verdict is: in how many rounds the backend was
    within 1.1x of that round's best peer. Its counts take a workload as within 1.1x, or
    as the backend's best, only when that held in at least three rounds of four: a
    backend against itself moves by up to 3 % in the median of 15 paired rounds on these
    guests (BENCHMARKS.md, #12, Session 53), so a median ratio near 1.1 says little.
    """
    peers = [b for b in PEERS if b in names]
    judged = [b for b in names if b not in PEERS]
    if not peers or not judged:
        return
    print(f"\n### against the best of {', '.join(peers)} (wall)\n")
    print("| allocator | within 1.1x | the best | worst | " +
          " | ".join(walls) + " |")
    print("|---|---:|---:|---|" + "---:|" * len(walls))

    def row(label, ratios):
        worst = max(ratios, key=ratios.get)
        print(f"| {label} | {sum(r <= 1.1 for r in ratios.values())} of {len(ratios)} "
              f"| {sum(r <= 1.0 for r in ratios.values())} "
              f"| {ratios[worst]:.2f} ({worst}) | " +
              " | ".join(f"{ratios[w]:.2f}" if w in ratios else "-" for w in walls) + " |")

    def settled_row(label, within, best, rounds):
        settled = {w: 4 * k >= 3 * rounds[w] for w, k in within.items()}
        fewest = min(within, key=lambda w: within[w] / rounds[w])
        print(f"| {label} | {sum(settled.values())} of {len(within)} "
              f"| {sum(4 * k >= 3 * rounds[w] for w, k in best.items())} "
              f"| {within[fewest]}/{rounds[fewest]} ({fewest}) | " +
              " | ".join(f"{within[w]}/{rounds[w]}" if w in within else "-" for w in walls) +
              " |")

    for backend in judged:
        of_medians = {}
        paired = {}
        fastest = {}
        rounds_within = {}
        rounds_best = {}
        rounds_run = {}
        for workload, wall in walls.items():
            best = min(wall[p] for p in peers)
            if best > 0:
                of_medians[workload] = wall[backend] / best
            rounds = round_walls[workload]
            best_fastest = min(min(rounds[p]) for p in peers)
            if best_fastest > 0:
                fastest[workload] = min(rounds[backend]) / best_fastest
            best_per_round = [min(rounds[p][i] for p in peers) for i in range(len(rounds[backend]))]
            per_round = [own / peer for own, peer in zip(rounds[backend], best_per_round) if peer > 0]
            if per_round:
                paired[workload] = statistics.median(per_round)
                rounds_within[workload] = sum(r <= 1.1 for r in per_round)
                rounds_best[workload] = sum(r <= 1.0 for r in per_round)
                rounds_run[workload] = len(per_round)
        if of_medians:
            row(f"{backend} (of the medians)", of_medians)
        if paired:
            row(f"{backend} (paired by round)", paired)
        if fastest:
            row(f"{backend} (fastest runs)", fastest)
        if rounds_within:
            settled_row(f"{backend} (rounds within 1.1x)", rounds_within, rounds_best, rounds_run)


# Figures a workload reports in its own JSON line, printed under its table.
WORKLOAD_FIGURES = {
    "bytes_per_block": "resident bytes per live 16-byte block",
    # The producer's queue holds up to 1024 blocks in flight: a consumer that falls
    # behind raises the peak RSS whatever the allocator (BENCHMARKS.md, #14, Session 16).
    "mean_queue_depth": "mean queue depth at a push, of 1024",
    # A thread that is late (its page faults, its cross-thread frees) keeps the others
    # waiting at mixed_lifetime's barriers: its wall pays twice (BENCHMARKS.md, #12,
    # Sessions 30 and 32).
    "barrier_wait_ms": "threads' time waiting at the phase barriers, summed, ms",
}


def load_backends(build_dir, subset, extras):
    """name -> preloaded .so ("" for glibc), glibc first: the build's backends (written by
    CMake as allocator_backends.json) that exist, limited to the comma-separated
    `subset` if given, plus each NAME=SO of `extras`; ValueError for a build tree without
    the list or a bad extra."""
    listing = os.path.join(build_dir, "tests", "bench", "allocators", "allocator_backends.json")
    try:
        with open(listing) as f:
            backends = json.load(f)  # ordered: glibc first
    except OSError as error:
        raise ValueError(f"cannot read {listing}: {error.strerror} (configure the build tree "
                         "first: scripts/build.sh)") from error
    if subset:
        wanted = subset.split(",")
        backends = {name: path for name, path in backends.items() if name in wanted}
    for extra in extras:
        name, sep, path = extra.partition("=")
        if not sep or not name or not os.path.exists(path):
            raise ValueError(f"--extra {extra}: want NAME=SO of an existing file")
        backends[name] = os.path.abspath(path)
    return {name: path for name, path in backends.items() if not path or os.path.exists(path)}


def backends_or_exit(args, tool):
    """load_backends for a script's --build-dir, --backends and --extra; exit 2 with one
    line when the build tree or an extra is wrong."""
    try:
        return load_backends(args.build_dir, args.backends, args.extra)
    except ValueError as error:
        print(f"{tool}: {error}", file=sys.stderr)
        sys.exit(2)


def add_commands(given, commands, tool):
    """Adds each [NAME=]COMMAND of `given` (shell-split command lines) to `commands` (name
    -> argv), named NAME or after its program, made unique; returns the names added. A
    command line that does not split, or is empty, ends the run: exit 2, one line."""
    added = []
    for entry in given:
        label, sep, line = entry.partition("=")
        if not sep or not re.fullmatch(r"[\w.+-]+", label):
            label, line = "", entry
        try:
            argv = shlex.split(line)
        except ValueError as error:
            print(f"{tool}: --command {entry}: {error}", file=sys.stderr)
            sys.exit(2)
        if not argv:
            print(f"{tool}: --command {entry}: no command line", file=sys.stderr)
            sys.exit(2)
        name = base = label or os.path.basename(argv[0])
        suffix = 1
        while name in commands:
            suffix += 1
            name = f"{base}-{suffix}"
        commands[name] = argv
        added.append(name)
    return added


def add_workload_options(parser, default):
    """--backends, --workloads (`default` unless given; none: --command's only), --extra and
    --command, for the scripts that run this harness's workloads their own way
    (first_use.py, peak_rss_map.py): read back by chosen_workloads."""
    parser.add_argument("--backends", help="comma-separated subset (default: all)")
    parser.add_argument("--workloads", default=default,
                        help=f"comma-separated workloads of bench_allocators.py (default: "
                             f"{default}; none: only --command)")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=SO",
                        help="one more backend: a malloc .so to preload under NAME")
    parser.add_argument("--command", action="append", default=[], metavar="[NAME=]COMMAND",
                        help="one more workload: a shell-split command line, named NAME or "
                        "after its program")


def chosen_workloads(args, tool):
    """(the build's bin directory, name -> workload, the scratch directory to keep until
    the runs end) for the options of add_workload_options; exit 2 with one line for an
    unknown workload, or for none at all."""
    harness = argparse.Namespace(bin_dir=os.path.join(args.build_dir, "bin"),
                                 transfers=3_000_000, python=default_python())
    known = workloads(harness)
    commands = {}
    for name in [] if args.workloads == "none" else args.workloads.split(","):
        if name not in known:
            print(f"{tool}: unknown workload {name}", file=sys.stderr)
            sys.exit(2)
        commands[name] = known[name]
    given = {}
    add_commands(args.command, given, tool)
    commands.update((name, {"command": argv, "env": []}) for name, argv in given.items())
    if not commands:
        print(f"{tool}: no workload (--workloads none and no --command)", file=sys.stderr)
        sys.exit(2)
    return harness.bin_dir, commands, prepare(commands, tool, harness.bin_dir)


def launch_command(bin_dir, backend_path, workload):
    """alloc_launch's command line that runs `workload` with `backend_path` preloaded."""
    command = [os.path.join(bin_dir, "alloc_launch")]
    if backend_path:
        command += ["--preload", backend_path]
    for assignment in workload["env"]:
        command += ["--env", assignment]
    return command + ["--"] + workload["command"]


def run_once(args, backend_path, workload):
    command = launch_command(args.bin_dir, backend_path, workload)
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"alloc_launch failed: {completed.stderr.strip()}")
    output, result = split_launch_output(completed.stdout)
    # The workload's own output is kept when it ends with a JSON object too (small_blocks
    # reports bytes per block).
    lines = output.strip().splitlines()
    if lines and lines[-1].startswith("{"):
        result["workload"] = json.loads(lines[-1])
    return result


def split_launch_output(stdout):
    """(the command's output, alloc_launch's report) from alloc_launch's stdout. The report
    comes last, on a line of its own only if the command's output ended with one."""
    start = stdout.rfind('{"exit_status"')
    if start < 0:
        raise RuntimeError("alloc_launch printed no report")
    return stdout[:start], json.loads(stdout[start:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True, help="the CMake build tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--transfers", type=int, default=3_000_000,
                        help="producer_consumer hand-overs per run")
    parser.add_argument("--backends", help="comma-separated subset (default: all)")
    parser.add_argument("--workloads",
                        help="comma-separated subset of python,producer_consumer,small_blocks,"
                             "mixed_lifetime_local,producer_consumer_one_cpu,"
                             "producer_consumer_two_cpus,fixed_size_churn,handoff,shell_commands,"
                             "json_python,json_jq and the classic shapes ("
                             + ",".join(CLASSIC) + "); 'classic' names those and "
                             "producer_consumer (default: all)")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=SO",
                        help="one more backend: a malloc .so to preload under NAME (e.g. an "
                             "earlier build, for a before/after comparison in one run)")
    parser.add_argument("--command", help="one more workload: a shell-split command line, "
                                          "run as workload 'command'")
    parser.add_argument("--python", default=default_python())
    parser.add_argument("--json", help="also write every sample here")
    args = parser.parse_args()
    args.bin_dir = os.path.join(args.build_dir, "bin")

    backends = backends_or_exit(args, "bench_allocators")
    chosen = workloads(args)
    if args.command:
        given = {}
        (name,) = add_commands([args.command], given, "bench_allocators")
        chosen["command"] = {"command": given[name], "env": []}
    if args.workloads:
        wanted = []
        for name in args.workloads.split(","):
            wanted += CLASSIC_SET if name == "classic" else [name]
        if args.command:
            wanted.append("command")
        unknown = [name for name in wanted if name not in chosen]
        if unknown:
            print(f"bench_allocators: unknown workload {unknown[0]}", file=sys.stderr)
            sys.exit(2)
        chosen = {name: w for name, w in chosen.items() if name in wanted}
    scratch = prepare(chosen, "bench_allocators", args.bin_dir)  # kept until the runs end

    names = list(backends)
    ratios = {b: [] for b in names}  # (wall ratio, RSS ratio) per workload
    walls = {}  # workload -> backend -> median wall seconds
    round_walls = {}  # workload -> backend -> wall seconds of each round
    samples = {w: {b: [] for b in names} for w in chosen}
    for round_index in range(args.rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for workload_name, workload in chosen.items():
            for backend in order:
                result = run_once(args, backends[backend], workload)
                if result["exit_status"] != 0:
                    print(f"{workload_name} under {backend} exited {result['exit_status']}",
                          file=sys.stderr)
                samples[workload_name][backend].append(result)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)

    for workload_name in chosen:
        print(f"\n### {workload_name} (median of {args.rounds})\n")
        # CPU (user + system) is reported beside wall time: on a shared machine it is
        # the steadier of the two, while wall time shows what the threads waited for.
        # The wall's spread, (max - min) / median over the rounds: a ratio between two
        # backends means little where it is smaller than their spreads.
        # Page faults beside the time: on the PVM guests a fault costs about 10 us, so a
        # purge whose pages are touched again shows here before it shows in the wall.
        print("| allocator | wall s | spread | x glibc | CPU s | x glibc | peak RSS MiB | x glibc "
              "| page faults | failed runs |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        medians = {}
        for backend in names:
            runs = samples[workload_name][backend]
            ok = [r for r in runs if r["exit_status"] == 0] or runs
            medians[backend] = (
                statistics.median(r["wall_seconds"] for r in ok),
                statistics.median(r["user_seconds"] + r["system_seconds"] for r in ok),
                statistics.median(r["peak_rss_kib"] for r in ok) / 1024)
        walls[workload_name] = {b: figures[0] for b, figures in medians.items()}
        round_walls[workload_name] = {b: [r["wall_seconds"] for r in samples[workload_name][b]]
                                      for b in names}
        base = medians.get("glibc")
        for backend in names:
            figures = medians[backend]
            if base and base[0] and base[2]:
                ratios[backend].append((figures[0] / base[0], figures[2] / base[2]))
            failed = sum(1 for r in samples[workload_name][backend] if r["exit_status"] != 0)
            cells = []
            for index, precision in ((0, 3), (1, 3), (2, 1)):
                ratio = f"{figures[index] / base[index]:.2f}" if base and base[index] else "-"
                cells += [f"{figures[index]:.{precision}f}", ratio]
                if index == 0:
                    wall = round_walls[workload_name][backend]
                    spread = (max(wall) - min(wall)) / figures[0] if figures[0] else 0.0
                    cells.insert(1, f"{100 * spread:.0f}%")
            faults = [r["page_faults"] for r in samples[workload_name][backend]
                      if r["exit_status"] == 0 and "page_faults" in r]
            cells.append(f"{statistics.median(faults):.0f}" if faults else "-")
            print(f"| {backend} | " + " | ".join(cells) + f" | {failed} |")
        for key, caption in WORKLOAD_FIGURES.items():
            figures = {b: [r["workload"][key] for r in samples[workload_name][b]
                           if key in r.get("workload", {})] for b in names}
            if all(figures.values()):
                print(f"\n{workload_name}'s {caption} (median): " + ", ".join(
                    f"{b} {statistics.median(v):.1f}" for b, v in figures.items()))

    if len(chosen) > 1 and "glibc" in names:
        # The summary the issue's targets are stated in: geometric mean of the wall-time
        # ratios, the worst wall-time ratio, and the worst peak-RSS ratio.
        print(f"\n### summary over {len(chosen)} workloads (ratios to glibc)\n")
        print("| allocator | wall geomean | worst wall | worst peak RSS |")
        print("|---|---:|---:|---:|")
        for backend in names:
            r = ratios[backend]
            if len(r) != len(chosen):
                continue
            geomean = statistics.geometric_mean(x for x, _ in r)
            print(f"| {backend} | {geomean:.2f} | {max(x for x, _ in r):.2f} "
                  f"| {max(y for _, y in r):.2f} |")

    print_best_peer_summary(walls, round_walls, names)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backends": backends, "samples": samples}, f, indent=1)


if __name__ == "__main__":
    main()
