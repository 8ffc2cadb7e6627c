#!/usr/bin/env python3
"""A change to libarena.so timed at several placements of its fast paths.

Where malloc and free land in the library moves a benchmark's wall by several per cent,
and now and then by 17 %, with no instruction changed (BENCHMARKS.md, #12, Session 57): one
build of a change against one build of its base is one draw of that lottery each. This
builds each source tree at several placements (CMake's ARENA_LAYOUT_PAD: 0, 64, ...
bytes of padding before malloc) and times a command under all of them in interleaved
rounds, so that two trees are compared by their spread over placements, not by one.

  layout_sweep.py build --source-dir SRC --work-dir DIR --tag NAME [--pads 16]
  layout_sweep.py run --work-dir DIR --tags BASE,NEW [--also NAME=SO]... [--rounds 7]
                     [--json F] -- COMMAND...

`build` configures SRC in DIR/build-NAME (its own build directory; the project's is not
touched) and leaves DIR/NAME_PAD.so for each placement. A tree from before the knob
(commit 27cb258) needs it first: `git show 27cb258 -- allocators/arena/CMakeLists.txt
allocators/arena/src/preload.cpp | git apply` in a worktree of it; without it every
placement would be the same library, which `build` refuses. `run` times COMMAND with each of
those preloaded, through alloc_launch (`--launcher`), all of them once per round in a
rotating order, and prints per tag the median wall of each placement, the median and
range of those medians, and the ratio of each tag's median to the first tag's.
`--also NAME=SO` times another allocator beside them in the same rounds, as a tag of
one placement (`NAME=` with no object: the C library's own malloc), so that a tree's
spread over placements is read against a peer's one build.
Exit status: 0 done, 1 a build or a run failed, 2 bad arguments.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

STEP = 64


def fail(message, status=1):
    print(f"layout_sweep.py: {message}", file=sys.stderr)
    sys.exit(status)


def malloc_address(library):
    out = subprocess.run(["nm", "--defined-only", library], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[2] == "malloc":
            return int(fields[0], 16)
    fail(f"{library}: no malloc symbol")
    return 0


def build(args):
    build_dir = os.path.join(args.work_dir, f"build-{args.tag}")
    os.makedirs(args.work_dir, exist_ok=True)
    first = None
    for pad in range(0, args.pads * STEP, STEP):
        # The project's default build type, so that placement 0 is the library a plain
        # build makes.
        configure = ["cmake", "-S", args.source_dir, "-B", build_dir, "-G", "Ninja",
                     "-DCMAKE_BUILD_TYPE=RelWithDebInfo", f"-DARENA_LAYOUT_PAD={pad}"]
        for command in (configure, ["cmake", "--build", build_dir, "--target", "arena"]):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
                fail(f"{' '.join(command)}: exit status {done.returncode}")
        library = os.path.join(args.work_dir, f"{args.tag}_{pad}.so")
        shutil.copyfile(os.path.join(build_dir, "lib", "libarena.so"), library)
        address = malloc_address(library)
        if first is None:
            first = address
        elif address == first:
            fail(f"{args.source_dir}: malloc did not move with ARENA_LAYOUT_PAD={pad}"
                 " (a tree without the knob?)")
        print(f"{library}: malloc at {address:#x}")


def variants(work_dir, tag):
    found = []
    prefix = f"{tag}_"
    if not os.path.isdir(work_dir):
        fail(f"{work_dir}: no such directory", 2)
    for name in os.listdir(work_dir):
        if name.startswith(prefix) and name.endswith(".so") and name[len(prefix):-3].isdigit():
            found.append((int(name[len(prefix):-3]), os.path.join(work_dir, name)))
    if not found:
        fail(f"no {prefix}PAD.so in {work_dir}: run `build --tag {tag}` first", 2)
    return sorted(found)


def wall_seconds(launcher, library, command):
    preload = ["--preload", library] if library else []
    done = subprocess.run([launcher, *preload, "--", *command], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        fail(f"{library}: {' '.join(command)}: exit status {done.returncode}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        fail(f"{launcher}: printed no report for {' '.join(command)}")
    report = json.loads(lines[-1])
    if report.get("exit_status", 0) != 0:
        fail(f"{library}: {' '.join(command)} exited with {report['exit_status']}")
    return report["wall_seconds"]


def run(args):
    if not args.command:
        fail("no command to time (put it after --)", 2)
    tags = args.tags.split(",")
    libraries = [(tag, pad, path) for tag in tags for pad, path in variants(args.work_dir, tag)]
    for also in args.also:
        name, _, library = also.partition("=")
        if not name or name in tags:
            fail(f"--also {also}: want a new NAME=SO", 2)
        if library and not os.path.isfile(library):
            fail(f"--also {also}: no such file", 2)
        tags.append(name)
        libraries.append((name, 0, library))
    if not os.access(args.launcher, os.X_OK):
        fail(f"{args.launcher}: no such launcher (build alloc_launch, or pass --launcher)", 2)
    walls = {(tag, pad): [] for tag, pad, _ in libraries}
    for round_index in range(args.rounds):
        shift = round_index % len(libraries)
        for tag, pad, path in libraries[shift:] + libraries[:shift]:
            walls[(tag, pad)].append(wall_seconds(args.launcher, path, args.command))
    result = {"command": args.command, "rounds": args.rounds, "tags": {}}
    for tag in tags:
        medians = {pad: statistics.median(walls[(t, pad)]) for t, pad, _ in libraries if t == tag}
        result["tags"][tag] = {"median_by_pad": medians,
                               "median": statistics.median(medians.values()),
                               "min": min(medians.values()), "max": max(medians.values())}
    first = result["tags"][tags[0]]["median"]
    print(f"{' '.join(args.command)}: {args.rounds} rounds, median wall (s) by placement")
    for tag in tags:
        t = result["tags"][tag]
        t["ratio_to_first"] = t["median"] / first
        by_pad = " ".join(f"{pad}:{m:.4f}" for pad, m in t["median_by_pad"].items())
        print(f"{tag}: median {t['median']:.4f} [{t['min']:.4f}-{t['max']:.4f}]"
              f" x{t['ratio_to_first']:.3f}  ({by_pad})")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    b = verbs.add_parser("build", help="build a source tree at several placements")
    b.add_argument("--source-dir", required=True)
    b.add_argument("--work-dir", required=True)
    b.add_argument("--tag", required=True)
    b.add_argument("--pads", type=int, default=16, help="placements, 64 bytes apart")
    r = verbs.add_parser("run", help="time a command under every placement of some trees")
    r.add_argument("--work-dir", required=True)
    r.add_argument("--tags", required=True, help="comma-separated; ratios are to the first")
    r.add_argument("--also", action="append", default=[], metavar="NAME=SO",
                   help="another allocator timed beside them (NAME= for the C library's)")
    r.add_argument("--rounds", type=int, default=7)
    r.add_argument("--launcher", default=os.path.join("build", "bin", "alloc_launch"))
    r.add_argument("--json")
    r.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.verb == "build":
        if args.pads < 1:
            fail("--pads must be at least 1", 2)
        build(args)
    else:
        if args.command and args.command[0] == "--":
            args.command = args.command[1:]
        if args.rounds < 1:
            fail("--rounds must be at least 1", 2)
        run(args)


if __name__ == "__main__":
    main()
