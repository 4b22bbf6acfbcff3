#!/usr/bin/env bash
# local-shards.sh K MODEL PAIRS WORKDIR
#
# Runs dpo-reflogp, dpo-score and dpo-sample as K shard processes on this
# machine, all at once (what a Slurm job array or a Kubernetes Indexed Job
# runs, one process per node: slurm-array.sh, indexed-job.yaml), then checks
# that the merged outputs equal the unsharded runs' byte for byte:
#
#   1. dpo-reflogp --shard I/K on PAIRS (a dpo-tokenize stream file), one
#      ref-I-of-K.arrow per process; read as one list of files, they are
#      the unsharded ref.arrow (compared through dpo-score --format jsonl,
#      which writes every column of every row as JSON);
#   2. dpo-score --shard I/K --format jsonl over that shard list: the K
#      outputs, concatenated in order, are the unsharded scoring;
#   3. dpo-sample --shard I/K --format jsonl on PAIRS' prompts, sampled
#      (temperature 0.8, a seed: each completion draws from its own stream,
#      keyed by the prompt id and the sample index, not by its shard):
#      concatenated, the unsharded sampling.
#
# --plain-batches makes a sequence's log-probs independent of what else is
# in its batch (docs/shards.md), and --batch-tokens $GEN_BATCH_TOKENS keeps
# generation at one row per batch, so that a shard's batches have the
# unsharded run's shapes (a generation batch has min(floorPow2(batch tokens
# / cache capacity), ceilPow2(rows)) rows: once every shard holds at least
# that many prompts, as on real data, any --batch-tokens gives the same
# shapes). Without them the outputs still hold every row once, in order;
# the floats may differ in their last bits.
#
# The shard processes run shard-job.sh (next to this script), the command a
# Slurm array task (slurm-array.sh) or a Kubernetes Indexed Job pod
# (indexed-job.yaml) runs. The dpo-* tools are taken from $PATH; extra model
# flags (e.g. --backend xla:cuda --devices 8) from $DPO_FLAGS. Exits non-zero, naming the step,
# when a shard process fails or an output differs.
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 K MODEL PAIRS.arrow WORKDIR" >&2
  exit 2
fi
K=$1 MODEL=$2 PAIRS=$3 W=$4
GEN_BATCH_TOKENS=${GEN_BATCH_TOKENS:-16}
read -r -a extra <<<"${DPO_FLAGS:-}"
mkdir -p "$W"
job=$(dirname "$(readlink -f "$0")")/shard-job.sh

# shards TOOL PATTERN ARGS...: runs K shard processes of TOOL at once
# through shard-job.sh, as the schedulers do (the shard index in
# SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or SHARD_INDEX, in turn), and
# waits for every one (a failure is reported after all have ended).
shards() {
  local tool=$1 pattern=$W/$2 pids=() i rc=0
  shift 2
  local vars=(SLURM_ARRAY_TASK_ID JOB_COMPLETION_INDEX SHARD_INDEX)
  for ((i = 0; i < K; i++)); do
    env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX -u SHARD_INDEX "${vars[$((i % 3))]}=$i" \
      "$job" "$tool" "$K" "$pattern" "$@" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      echo "local-shards: shard $i/$K of dpo-$tool failed" >&2
      rc=1
    fi
  done
  return $rc
}

same() { # same WHAT WANT GOT
  if ! cmp -s "$2" "$3"; then
    echo "local-shards: $1: the merged shards differ from the unsharded run ($3 vs $2)" >&2
    diff <(head -c 2000 "$2") <(head -c 2000 "$3") >&2 || true
    exit 1
  fi
  echo "local-shards: $1: $K shards = unsharded ($(wc -l <"$2") rows)"
}

kk=$(printf %05d "$K")
refs() { printf '%s\n' "$W"/ref-*-of-"$kk".arrow; }
sample_args=(--model "$MODEL" --batch-tokens "$GEN_BATCH_TOKENS" -q --format jsonl --n 2 --temperature 0.8 --seed 7 --max-new-tokens 8)

# 1. reference log-probs
dpo-reflogp "${extra[@]}" --model "$MODEL" --plain-batches -q -o "$W/ref.arrow" "$PAIRS"
shards reflogp 'ref-%05d-of-%05d.arrow' --model "$MODEL" --plain-batches -q "$PAIRS"
mapfile -t ref_shards < <(refs)
dpo-score "${extra[@]}" --policy "$MODEL" --plain-batches -q --format jsonl -o "$W/score.jsonl" "$W/ref.arrow"
dpo-score "${extra[@]}" --policy "$MODEL" --plain-batches -q --format jsonl -o "$W/score-of-ref-shards.jsonl" "${ref_shards[@]}"
same dpo-reflogp "$W/score.jsonl" "$W/score-of-ref-shards.jsonl"

# 2. scores, over the list of reference shards
shards score 'score-%05d-of-%05d.jsonl' --policy "$MODEL" --plain-batches -q --format jsonl "${ref_shards[@]}"
cat "$W"/score-*-of-"$kk".jsonl >"$W/score-merged.jsonl"
same dpo-score "$W/score.jsonl" "$W/score-merged.jsonl"

# 3. samples
dpo-sample "${extra[@]}" "${sample_args[@]}" -o "$W/sample.jsonl" "$PAIRS"
shards sample 'sample-%05d-of-%05d.jsonl' "${sample_args[@]}" "$PAIRS"
cat "$W"/sample-*-of-"$kk".jsonl >"$W/sample-merged.jsonl"
same dpo-sample "$W/sample.jsonl" "$W/sample-merged.jsonl"
echo "local-shards: OK"
