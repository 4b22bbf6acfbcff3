#!/usr/bin/env bash
# Prints the README's table of the last `make frontier` or `make noise`
# run (SWEEP: frontier or noise): from $OUT/SWEEP/SWEEP.txt and run-dir,
# written by the target, headed by the commit of the run's dpo-train, the
# date, the machine and the options' key.
#
#	make frontier && go run ./tools/readme README.md
set -euo pipefail
sweep=${1:?usage: sweep-readme.sh frontier|noise}
case "$sweep" in frontier | noise) ;; *) echo "sweep-readme: want frontier or noise, got $sweep" >&2; exit 2 ;; esac
: "${OUT:=examples/out}"
d="$OUT/$sweep"
[ -s "$d/$sweep.txt" ] && [ -s "$d/run-dir" ] || { echo "sweep-readme: $d/$sweep.txt is missing: run make $sweep first" >&2; exit 1; }
run=$(cat "$d/run-dir")
meta=$(ls "$run"/*/policy/dpo.json 2>/dev/null | head -n 1)
[ -n "$meta" ] || { echo "sweep-readme: no policy under $run" >&2; exit 1; }
commit=$(sed -n 's/.*"producer": "dpo-train \([^"]*\)".*/\1/p' "$meta")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "The last \`make $sweep\` (dpo-train ${commit:-unknown}, $(date -u -r "$d/$sweep.txt" '+%Y-%m-%d'), $(nproc) cores, ${cpu:-unknown CPU}; runs under \`$run\`) printed:"
echo
cat "$d/$sweep.txt"
