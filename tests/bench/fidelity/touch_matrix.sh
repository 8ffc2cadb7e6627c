#!/usr/bin/env bash
# Touch models over the whole fidelity matrix (BENCHMARKS.md "Fidelity: touch models"):
# run_fidelity.sh once per program and model, the models taking turns program by
# program (the first model rotating), every model replaying the same recording of a
# program. Writes OUT/MODEL/ (run_fidelity's files and summary.md) and OUT/traces/.
#
#   tests/bench/fidelity/touch_matrix.sh OUT ROUNDS MODEL... [-- run_fidelity options]
#   e.g. touch_matrix.sh touch-out 5 use head16k head64k
# PROGRAMS="prodcons xz-threads" limits it to those programs (default: all eight).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out=${1:?usage: touch_matrix.sh OUT ROUNDS MODEL... [-- options]}
rounds=${2:?usage: touch_matrix.sh OUT ROUNDS MODEL... [-- options]}
shift 2
models=()
while (($#)) && [[ "$1" != "--" ]]; do models+=("$1"); shift; done
(($#)) && shift
((${#models[@]})) || { echo "touch_matrix: no model given" >&2; exit 2; }
read -r -a names <<<"${PROGRAMS:-python3 python3-threads sqlite3 perl g++ prodcons batch_queue xz-threads}"
turn=0
for name in "${names[@]}"; do
  for ((i = 0; i < ${#models[@]}; ++i)); do
    model=${models[$(((i + turn) % ${#models[@]}))]}
    "$here/run_fidelity.sh" --only "$name" --repeat "$rounds" --touch "$model" \
      --traces "$out/traces" --out "$out/$model" "$@" || true
  done
  turn=$((turn + 1))
done
for model in "${models[@]}"; do
  echo "== touch $model"
  "$here/run_fidelity.sh" --summarize --out "$out/$model" | tail -n +3 || true
done
