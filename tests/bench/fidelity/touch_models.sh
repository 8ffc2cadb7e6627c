#!/usr/bin/env bash
# Replay's touch models judged against the programs (BENCHMARKS.md "Fidelity: touch
# models"): `mtreplay validate` on batch_queue, sqlite3 building an indexed table and
# python3 building strings, once per model, every available allocator.
# Usage: touch_models.sh BUILD_DIR [ROUNDS] [MODELS...]   (default 5 rounds; page use)
set -euo pipefail
build=${1:?usage: touch_models.sh BUILD_DIR [ROUNDS] [MODELS...]}
rounds=${2:-5}
shift $(($# < 2 ? $# : 2))
models=("$@")
((${#models[@]})) || models=(page use)
bin=$(cd "$build/bin" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/table.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value REAL, tag TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 150000)
INSERT INTO t SELECT x, printf('name-%d-%s', x, hex(randomblob(8))), x * 1.5, printf('tag%d', x % 97) FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_tag ON t(tag, value);
SELECT tag, count(*), sum(value) FROM t GROUP BY tag ORDER BY tag LIMIT 3;
SQL
echo "== touch models (validate, $rounds rounds + 1 warm-up; load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-12s %-6s %8s %8s %8s\n' program touch "rho cpu" "rho rss" "rho wall"
for model in "${models[@]}"; do
  for program in batch_queue sqlite3 python3; do
    case $program in
      batch_queue) cmd=("$bin/fidelity_batch_queue") ;;
      sqlite3) cmd=(sh -c "sqlite3 :memory: < $work/table.sql") ;;
      python3) cmd=(env PYTHONMALLOC=malloc /usr/bin/python3 -c 'x=[str(i) for i in range(4*10**5)]; d={i:str(i) for i in range(100000)}') ;;
    esac
    "$bin/mtreplay" validate --repeat "$rounds" --warmup 1 --touch "$model" \
      --json "$work/$program.$model.json" -- "${cmd[@]}" >/dev/null || true
    python3 - "$work/$program.$model.json" "$program" "$model" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["validation"]["spearman"]
print(f'{sys.argv[2]:<12} {sys.argv[3]:<6} {s["cpu"]:8.2f} {s["peak_rss"]:8.2f} {s["wall"]:8.2f}')
PY
  done
done
