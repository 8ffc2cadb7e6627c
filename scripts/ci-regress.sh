#!/usr/bin/env bash
# CI regression gate: replays the sample traces against the chosen allocators, then
# `mtreplay diff`s the result against a baseline result file kept in the repository,
# and fails (exit 1) when anything regressed. results/README.md shows how a project
# wires it into its own CI.
#
#   scripts/ci-regress.sh [options] [TRACES...]     (no trace: the bundled samples)
#     --baseline FILE    baseline result JSON (default results/baselines/samples.json)
#     -a A,B,...         allocators (default: those the baseline holds)
#     --repeat N         measured runs per trace and allocator (default 5; >= 4 needed
#                        for p < 0.05, see results/README.md)
#     --threshold PCT    smallest change that counts (default 10)
#     --out DIR          where candidate.json and report.md go (default ci-regress-out)
#     --update           write this run as the new baseline instead of diffing
# Environment: MTREPLAY (the mtreplay binary; default build/bin/mtreplay).
# With glibc among several allocators, the others are judged as ratios to glibc's run
# of the same round (diff --normalize-to glibc), which cancels machine drift.
# Exit: 0 no regression, 1 regression, 2 bad input, 3 an allocator crashed in the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mtreplay="${MTREPLAY:-$root/build/bin/mtreplay}"
baseline="$root/results/baselines/samples.json"
allocators="" repeat=5 threshold=10 out="ci-regress-out" update=0
traces=()
while (($#)); do
  case "$1" in
    --baseline) baseline="$2"; shift 2 ;;
    -a|--allocators) allocators="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --threshold) threshold="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --update) update=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "ci-regress: unknown option $1" >&2; exit 2 ;;
    *) traces+=("$1"); shift ;;
  esac
done
[[ -x "$mtreplay" ]] || { echo "ci-regress: $mtreplay not built (run scripts/build.sh)" >&2; exit 2; }
if ((update == 0)) && [[ ! -f "$baseline" ]]; then
  echo "ci-regress: no baseline $baseline (make one with --update)" >&2
  exit 2
fi
if [[ -z "$allocators" ]]; then
  if [[ -f "$baseline" ]]; then
    # The allocators the baseline measured, in its order.
    allocators="$(tr -d '\n' < "$baseline" | grep -o '"allocator": *{[^}]*}' |
                  grep -o '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' |
                  awk '!seen[$0]++' | paste -sd, -)" || allocators=""
  fi
  allocators="${allocators:-glibc}"
fi
mkdir -p "$out"

set +e
"$mtreplay" compare "${traces[@]}" -a "$allocators" --repeat "$repeat" --compact-json \
  --json "$out/candidate.json" --markdown "$out/compare.md"
compare_rc=$?
set -e
if ((compare_rc != 0 && compare_rc != 3)); then exit "$compare_rc"; fi

if ((update)); then
  mkdir -p "$(dirname "$baseline")"
  # Trace paths relative to the repository: a committed file names no machine's paths
  # (diff identifies traces by content hash, never by path).
  sed "s|\"$root/|\"|g" "$out/candidate.json" > "$baseline"
  echo "ci-regress: wrote baseline $baseline"
  exit "$compare_rc"
fi

# With glibc and another allocator measured, judge the others as ratios to glibc's run
# of the same round: a busier or slower CI machine then does not read as a regression.
normalize=()
if [[ ",$allocators," == *",glibc,"* && "$allocators" == *,* ]]; then
  normalize=(--normalize-to glibc)
fi
set +e
"$mtreplay" diff "$baseline" "$out/candidate.json" --threshold "$threshold" \
  "${normalize[@]}" --markdown "$out/report.md"
diff_rc=$?
set -e
# A crash is a regression only if the baseline did not crash too: diff decides that.
exit "$diff_rc"
