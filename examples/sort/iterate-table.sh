#!/usr/bin/env bash
# Prints the README's `make iterate` table (Markdown) from the rounds that
# examples/sort/iterate.sh recorded in ${OUT:-examples/out}/iter/rounds.jsonl,
# headed by the date, the commit and the machine it ran on:
#
#	make iterate && bash examples/sort/iterate-table.sh
set -euo pipefail
: "${OUT:=examples/out}"
rounds="$OUT/iter/rounds.jsonl"
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\"}]*[^,\"}]\)[,\"}].*/\1/p" <<< "$2" | sed 's/",.*//'; }
first=$(head -n 1 "$rounds")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
commit=$(field commit "$first")
extra=""
[ "$(field all "$first")" = 1 ] && extra+=", every wrong sample paired"
[ "$(field accum "$first")" = 1 ] && extra+=", each round trained on the pairs of every round so far"
echo "Measured $(date -u -r "$rounds" +%Y-%m-%d) at commit ${commit:-unknown}," \
	"on the machine that printed this table, $(nproc) cores (${cpu:-unknown CPU}):" \
	"β $(field beta "$first"), lr $(field lr "$first"), $(field epochs "$first") epochs per round, RPO weight $(field rpo "$first")," \
	"$(field n "$first") samples per prompt on $( [ "$(field prompts "$first")" = 0 ] && echo 'all 2,400' || field prompts "$first") training prompts$extra."
echo
echo "| round | held-out greedy generation (exact) | training samples exact | pairs | time |"
echo "|---|---|---|---|---|"
while read -r line; do
	r=$(field round "$line")
	if [ "$r" = 0 ]; then
		echo "| 0 (SFT) | $(field generation "$line") | — | — | — |"
	else
		echo "| $r | $(field generation "$line") | $(field samples_exact "$line") | $(field pairs "$line") | $(field seconds "$line") s |"
	fi
done < "$rounds"
