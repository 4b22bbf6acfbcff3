#!/usr/bin/env bash
# Issue #13's throughput benchmark: the Go layouts (bench/throughput, each
# setting in its own process, warm calls) and the same dpo-train micro-batch
# in PyTorch and TRL's DPOTrainer (torch_step.py), for both models and both
# length distributions. Results go to stdout; docs/benchmarks.md records a
# run with the machine and date.
#
#   bash bench/throughput/run.sh [PAIRS] [TRAIN_PAIRS]
#
# PAIRS (default 2): pairs scored by dpo-reflogp's forward; TRAIN_PAIRS
# (default 2): pairs in the train micro-batch. Needs .oracle-venv (make
# oracle-venv) for the Python side; skips it with a note when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${1:-2}
train=${2:-2}
export GOEXPERIMENT=simd
bin=$(mktemp -d)/thru_bench
go build -o "$bin" ./bench/throughput
py=.oracle-venv/bin/python
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(go version | cut -d' ' -f3), main at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
for model in llama qwen; do
	for dist in hh uf; do
		echo "## $model $dist"
		echo "\$ thru_bench -model $model -dist $dist -pairs $pairs -train-pairs $train -batch-tokens 1024"
		"$bin" -model "$model" -dist "$dist" -pairs "$pairs" -train-pairs "$train" -batch-tokens 1024
		dump=$(dirname "$bin")/$model-$dist.json
		"$bin" -model "$model" -dist "$dist" -pairs "$pairs" -train-pairs "$train" -dump "$dump"
		if [ -x "$py" ]; then
			echo "\$ torch_step.py $model-$dist.json 1 2 --trl"
			"$py" bench/throughput/torch_step.py "$dump" 1 2 --trl
		else
			echo "(no .oracle-venv: PyTorch and TRL not measured)"
		fi
	done
done
