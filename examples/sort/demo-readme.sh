#!/usr/bin/env bash
# Prints the README's `make demo` block from the last run's summary
# (${DPO:-examples/out/dpo}/demo.txt, written by `make demo`): the date,
# commit and machine it ran on, the printed lines (without the backend,
# compile and worst-margin lines), and the before/after change.
#
#	make demo && go run ./tools/readme README.md
set -euo pipefail
: "${OUT:=examples/out}" "${DPO:=$OUT/dpo}"
sum="$DPO/demo.txt"
[ -s "$sum" ] || { echo "demo-readme: $sum is missing: run make demo first" >&2; exit 1; }
commit=$(sed -n 's/.*"producer": "dpo-train \([^"]*\)".*/\1/p' "$DPO/dpo.json")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "The last \`make demo\` (dpo-train ${commit:-unknown}, $(date -u -r "$sum" '+%Y-%m-%d'), $(nproc) cores, ${cpu:-unknown CPU}) printed:"
echo
echo '```'
# Drop the backend and compile lines and the worst-margin listing (indented).
grep -v -e '^backend ' -e '^compiled ' -e '^worst margins:' -e '^  ' "$sum" | sed -e '1{/^$/d}' -e '${/^$/d}'
echo '```'
echo
gen() { sed -n 's/^greedy generation on the held-out prompts.*= \([0-9.]*\),.*/\1/p' "$1"; }
acc() { sed -n 's/^reward accuracy \([0-9.]*\) .*/\1/p' "$1"; }
gb=$(gen "$OUT/gen-before.txt"); ga=$(gen "$DPO/gen-after.txt")
echo "Greedy generation on the 400 held-out prompts: $gb → $ga ($(awk -v a="$ga" -v b="$gb" 'BEGIN { printf "%+.3f", a - b }') exact);" \
	"held-out reward accuracy $(acc "$OUT/before.txt") → $(acc "$DPO/after.txt")."
