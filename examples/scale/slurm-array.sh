#!/bin/bash
# A Slurm job array of 16 dpo-reflogp shards (one node, all its GPUs,
# each), then dpo-score over the merged reference stream as a second array
# after the first succeeds. Submit from the directory holding the data:
#
#   sbatch examples/scale/slurm-array.sh reflogp
#   sbatch --dependency=afterok:<first job id> examples/scale/slurm-array.sh score
#
# (dpo-sample: `sbatch slurm-array.sh sample`). Each array task runs
# shard-job.sh (on $PATH, or $DPO_SHARD_JOB), which takes its shard from $SLURM_ARRAY_TASK_ID; the shard
# outputs, read in order as one list of files (the zero-padded names sort
# lexically), are the unsharded output (docs/shards.md). local-shards.sh
# runs the same per-task commands on one machine and checks that (make test:
# TestLocalShardsScript).
#SBATCH --job-name=dpo-shards
#SBATCH --array=0-15
#SBATCH --nodes=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=16
#SBATCH --output=logs/%x-%A_%a.log
set -euo pipefail
K=${SLURM_ARRAY_TASK_COUNT:-16} # the array's size
# sbatch runs a copy of this script: shard-job.sh comes from $PATH, or
# $DPO_SHARD_JOB.
job=${DPO_SHARD_JOB:-shard-job.sh}
export DPO_FLAGS=${DPO_FLAGS:---backend xla:cuda --devices all}
case ${1:?reflogp, score or sample} in
reflogp) "$job" reflogp "$K" 'ref-%05d-of-%05d.arrow' --model ./sft pairs.arrow ;;
score) "$job" score "$K" 'scored-%05d-of-%05d.arrow' --policy ./dpo "ref-*-of-$(printf %05d "$K").arrow" ;; # a glob the tool expands, in order
sample)
  "$job" sample "$K" 'samples-%05d-of-%05d.arrow' --model ./dpo \
    --n 4 --temperature 0.8 --seed 1 prompts.jsonl
  ;;
*)
  echo "want reflogp, score or sample" >&2
  exit 2
  ;;
esac
