#!/usr/bin/env bash
# Re-records the bundled sample traces (traces/samples/*.mtr) with our recorder
# (`mtreplay record`, which preloads libmhook.so) from real programs. Run after
# scripts/build.sh (needs build/bin/mtreplay, build/lib/libmhook.so, g++, gcc, xz and
# /usr/bin/python3). traces/samples/README.md says what each one is.
#
#   scripts/record-samples.sh [OUTPUT_DIR [NAME...]]   (default: traces/samples, all five)
# With NAMEs (python3, gcc, python3-threads, xz-threads, prodcons) only those are
# re-recorded, so the others keep their content hashes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$root/traces/samples}")"
shift $(($# > 0 ? 1 : 0))
only=("$@")
mtreplay="$root/build/bin/mtreplay"
src="$root/traces/samples/src"
[[ -x "$mtreplay" ]] || { echo "record-samples: $mtreplay missing; run scripts/build.sh first" >&2; exit 2; }
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# record NAME COMMAND...: runs COMMAND under the hook and keeps the largest trace it
# wrote (gcc's driver execs cc1 and as: cc1 is the one with the malloc traffic).
record() {
  local name="$1"; shift
  if ((${#only[@]})) && [[ " ${only[*]} " != *" $name "* ]]; then return 0; fi
  local dir="$work/$name"
  mkdir -p "$dir"
  "$mtreplay" record -q -o "$dir/$name.%p.mtr" --zstd-level 19 -- "$@" >/dev/null
  local biggest
  biggest="$(ls -S "$dir"/*.mtr | head -n 1)"
  cp "$biggest" "$out/$name.mtr"
  echo "record-samples: $name.mtr $(stat -c %s "$out/$name.mtr") bytes <- $*"
}

# Single-threaded: the CPython interpreter (Debian's, not a pyenv shim that forks a
# shell) and the C compiler proper.
# Programs run from the source folder with relative arguments: a trace header keeps
# argv, and the committed traces should not carry this machine's paths.
cd "$src"
record python3 env PYTHONMALLOC=malloc /usr/bin/python3 python_workload.py
record gcc gcc -O2 -c gcc_input.c -o /dev/null

# Multithreaded: CPython with two worker threads; xz compressing with two threads;
# the producer/consumer program, whose frees nearly all happen on another thread.
record python3-threads env PYTHONMALLOC=malloc /usr/bin/python3 python_workload.py threads
cd "$work"
head -c 1500000 /dev/zero | tr '\0' 'a' | sed 's/a\{64\}/&\n/g' > xz-input.txt
seq 1 60000 >> xz-input.txt
record xz-threads xz -T2 -1 --block-size=16KiB -c xz-input.txt
mkdir -p bin
g++ -O2 -pthread -o bin/prodcons "$src/prodcons.cpp"
record prodcons bin/prodcons 2 2 40000
