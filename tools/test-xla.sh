#!/usr/bin/env bash
# make test's second pass: the oracle suites again, built with -tags xla and
# run on OpenXLA's CPU PJRT plugin (pip's xla-cpu-pjrt, installed into
# .oracle-venv by tools/install-test-deps.sh). This is the engine path a GPU
# takes (only the plugin differs); tolerances per backend: docs/oracles.md.
# Chosen to stay lean (CI budget): one case of each oracle kind.
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=$(ls .oracle-venv/lib/python3*/site-packages/xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so 2>/dev/null | head -1 || true)
if [ -z "$plugin" ]; then
  echo "test-xla: no xla_cpu_pjrt.so in .oracle-venv (make refs installs it)" >&2
  exit 1
fi
export DPO_REQUIRE_REFS=1 GOMLX_BACKEND=xla:cpu DPO_XLA_CPU_PLUGIN="$PWD/$plugin" CGO_ENABLED=1

# engine: transformers log-probs for every family (MoE included), PEFT,
# greedy generation = generate(), bf16, layouts = plain rows, backend choice,
# N devices (data-parallel over the mesh) = one device, LoRA dropout masks =
# their documented hash, sharded weights = replicated.
engine='^(TestFamiliesTransformersOracle|TestTransformersOracle|TestQwen3MoeTransformersOracle|TestQwen3MoePEFTOracle|TestPEFTOracle|TestGreedyMatchesTransformers|TestBF16LogProbsAgainstTorch|TestLayoutsEqualPlain|TestLayoutGradientsEqualPlain|TestChooseBackend|TestBackendSelection|TestXLACPUDevices|TestDevicesEqualOne|TestDevicesRefused|TestGenerateDevicesEqualOne|TestLoRADropoutMasksPositional|TestShardParamsEqualOne)$'
# train: the 10-step TRL comparison (loss types), LoRA against PEFT+TRL,
# MoE against TRL, bit-identical resume on the same backend, the compile
# bound, 2 devices = 1 (full, LoRA with dropout, Qwen3-MoE), resume on 4
# devices of a 2-device checkpoint, --shard-params = replicated, AdamW in
# update groups = one update.
train='^(TestTrainAgainstTRL|TestLoRATrainAgainstTRL|TestTrainMoEAgainstTRL|TestResumeBitIdentical|TestResumeOtherBackend|TestCompilesBounded|TestTrainDevicesEqualOne|TestTrainDevicesRefused|TestTrainResumeOtherDevices|TestLoRADropoutMasksDevices|TestLoRAMoEDevicesEqualOne|TestTrainShardParamsEqualOne|TestUpdateGroupsBitIdentical)$'
# cli: shards = unsharded, checkpoints load in transformers, --devices 2 = one.
cli='^(TestShards|TestTrainedCheckpointLoadsInTransformers|TestReflogpDevices)$'

go test -tags xla -count=1 -timeout 40m -run "$engine" ./pkg/engine
go test -tags xla -count=1 -timeout 40m -run "$train" ./pkg/train
go test -tags xla -count=1 -timeout 40m -run "$cli" ./internal/cli
