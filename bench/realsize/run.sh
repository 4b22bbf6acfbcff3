#!/usr/bin/env bash
# Real-size training, side by side in one run (issue #22 items 5-6): the
# Qwen2.5-0.5B shape (494M parameters, 24 layers, 151,936-word vocabulary,
# tied embeddings; random init by transformers), UltraFeedback-like pairs
# of fixed lengths (prompt 159, chosen 320, rejected 288 token ids of the
# builtin:bytes tokenizer, so that every step has the same cost whatever the
# order), trained by
#   - dpo-train on xla:cpu (built with -tags xla),
#   - PyTorch doing TRL's computation on the same checkpoint and token ids
#     (torch_train.py: concatenated padded forward, sigmoid DPO, backward,
#     clipping, AdamW),
# for full fine-tuning at 1 pair a step and LoRA r16 (alpha 32, all linear
# layers) at 2 pairs a step. Sigmoid DPO with zero reference log-probs on
# both sides (dpo-train --reference-free): the reference costs nothing in
# a DPO step (TRL precomputes it; dpo-train reads it from a stream).
#
# Per run: tokens/s (real tokens, prompts counted twice, median of steps
# 2..STEPS), the wall time of the whole run (start, compilation, STEPS
# steps, final save), the peak RSS (/usr/bin/time's maximum resident set),
# dpo-train's memory estimate, and achieved GFLOP/s = 6 x 494M x tokens/s
# against the machine's measured float32 matmul rate (torch, 2048^3).
#
#   bash bench/realsize/run.sh [STEPS] [LAYERS]      (from the repository root)
#
# STEPS (default 6) steps per run; LAYERS (default 24) decoder layers.
# Needs .oracle-venv (make oracle-venv), a C compiler and the xla-cpu-pjrt
# plugin in it. Takes about 25 minutes on 2 cores at the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-6}
layers=${2:-24}
py=$PWD/.oracle-venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GOEXPERIMENT=simd
CGO_ENABLED=1 go build -tags xla -o "$tmp/" ./cmd/dpo-tokenize ./cmd/dpo-train
"$py" bench/realsize/mkqwen.py "$tmp/qwen" "$layers" > /dev/null 2>&1
"$py" - "$tmp/uf.jsonl" <<'PY'
import json, random, sys
r = random.Random(7)
words = "the of and to in is was for on that with as by at from his her an be this are or which one had".split()
def text(n):
    s = ""
    while len(s) < n:
        s += r.choice(words) + " "
    return s[:n]
with open(sys.argv[1], "w") as f:
    for i in range(64):
        f.write(json.dumps({"prompt": text(159), "chosen": text(319), "rejected": text(287)}) + "\n")
PY
"$tmp/dpo-tokenize" --tokenizer builtin:bytes -q -o "$tmp/uf.arrow" "$tmp/uf.jsonl"
peak=$("$py" - <<'PY'
import time, torch
torch.set_num_threads(torch.get_num_threads())
a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
a @ b
t = time.perf_counter()
for _ in range(5):
    a @ b
print("%.1f" % (5 * 2 * 2048**3 / (time.perf_counter() - t) / 1e9))
PY
)
echo "# $(date -u '+%F %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB, main at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes'), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# Qwen2.5-0.5B shape, $layers layers; UF-like pairs (159+320+288 tokens); $steps steps per run; float32 matmul peak (torch, 2048^3): $peak GFLOP/s"
params=494032768
row() { # name, tok/s, wall, rss_kb, estimate
  awk -v n="$1" -v t="$2" -v w="$3" -v r="$4" -v e="$5" -v p="$peak" -v P="$params" 'BEGIN {
    g = 6 * P * t / 1e9
    printf "| %-34s | %6.1f | %7.0f | %5.1f GiB | %-9s | %6.1f | %4.1f%% |\n", n, t, w, r / 1048576, e, g, 100 * g / p }'
}
echo
echo "| run | tok/s | wall s | peak RSS | estimate | GFLOP/s | of peak |"
echo "|---|---|---|---|---|---|---|"
plugin=$(ls "$PWD"/.oracle-venv/lib/python3*/site-packages/xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so)
dpo() { # name, flags...
  local name=$1; shift
  rm -rf "$tmp/out"
  local t0=$(date +%s.%N)
  DPO_XLA_CPU_PLUGIN=$plugin /usr/bin/time -f "%M" -o "$tmp/time" "$tmp/dpo-train" --model "$tmp/qwen" --backend xla:cpu \
    --reference-free --loss sigmoid --lr 1e-5 --max-steps "$steps" --logging-steps 1 --save-steps 0 --max-memory 0 \
    --out "$tmp/out" "$@" "$tmp/uf.arrow" 2> "$tmp/log" || { echo "| $name | failed: $(tail -n 1 "$tmp/log") |"; return; }
  local wall=$(echo "$(date +%s.%N) - $t0" | bc)
  local tps=$("$py" -c 'import json,sys,statistics; r=[json.loads(l) for l in open(sys.argv[1])]; print(statistics.median(x["tokens_per_second"] for x in r[1:] or r))' "$tmp/out/metrics.jsonl")
  local est=$(sed -n 's/.*memory: estimated peak \([0-9.]* [KMGT]iB\).*/\1/p' "$tmp/log" | head -n 1 | tr -d ' ')
  row "dpo-train xla:cpu $name" "$tps" "$wall" "$(cat "$tmp/time")" "${est:--}"
  grep -h "compiled" "$tmp/log" | sed 's/^/    /' >&2
}
torch() { # name, args...
  local name=$1; shift
  local t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$tmp/time" "$py" bench/realsize/torch_train.py "$tmp/qwen" "$tmp/uf.arrow" "$@" > "$tmp/torch.jsonl" 2> "$tmp/log" ||
    { echo "| $name | failed: $(tail -n 1 "$tmp/log") |"; return; }
  local wall=$(echo "$(date +%s.%N) - $t0" | bc)
  local tps=$("$py" -c 'import json,sys,statistics; r=[json.loads(l) for l in open(sys.argv[1]) if "step" in l]; print(statistics.median(x["tokens_per_second"] for x in r[1:] or r))' "$tmp/torch.jsonl")
  row "PyTorch (TRL's computation) $name" "$tps" "$wall" "$(cat "$tmp/time")" "-"
}
dpo "full FT, 1 pair/step" --batch-size 1
torch "full FT, 1 pair/step" 1 "$steps"
dpo "LoRA r16, 2 pairs/step" --batch-size 2 --lora-r 16 --lora-alpha 32 --lora-target all-linear
torch "LoRA r16, 2 pairs/step" 2 "$steps" --lora 16
