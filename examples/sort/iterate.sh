#!/usr/bin/env bash
# On-policy (iterative) DPO on the sort example, run by `make iterate`.
#
# Round r samples N completions per training prompt from the current policy
# (round 1: the SFT reference) at temperature 1, scores them with the
# exact-sort judge and makes one pair per prompt with a wrong sample
# (examples/sort/pairs: the exact sort over the policy's most likely wrong
# sample), records the reference log-probs with that same policy (the
# previous round's result) and trains EPOCHS epochs of DPO with an SFT term
# on the chosen completions (RPO weight RPO; 0: plain sigmoid DPO). After
# each round: greedy generation accuracy on the held-out prompts, the
# samples' exact rate, the pairs and the round's time, on stdout and as one
# JSON line in $OUT/iter/rounds.jsonl (examples/sort/iterate-table.sh turns
# that into the README's table).
#
# Environment (set by the Makefile): ROUNDS BIN EX OUT BETA LR BATCH SEED
# EPOCHS RPO N GEN_MAX_NEW; ALL=1 pairs the exact sort with every distinct
# wrong sample of a prompt (sort-pairs -all); ACCUM=1 trains round r on the
# pairs of rounds 1..r (ids prefixed r<k>/), the reference log-probs of all
# of them from the previous policy; PROMPTS (optional) uses only the first
# PROMPTS training rows.
set -euo pipefail
: "${ROUNDS:=3}" "${BIN:=bin}" "${EX:=examples/sort}" "${OUT:=examples/out}"
: "${BETA:=0.1}" "${LR:=1e-3}" "${BATCH:=32}" "${SEED:=1}" "${GEN_MAX_NEW:=10}" "${PROMPTS:=0}"
: "${EPOCHS:=3}" "${RPO:=1}" "${N:=4}" "${ALL:=0}" "${ACCUM:=0}"

loss=(--loss sigmoid)
if [ "$RPO" != 0 ]; then loss=(--loss sigmoid,sft --loss-weights "1,$RPO"); fi
label="greedy generation on the held-out prompts (exact sort): "
mkdir -p "$OUT/iter"
train="$EX/train.jsonl"
if [ "$PROMPTS" -gt 0 ]; then
	head -n "$PROMPTS" "$train" > "$OUT/iter/prompts.jsonl"
	train="$OUT/iter/prompts.jsonl"
fi
rounds="$OUT/iter/rounds.jsonl"
policy="$OUT/sft"
echo "round 0 (SFT reference): $(cat "$OUT/gen-before.txt")"
acc0=$("$BIN/sort-accuracy" < "$OUT/gen-before.jsonl" | sed 's/.*= \([0-9.]*\),.*/\1/')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- 2>/dev/null || commit="$commit with uncommitted changes"
printf '{"round":0,"generation":%s,"beta":%s,"lr":"%s","epochs":%s,"rpo":%s,"n":%s,"all":%s,"accum":%s,"prompts":%s,"commit":"%s","started":"%s"}\n' \
	"$acc0" "$BETA" "$LR" "$EPOCHS" "$RPO" "$N" "$ALL" "$ACCUM" "$PROMPTS" "$commit" "$(date -u +%Y-%m-%dT%H:%MZ)" > "$rounds"
start_all=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
	dir="$OUT/iter/round$r"
	rm -rf "$dir"
	mkdir -p "$dir"
	t0=$(date +%s)
	# 1. Sample from the current policy and judge.
	"$BIN/dpo-sample" --model "$policy" --n "$N" --temperature 1 --max-new-tokens "$GEN_MAX_NEW" \
		--seed "$r" --format jsonl -q "$train" | "$BIN/sort-judge" > "$dir/judged.jsonl"
	# 2. Pairs: the exact sort over the most likely wrong sample.
	"$BIN/sort-pairs" $([ "$ALL" = 1 ] && echo -all) < "$dir/judged.jsonl" > "$dir/pairs.jsonl" 2> "$dir/pairs.log"
	train_pairs="$dir/pairs.jsonl"
	if [ "$ACCUM" = 1 ]; then
		train_pairs="$dir/pairs-accum.jsonl"
		for k in $(seq 1 "$r"); do
			sed 's/"id":"/"id":"r'"$k"'\//' "$OUT/iter/round$k/pairs.jsonl"
		done > "$train_pairs"
	fi
	"$BIN/dpo-tokenize" --tokenizer builtin:bytes --on-error skip --rejects "$dir/skipped.jsonl" \
		-o "$dir/pairs.arrow" "$train_pairs" 2> "$dir/tokenize.log"
	# 3. Reference log-probs with the previous round's policy.
	"$BIN/dpo-reflogp" --model "$policy" -q -o "$dir/ref.arrow" "$dir/pairs.arrow"
	# 4. DPO (+ the SFT term) from it.
	"$BIN/dpo-train" --model "$policy" "${loss[@]}" --beta "$BETA" --lr "$LR" --warmup-steps 5 --epochs "$EPOCHS" \
		--batch-size "$BATCH" --seed "$SEED" --logging-steps 1000 -q --out "$dir/policy" "$dir/ref.arrow"
	policy="$dir/policy"
	# Held-out greedy accuracy of the new policy.
	"$BIN/dpo-sample" --model "$policy" --temperature 0 --max-new-tokens "$GEN_MAX_NEW" --format jsonl -q \
		"$EX/heldout.jsonl" | "$BIN/sort-judge" > "$dir/heldout.jsonl"
	gen=$("$BIN/sort-accuracy" --label "$label" < "$dir/heldout.jsonl")
	sampled=$("$BIN/sort-accuracy" < "$dir/judged.jsonl")
	npairs=$(wc -l < "$dir/pairs.jsonl")
	secs=$(( $(date +%s) - t0 ))
	echo "round $r: $gen; training samples $sampled; pairs $npairs; ${secs}s"
	printf '{"round":%d,"generation":%s,"samples_exact":%s,"pairs":%d,"seconds":%d}\n' "$r" \
		"$(echo "$gen" | sed 's/.*= \([0-9.]*\),.*/\1/')" "$(echo "$sampled" | sed 's/.*= \([0-9.]*\),.*/\1/')" \
		"$npairs" "$secs" >> "$rounds"
done
echo "total $(( $(date +%s) - start_all ))s"
