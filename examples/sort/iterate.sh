#!/usr/bin/env bash
# On-policy (iterative) DPO on the sort example, run by `make iterate`.
#
# Round r samples 4 completions per training prompt from the current policy
# (round 1: the SFT reference), scores them with the exact-sort judge,
# binarizes them (best vs worst judge score; ties skipped), records the
# reference log-probs with that same policy (the previous round's result)
# and trains one DPO epoch from it. After each round: greedy accuracy on the
# held-out prompts and the round's time.
#
# Environment (set by the Makefile): ROUNDS BIN EX OUT BETA LR BATCH SEED
# GEN_MAX_NEW; PROMPTS (optional) uses only the first PROMPTS training rows.
set -euo pipefail
: "${ROUNDS:=3}" "${BIN:=bin}" "${EX:=examples/sort}" "${OUT:=examples/out}"
: "${BETA:=0.1}" "${LR:=1e-3}" "${BATCH:=32}" "${SEED:=1}" "${GEN_MAX_NEW:=10}" "${PROMPTS:=0}"

train="$EX/train.jsonl"
if [ "$PROMPTS" -gt 0 ]; then
	mkdir -p "$OUT/iter"
	head -n "$PROMPTS" "$train" > "$OUT/iter/prompts.jsonl"
	train="$OUT/iter/prompts.jsonl"
fi
policy="$OUT/sft"
echo "round 0 (SFT reference): $(cat "$OUT/gen-before.txt")"
start_all=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
	dir="$OUT/iter/round$r"
	rm -rf "$dir"
	mkdir -p "$dir"
	t0=$(date +%s)
	# 1. Sample from the current policy and judge.
	"$BIN/dpo-sample" --model "$policy" --n 4 --temperature 1 --max-new-tokens "$GEN_MAX_NEW" \
		--seed "$r" --format jsonl -q "$train" | "$BIN/sort-judge" > "$dir/judged.jsonl"
	# 2. Pairs: best vs worst judge score per prompt.
	"$BIN/dpo-tokenize" --tokenizer builtin:bytes --pairs best-worst --rejects "$dir/skipped.jsonl" \
		-o "$dir/pairs.arrow" "$dir/judged.jsonl" 2> "$dir/tokenize.log"
	# 3. Reference log-probs with the previous round's policy.
	"$BIN/dpo-reflogp" --model "$policy" -q -o "$dir/ref.arrow" "$dir/pairs.arrow"
	# 4. One DPO epoch from it.
	"$BIN/dpo-train" --model "$policy" --loss sigmoid --beta "$BETA" --lr "$LR" --warmup-steps 5 --epochs 1 \
		--batch-size "$BATCH" --seed "$SEED" --logging-steps 1000 -q --out "$dir/policy" "$dir/ref.arrow"
	policy="$dir/policy"
	# Held-out greedy accuracy of the new policy.
	"$BIN/dpo-sample" --model "$policy" --temperature 0 --max-new-tokens "$GEN_MAX_NEW" --format jsonl -q \
		"$EX/heldout.jsonl" | "$BIN/sort-judge" > "$dir/heldout.jsonl"
	acc=$("$BIN/sort-accuracy" < "$dir/heldout.jsonl")
	sampled=$("$BIN/sort-accuracy" < "$dir/judged.jsonl")
	echo "round $r: held-out greedy $acc; training samples $sampled; $(head -n 1 "$dir/tokenize.log"); $(( $(date +%s) - t0 ))s"
done
echo "total $(( $(date +%s) - start_all ))s"
