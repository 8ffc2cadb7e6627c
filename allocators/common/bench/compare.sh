#!/usr/bin/env bash
# A workload under each allocator, interleaved run by run so that machine load hits
# every allocator alike. Prints medians of wall time, CPU time (user+sys, the robust
# figure on a busy machine) and peak RSS, and their ratios to glibc.
# usage: compare.sh BUILD_DIR python|producer-consumer [RUNS]
#   python             the design brief's workload: PYTHONMALLOC=malloc python3 -c '...'
#   producer-consumer  build/bin/alloc_producer_consumer_bench (2 threads, 4 M blocks)
set -euo pipefail
usage="usage: compare.sh BUILD_DIR python|producer-consumer [RUNS]"
build=${1:?$usage}
workload=${2:?$usage}
runs=${3:-7}
case $workload in
  python)
    python=$(command -v /usr/bin/python3 || command -v python3)
    command=("$python" -c 'x=[str(i) for i in range(10**6)]; d={i:str(i) for i in range(200000)}') ;;
  producer-consumer) command=("$build/bin/alloc_producer_consumer_bench" 4000000) ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
declare -A lib=(
  [glibc]=""
  [ptmalloc]="$build/lib/libptmalloc.so"
  [dsmalloc]="$build/lib/libdsmalloc.so"
  [jemalloc]="/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
  [tcmalloc]="/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
  [mimalloc]="/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"
  [scudo]="/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.scudo_standalone-x86_64.so"
)
order=(glibc ptmalloc dsmalloc jemalloc tcmalloc mimalloc scudo)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((r = 0; r < runs; r++)); do
  for name in "${order[@]}"; do
    so=${lib[$name]}
    [[ -n $so && ! -e $so ]] && continue
    env PYTHONMALLOC=malloc ${so:+LD_PRELOAD=$so} /usr/bin/time -f "%e %U %S %M" -a -o "$out/$name" \
      "${command[@]}" > /dev/null
  done
done
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
printf '%-9s %8s %8s %9s %7s %7s %7s\n' allocator wall_s cpu_s rss_MiB wall/g cpu/g rss/g
for name in "${order[@]}"; do
  [[ -f $out/$name ]] || continue
  wall=$(awk '{print $1}' "$out/$name" | median)
  cpu=$(awk '{print $2 + $3}' "$out/$name" | median)
  rss=$(awk '{print $4 / 1024}' "$out/$name" | median)
  [[ $name == glibc ]] && { gw=$wall; gc=$cpu; gr=$rss; }
  awk -v n="$name" -v w="$wall" -v c="$cpu" -v r="$rss" -v gw="$gw" -v gc="$gc" -v gr="$gr" \
    'BEGIN {printf "%-9s %8.3f %8.3f %9.1f %7.2f %7.2f %7.2f\n", n, w, c, r, w/gw, c/gc, r/gr}'
done
