#!/usr/bin/env bash
# Training speed and memory side by side in one run (issue #22 items 5-6):
# dpo-train on xla:cpu (built with -tags xla) and on the pure-Go backend,
# PyTorch doing TRL's computation on the same checkpoint and token ids
# (torch_train.py: concatenated right-padded forward, sigmoid DPO,
# backward, clipping, AdamW), and TRL's DPOTrainer itself
# (torch_train.py --trl).
#
# A cell is MODEL/DIST/RUNNER/BATCH[/STEPS]:
#   MODEL  qwen (the Qwen2.5-0.5B shape, 24 layers, 494M parameters, tied
#          151,936-word vocabulary) or llama (~100M: hidden 768, 12 layers,
#          32,000-word vocabulary); random init by transformers;
#   DIST   uf (UltraFeedback-like: prompt 159, chosen 320, rejected 288
#          tokens) or hh (HH-like: prompt 399, chosen 80, rejected 72);
#          fixed lengths (builtin:bytes token ids), so that every step
#          costs the same whatever the order;
#   RUNNER xla, go, torch or trl, full fine-tuning; xla-lora, torch-lora,
#          trl-lora: LoRA r16, alpha 32, all linear layers;
#   BATCH  pairs per step (one micro-batch);
#   STEPS  steps of this run (default: the STEPS argument).
# Sigmoid DPO (beta 0.1) with zero reference log-probs on every side
# (dpo-train --reference-free, TRL reference_free): a DPO step does not run
# the reference (TRL precomputes it; dpo-train reads it from a stream).
#
# Per run: tokens/s (real tokens, prompts counted twice as TRL feeds them,
# median of steps 2..STEPS), the wall time of the whole run (start,
# compilation, STEPS steps, final save), the peak RSS (/usr/bin/time's
# maximum resident set), dpo-train's own memory estimate, and the model
# FLOP rate of TRL's computation, 6 x parameters x tokens/s (4 x with LoRA:
# no gradient of the frozen weights; parameters less an untied input
# embedding, a lookup), against the machine's float32 matmul
# rate measured here (torch, 2048^3). dpo-train
# computes fewer FLOPs per pair than that (the prompt once, the head only
# over completions), so its column is a TRL-equivalent rate.
#
#   bash bench/realsize/run.sh [STEPS] [CELL...]      (from the repository root)
#
# STEPS defaults to 5; the default cells: qwen/uf full fine-tuning at 1
# pair a step (xla, torch, trl; go for 3 steps) and LoRA at 2 (xla-lora,
# torch-lora); llama at 4 pairs a step on hh (xla, torch, trl; go for 3
# steps) and uf (xla, torch). About 45 minutes on 2 cores. Needs .oracle-venv (make oracle-venv)
# with the xla-cpu-pjrt plugin, and a C compiler. QWEN_LAYERS and
# LLAMA_LAYERS (default 24 and 12) shrink the models for a quick check of
# the script itself. docs/benchmarks.md
# records runs with the machine, date and commit.
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-5}
shift || true
cells=("$@")
if [ ${#cells[@]} -eq 0 ]; then
  cells=(qwen/uf/xla/1 qwen/uf/torch/1 qwen/uf/trl/1 qwen/uf/xla-lora/2 qwen/uf/torch-lora/2 qwen/uf/go/1/3
    llama/hh/xla/4 llama/hh/torch/4 llama/hh/trl/4 llama/hh/go/4/3 llama/uf/xla/4 llama/uf/torch/4)
fi
py=$PWD/.oracle-venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# What this run prints is also its results file (RESULTS=; default
# bench/realsize/results.md), from which the README's table is made
# (bench/realsize/readme-table.sh, go run ./tools/readme README.md).
exec > >(tee "${RESULTS:-bench/realsize/results.md}")
export GOEXPERIMENT=simd
CGO_ENABLED=1 go build -tags xla -o "$tmp/" ./cmd/dpo-tokenize ./cmd/dpo-train
plugin=$(ls "$PWD"/.oracle-venv/lib/python3*/site-packages/xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so)
"$py" - "$tmp" <<'PY'
import json, random, sys
r = random.Random(7)
words = "the of and to in is was for on that with as by at from his her an be this are or which one had".split()
def text(n):
    s = ""
    while len(s) < n:
        s += r.choice(words) + " "
    return s[:n]
for name, (p, c, j) in {"uf": (159, 319, 287), "hh": (399, 79, 71)}.items():  # + EOS on completions
    with open("%s/%s.jsonl" % (sys.argv[1], name), "w") as f:
        for i in range(64):
            f.write(json.dumps({"prompt": text(p), "chosen": text(c), "rejected": text(j)}) + "\n")
PY
for d in uf hh; do "$tmp/dpo-tokenize" --tokenizer builtin:bytes -q -o "$tmp/$d.arrow" "$tmp/$d.jsonl"; done
peak=$("$py" - <<'PY'
import time, torch
a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
a @ b
t = time.perf_counter()
for _ in range(5):
    a @ b
print("%.1f" % (5 * 2 * 2048**3 / (time.perf_counter() - t) / 1e9))
PY
)
echo "# $(date -u '+%F %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, main at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+changes'), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $steps steps per run; float32 matmul rate (torch, 2048^3, $(nproc) threads): $peak GFLOP/s"
echo
echo "| model | data | run | pairs/step | steps | tok/s | wall s | peak RSS | estimate | GFLOP/s | of matmul rate |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
declare -A params
median() { "$py" -c 'import json,sys,statistics; r=[json.loads(l) for l in open(sys.argv[1]) if "\"step\"" in l]; print(statistics.median(x["tokens_per_second"] for x in r[1:] or r))' "$1"; }
for cell in "${cells[@]}"; do
  IFS=/ read -r model dist runner batch nsteps <<< "$cell"
  nsteps=${nsteps:-$steps}
  if [ ! -d "$tmp/$model" ]; then
    layers=${QWEN_LAYERS:-24}; [ "$model" = llama ] && layers=${LLAMA_LAYERS:-12}
    params[$model]=$("$py" bench/realsize/mkmodel.py "$model" "$layers" "$tmp/$model" 2> /dev/null | tail -n 1)
  fi
  rm -rf "$tmp/out" "$tmp/steps.jsonl"
  lora=(); tlora=()
  case $runner in *-lora) lora=(--lora-r 16 --lora-alpha 32 --lora-target all-linear); tlora=(--lora 16) ;; esac
  t0=$(date +%s.%N)
  est=-
  case $runner in
    xla | xla-lora | go)
      backend=xla:cpu; [ "$runner" = go ] && backend=go
      if DPO_XLA_CPU_PLUGIN=$plugin /usr/bin/time -f "%M" -o "$tmp/time" "$tmp/dpo-train" --model "$tmp/$model" --backend "$backend" \
        --reference-free --loss sigmoid --lr 1e-5 --batch-size "$batch" --max-steps "$nsteps" --logging-steps 1 --save-steps 0 \
        --max-memory 0 "${lora[@]}" --out "$tmp/out" "$tmp/$dist.arrow" 2> "$tmp/log"; then
        cp "$tmp/out/metrics.jsonl" "$tmp/steps.jsonl"
        est=$(sed -n 's/^memory: estimated peak \([0-9.]* [KMGT]iB\).*/\1/p' "$tmp/log" | head -n 1)
        name="dpo-train $backend"
      else
        echo "| $model | $dist | $runner | $batch | $nsteps | failed: $(tail -n 1 "$tmp/log") |"; continue
      fi ;;
    torch | torch-lora | trl | trl-lora)
      trl=(); name="PyTorch, TRL's computation"
      case $runner in trl*) trl=(--trl); name="TRL DPOTrainer" ;; esac
      if ! /usr/bin/time -f "%M" -o "$tmp/time" "$py" bench/realsize/torch_train.py "$tmp/$model" "$tmp/$dist.arrow" "$batch" "$nsteps" \
        "${tlora[@]}" "${trl[@]}" > "$tmp/steps.jsonl" 2> "$tmp/log"; then
        echo "| $model | $dist | $runner | $batch | $nsteps | failed: $(grep -v '^ ' "$tmp/log" | tail -n 1) |"; continue
      fi ;;
  esac
  wall=$(echo "$(date +%s.%N) - $t0" | bc)
  flops=6
  [ -n "${lora[*]}" ] && name="$name, LoRA r16" && flops=4
  awk -v m="$model" -v d="$dist" -v n="$name" -v b="$batch" -v s="$nsteps" -v t="$(median "$tmp/steps.jsonl")" -v w="$wall" \
    -v r="$(cat "$tmp/time")" -v e="$est" -v p="$peak" -v P="${params[$model]}" -v f="$flops" 'BEGIN {
    g = f * P * t / 1e9
    printf "| %s | %s | %s | %d | %d | %.1f | %.0f | %.1f GiB | %s | %.1f | %.0f%% |\n", m, d, n, b, s, t, w, r / 1048576, e, g, 100 * g / p }'
done
