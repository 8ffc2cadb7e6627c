#!/usr/bin/env python3
"""Instructions per allocator call: every workload under every backend, counted exactly.

Wall time on the project's 2-core guests moves by 5-50 % from run to run; an instruction
count does not. Each workload runs once per backend under valgrind's callgrind (threads
serialised, so no contention and no cache or page-fault costs: the code's length only),
and the profile is split into the program's calls into the allocator (their count and
the instructions executed inside them, whatever the allocator calls from there) and the
rest, the program's own work, which should be the same under every backend. A backend
that is faster in instructions and slower in wall time loses its time elsewhere: cache
misses, page faults, contention (bench_allocators.py measures those).

`--command` adds any program (python3, sqlite3, g++ compiling a file): the processes it
starts are counted too (g++ runs cc1plus and as), and the `total x glibc` column gives
the whole run's instructions against glibc's, the allocator's and the program's together.

`--cache-sim` has callgrind simulate the data caches as well (a first level as this
host's, and `--ll` as the last; one core, threads in fixed turns, no prefetching): it
prints the misses per call inside the calls and in the program's own code, where an
allocator that hands out blocks its calls never touched shows them (the program's first
store into each).

Needs valgrind (`apt-get install valgrind`); exits 2 with a message without it.
"""
import argparse
import collections
import functools
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

import bench_allocators

# The last level --cache-sim simulates: valgrind models two levels, and the first a block
# handed out cold misses beyond is the core's own L2 (1 MiB, 16-way on the project's
# Zen 5 guests, whose CPUID shows valgrind a 512 MiB 2-way L3: only first touches missed it).
LL_CACHE = "1048576,16,64"

# Workloads sized for callgrind (about 50 times slower than a native run): seconds each.
WORKLOADS = {
    "thread_malloc": ["alloc_thread_malloc", "--iterations", "500000"],
    "producer_consumer": ["alloc_producer_consumer", "--transfers", "300000"],
    "mixed_lifetime": ["alloc_mixed_lifetime", "--steps", "300000"],
    "server_exchange": ["alloc_server_exchange", "--rounds", "3"],
    "small_churn": ["alloc_small_churn", "--iterations", "20000"],
    "random_churn": ["alloc_random_churn", "--steps", "300000"],
    "bigint_factor": ["alloc_bigint_factor", "--count", "4"],
    "small_blocks": ["alloc_small_blocks", "--count", "500000", "--size", "16"],
}

# The allocator's entry points by name, where its object does not tell: glibc's allocator
# lives in libc.so.6 beside everything else, and callgrind names no object for tcmalloc's.
ENTRIES = {
    "malloc", "free", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign",
    "aligned_alloc", "valloc", "pvalloc", "malloc_usable_size", "cfree", "malloc_trim",
    "__libc_malloc", "__libc_free", "__libc_calloc", "__libc_realloc", "__libc_memalign",
}


def is_entry(function):
    name = function.split("'")[0]  # callgrind marks recursion levels as name'2
    return name in ENTRIES or name.startswith(("operator new", "operator delete"))


class Profile:
    """Totals of one callgrind output file (format: valgrind's callgrind-format docs), per
    event: Ir alone, or with --cache-sim also the data reads and writes and their misses
    (D1mr, D1mw, DLmr, DLmw)."""

    def __init__(self):
        self.total = collections.Counter()
        self.calls = 0  # calls from another object into the allocator's entries
        self.inside = collections.Counter()  # their inclusive costs
        self.caches = []  # callgrind's "desc: D1 cache: ..." lines

    def add(self, other):
        self.total.update(other.total)
        self.calls += other.calls
        self.inside.update(other.inside)
        self.caches = self.caches or other.caches

    def misses(self, level, part="all"):
        """Data misses at `level` (D1 or DL): "in_calls", in the "program"'s own code (the
        rest), or "all"."""
        in_calls = self.inside[level + "mr"] + self.inside[level + "mw"]
        every = self.total[level + "mr"] + self.total[level + "mw"]
        return {"in_calls": in_calls, "program": every - in_calls, "all": every}[part]


def read_profile(path, is_entry_of, is_inside):
    """A call counts when it goes from code not `is_inside(object, function)` to a function
    that `is_entry_of(object, function)`: the program's calls, not the allocator's own."""
    names = {"ob": {}, "fn": {}}
    kind_of = {"ob": "ob", "cob": "ob", "fn": "fn", "cfn": "fn"}

    def name(key, value):
        table = names[kind_of[key]]
        m = re.match(r"\((\d+)\)(?: (.*))?$", value)
        if not m:
            return value
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1), "")

    profile = Profile()
    events = ["Ir"]
    positions = 1  # leading position columns of a cost line ("positions: line")
    caller_object = caller_function = callee_object = callee_function = ""
    pending_calls = None  # the next cost line is the inclusive cost of these calls

    def costs(numbers):  # trailing zero events may be left out
        return collections.Counter(dict(zip(events, map(int, numbers))))

    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("events:", "positions:", "desc: D1 cache:", "desc: LL cache:")):
                head, _, rest = line.partition(":")
                if head == "events":
                    events = rest.split()
                elif head == "positions":
                    positions = len(rest.split())
                else:
                    profile.caches.append(line[len("desc: "):].strip())
                continue
            key, sep, value = line.rstrip("\n").partition("=")
            if sep and key in kind_of:
                resolved = name(key, value)
                if key == "ob":
                    caller_object = resolved
                elif key == "cob":
                    callee_object = resolved
                elif key == "cfn":
                    callee_function = resolved
                elif key == "fn":
                    caller_function = resolved
                    callee_object = caller_object
                continue
            if sep and key == "calls":
                pending_calls = int(value.split()[0])
                continue
            if line.startswith(("totals:", "summary:")):
                profile.total = costs(line.split()[1:])
                continue
            if pending_calls is not None and line[:1] in "0123456789+-*":
                if (is_entry_of(callee_object, callee_function)
                        and not is_inside(caller_object, caller_function)):
                    profile.calls += pending_calls
                    profile.inside.update(costs(line.split()[positions:]))
                pending_calls = None
                callee_object = caller_object
    return profile


def allocator_tests(backend_path):
    """(is_entry_of, is_inside) for read_profile. callgrind names no object ("???") for
    tcmalloc's code: of a preloaded backend, such code is the allocator's when it has a
    name. Nameless code there (an address: the PLT stubs of a library built with
    `-fcf-protection`, in `.plt.sec`) is the program's way in: counted as the allocator's,
    it hid libpython3.11.so's calls (617 found of 6,613)."""
    if not backend_path:
        glibc = lambda obj: os.path.basename(obj).startswith("libc.so")
        return (lambda obj, fn: glibc(obj) and is_entry(fn)), (lambda obj, fn: glibc(obj))
    real = os.path.realpath(backend_path)
    ours = functools.lru_cache(maxsize=None)(
        lambda obj: obj not in ("", "???") and os.path.realpath(obj) == real)
    nameless = lambda fn: re.fullmatch(r"0x[0-9a-f]+('\d+)?", fn) is not None
    return ((lambda obj, fn: ours(obj) or (obj == "???" and is_entry(fn))),
            (lambda obj, fn: ours(obj) or (obj == "???" and not nameless(fn))))


def count(valgrind, command, backend_path, workdir, cache_options):
    """The Profile of `command` under the backend, summed over every process it ran;
    `cache_options`: callgrind's cache simulation options, or none."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if backend_path:
        env["LD_PRELOAD"] = backend_path
    completed = subprocess.run([valgrind, "--tool=callgrind", "--trace-children=yes",
                                f"--callgrind-out-file={workdir}/callgrind.out.%p"]
                               + cache_options + command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, errors="replace")
    profile = Profile()
    tests = allocator_tests(backend_path)
    for name in os.listdir(workdir):  # emptied whatever the outcome, for the next run
        path = os.path.join(workdir, name)
        if completed.returncode == 0:
            profile.add(read_profile(path, *tests))
        os.unlink(path)
    if completed.returncode != 0:
        # The program's own last word, not valgrind's (its lines start ==PID== or --PID--).
        own = [line for line in completed.stderr.splitlines()
               if line.strip() and not re.match(r"(==|--)\d+(==|--)", line)]
        raise RuntimeError(f"exit {completed.returncode} under valgrind"
                           + (f": {own[-1].strip()}" if own else ""))
    return profile


def print_misses(workload, rows, results):
    """The --cache-sim table: data misses per allocator call, in the allocator's code (the
    call's own) and in the program's (what the blocks it was given cost it later: a block
    handed out cold misses at the program's first store into it), and all of the run's
    over glibc's."""
    caches = next((p.caches for p in rows.values() if p.caches), [])
    print(f"{workload}: data cache misses per call ({'; '.join(caches) or 'simulated'})")
    print(f"{'backend':<16}{'D1 in calls':>12}{'D1 program':>12}{'LL in calls':>13}"
          f"{'LL program':>12}{'D1 x glibc':>12}{'LL x glibc':>12}")
    glibc = rows.get("glibc")
    for backend, p in rows.items():
        cells = []
        for level in ("D1", "DL"):
            for part in ("in_calls", "program"):
                cells.append(f"{p.misses(level, part) / p.calls:.3f}" if p.calls else "-")
        for level in ("D1", "DL"):
            base = glibc.misses(level) if glibc else 0
            cells.append(f"{p.misses(level) / base:.3f}" if base else "-")
        print(f"{backend:<16}{cells[0]:>12}{cells[1]:>12}{cells[2]:>13}{cells[3]:>12}"
              f"{cells[4]:>12}{cells[5]:>12}")
        results[backend].update({f"{name}_misses_{part}": p.misses(level, part)
                                 for level, name in (("D1", "d1"), ("DL", "ll"))
                                 for part in ("in_calls", "program")})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True, help="the CMake build tree")
    parser.add_argument("--backends", help="comma-separated subset (default: all)")
    parser.add_argument("--workloads", help="comma-separated subset of " + ",".join(WORKLOADS)
                        + " (default: all)")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=SO",
                        help="one more backend: a malloc .so to preload under NAME")
    parser.add_argument("--command", action="append", default=[], metavar="[NAME=]COMMAND",
                        help="one more workload: a shell-split command line (its child "
                        "processes counted too), named NAME or after its program")
    parser.add_argument("--cache-sim", action="store_true",
                        help="also simulate the data caches (callgrind --cache-sim=yes) and "
                        "print the misses per call, inside the calls and in the program's code")
    parser.add_argument("--ll", default=LL_CACHE, metavar="BYTES,WAYS,LINE",
                        help=f"the simulated last level with --cache-sim (default {LL_CACHE}: "
                        "a core's own L2, see the README)")
    parser.add_argument("--valgrind", default="valgrind")
    parser.add_argument("--json", help="also write the counts here")
    args = parser.parse_args()
    bin_dir = os.path.join(args.build_dir, "bin")
    if not re.fullmatch(r"\d+,\d+,\d+", args.ll):
        print(f"instruction_counts: --ll {args.ll}: not BYTES,WAYS,LINE", file=sys.stderr)
        sys.exit(2)

    try:
        subprocess.run([args.valgrind, "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        print(f"instruction_counts: {args.valgrind} not found: apt-get install valgrind",
              file=sys.stderr)
        sys.exit(2)
    backends = bench_allocators.backends_or_exit(args, "instruction_counts")
    if not args.backends:
        # scudo stops at its first mapping under valgrind: "internal map or unmap failure".
        backends.pop("scudo", None)
    commands = {name: [os.path.join(bin_dir, argv[0])] + argv[1:]
                for name, argv in WORKLOADS.items()}
    chosen = list(WORKLOADS) if not args.command or args.workloads else []
    if args.workloads:
        chosen = args.workloads.split(",")
        unknown = [w for w in chosen if w not in WORKLOADS]
        if unknown:
            print(f"instruction_counts: unknown workload {unknown[0]}", file=sys.stderr)
            sys.exit(2)
    chosen += bench_allocators.add_commands(args.command, commands, "instruction_counts")

    # Threads take turns in a fixed order (--fair-sched): which thread's lines the shared
    # simulated caches hold then repeats from run to run (without it a threaded workload's
    # LL misses moved by half, with the machine's load).
    cache_options = (["--cache-sim=yes", f"--LL={args.ll}", "--fair-sched=yes"]
                     if args.cache_sim else [])
    results = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="instruction_counts.") as workdir:
        for workload in chosen:
            command = commands[workload]
            results[workload] = {}
            shown = shlex.join(command).splitlines()[0]
            print(f"\n{workload} ({shown[:100]}{'...' if len(shown) > 100 else ''})")
            print(f"{'backend':<16}{'calls':>12}{'Ir/call':>10}{'x best peer':>13}"
                  f"{'allocator Ir':>15}{'program Ir':>15}{'total x glibc':>15}")
            rows = {}
            for backend, path in backends.items():
                try:
                    rows[backend] = count(args.valgrind, command, path, workdir, cache_options)
                except RuntimeError as error:
                    print(f"{workload} under {backend}: {error}", file=sys.stderr)
                    failed = True
            per_call = {b: p.inside["Ir"] / p.calls for b, p in rows.items() if p.calls}
            peers = [per_call[b] for b in bench_allocators.PEERS if b in per_call]
            best = min(peers) if peers else None
            glibc = rows.get("glibc")
            for backend, p in rows.items():
                ratio = f"{per_call[backend] / best:.2f}" if best and backend in per_call else "-"
                ir = f"{per_call[backend]:.1f}" if backend in per_call else "-"
                total = (f"{p.total['Ir'] / glibc.total['Ir']:.3f}"
                         if glibc and glibc.total["Ir"] else "-")
                print(f"{backend:<16}{p.calls:>12,}{ir:>10}{ratio:>13}"
                      f"{p.inside['Ir']:>15,}{p.total['Ir'] - p.inside['Ir']:>15,}{total:>15}")
                results[workload][backend] = {"calls": p.calls, "allocator_ir": p.inside["Ir"],
                                              "total_ir": p.total["Ir"]}
            if args.cache_sim and rows:
                print_misses(workload, rows, results[workload])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
