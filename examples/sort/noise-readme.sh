#!/usr/bin/env bash
# Prints the README's `make noise` table from the last run
# ($OUT/noise/noise.txt and run-dir, written by `make noise`): the date,
# commit and machine it ran on, the options' key, the table.
#
#	make noise && go run ./tools/readme README.md
set -euo pipefail
: "${OUT:=examples/out}"
d="$OUT/noise"
[ -s "$d/noise.txt" ] && [ -s "$d/run-dir" ] || { echo "noise-readme: $d/noise.txt is missing: run make noise first" >&2; exit 1; }
run=$(cat "$d/run-dir")
meta=$(ls "$run"/*/policy/dpo.json 2>/dev/null | head -n 1)
[ -n "$meta" ] || { echo "noise-readme: no policy under $run" >&2; exit 1; }
commit=$(sed -n 's/.*"producer": "dpo-train \([^"]*\)".*/\1/p' "$meta")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "The last \`make noise\` (dpo-train ${commit:-unknown}, $(date -u -r "$d/noise.txt" '+%Y-%m-%d'), $(nproc) cores, ${cpu:-unknown CPU}; runs under \`$run\`) printed:"
echo
cat "$d/noise.txt"
