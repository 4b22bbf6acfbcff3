#!/usr/bin/env bash
# Prints the README's benchmark table from the last bench/realsize/run.sh
# (its printed output, saved in RESULTS, default bench/realsize/results.md):
# the run's date, machine and commit, then its table; cells that did not
# finish are named below it rather than shown as rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
r=${RESULTS:-bench/realsize/results.md}
[ -s "$r" ] || { echo "readme-table: $r is missing: run bash bench/realsize/run.sh" >&2; exit 1; }
echo "\`bash bench/realsize/run.sh\` (dpo-train on \`xla:cpu\` and pure Go, PyTorch doing TRL's computation on"
echo "the same checkpoint and token ids; tok/s counts the prompt twice, as TRL feeds it) printed:"
sed -n 's/^# \(.*\)/\1/p' "$r" | sed 's/$/;/' | tr '\n' ' ' | sed 's/; $/./'
echo
echo
grep '^|' "$r" | grep -v '| failed: '
failed=$(grep '| failed: ' "$r" | awk -F' [|] ' '{ printf "%s%s/%s/%s", sep, substr($1, 3), $2, $3; sep = ", " }')
if [ -n "$failed" ]; then
	echo
	echo "Did not finish (failed or stopped; the run's last log line is in $r): $failed."
fi
