#!/usr/bin/env bash
# shard-job.sh TOOL K OUT_PATTERN [TOOL ARGS...]
#
# One shard process of a dpo tool (dpo-reflogp, dpo-score or dpo-sample):
# runs `dpo-TOOL ARGS... $DPO_FLAGS --shard I/K -o OUT`, OUT being
# OUT_PATTERN printf'ed with I and K (e.g. ref-%05d-of-%05d.arrow). I, the
# 0-based shard, comes from the scheduler:
#   Slurm job array:          $SLURM_ARRAY_TASK_ID (slurm-array.sh)
#   Kubernetes Indexed Job:   $JOB_COMPLETION_INDEX (indexed-job.yaml)
#   anything else:            $SHARD_INDEX (local-shards.sh)
# Outputs are written atomically (a temp file renamed on success), so a
# retried task never leaves half a shard. docs/scale.md, docs/shards.md.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 reflogp|score|sample K OUT_PATTERN [TOOL ARGS...]" >&2
  exit 2
fi
tool=$1 K=$2 pattern=$3
shift 3
I=${SLURM_ARRAY_TASK_ID:-${JOB_COMPLETION_INDEX:-${SHARD_INDEX:-}}}
if [ -z "$I" ]; then
  echo "shard-job: no shard index (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or SHARD_INDEX)" >&2
  exit 2
fi
case $tool in
reflogp | score | sample) ;;
*)
  echo "shard-job: tool $tool: want reflogp, score or sample" >&2
  exit 2
  ;;
esac
read -r -a extra <<<"${DPO_FLAGS:-}"
# shellcheck disable=SC2059 # the pattern is the caller's printf format
out=$(printf "$pattern" "$I" "$K")
exec "dpo-$tool" "$@" "${extra[@]}" --shard "$I/$K" -o "$out"
