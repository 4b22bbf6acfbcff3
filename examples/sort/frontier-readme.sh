#!/usr/bin/env bash
# Prints the README's `make frontier` table from the last run
# ($OUT/frontier/frontier.txt and run-dir, written by `make frontier`):
# the date, commit and machine it ran on, the options' key, the table.
#
#	make frontier && go run ./tools/readme README.md
set -euo pipefail
: "${OUT:=examples/out}"
d="$OUT/frontier"
[ -s "$d/frontier.txt" ] && [ -s "$d/run-dir" ] || { echo "frontier-readme: $d/frontier.txt is missing: run make frontier first" >&2; exit 1; }
run=$(cat "$d/run-dir")
meta=$(ls "$run"/b*/policy/dpo.json 2>/dev/null | head -n 1)
[ -n "$meta" ] || { echo "frontier-readme: no policy under $run" >&2; exit 1; }
commit=$(sed -n 's/.*"producer": "dpo-train \([^"]*\)".*/\1/p' "$meta")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "The last \`make frontier\` (dpo-train ${commit:-unknown}, $(date -u -r "$d/frontier.txt" '+%Y-%m-%d'), $(nproc) cores, ${cpu:-unknown CPU}; runs under \`$run\`) printed:"
echo
cat "$d/frontier.txt"
