#!/usr/bin/env bash
# Peak memory (max RSS) and time of dpo-train steps on the pure-Go backend
# in float32, with --gradient-checkpointing and with --bf16, for a model
# whose activations dominate its memory: Llama, hidden 256, 8 layers,
# 4 heads, intermediate 688, vocabulary 259 (builtin:bytes); 4 pairs of
# 32-token prompts and ~220-token completions per step (sequences bucket
# to 256 tokens), 2 steps (the first compiles), SimPO (no reference).
#
#   bash bench/train/memory.sh        (from the repository root)
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/" ./cmd/dpo-tokenize ./cmd/dpo-train
python3 - "$tmp/pairs.jsonl" <<'PY'
import json, random, sys
r = random.Random(1)
words = "the of and to in is was for on that with as by at from his her an be this are or which one had".split()
def text(n):
    s = ""
    while len(s) < n:
        s += r.choice(words) + " "
    return s[:n]
with open(sys.argv[1], "w") as f:
    for i in range(8):
        f.write(json.dumps({"prompt": text(32), "chosen": text(r.randint(200, 222)), "rejected": text(r.randint(200, 222))}) + "\n")
PY
cat > "$tmp/config.json" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 259, "hidden_size": 256,
 "intermediate_size": 688, "num_hidden_layers": 8, "num_attention_heads": 4, "num_key_value_heads": 4,
 "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
 "hidden_act": "silu", "bos_token_id": 256, "eos_token_id": 257, "torch_dtype": "float32"}
JSON
"$tmp/dpo-tokenize" --tokenizer builtin:bytes -q -o "$tmp/pairs.arrow" "$tmp/pairs.jsonl"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%F); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for flags in "" "--gradient-checkpointing" "--bf16" "--bf16 --gradient-checkpointing"; do
  rm -rf "$tmp/out"
  /usr/bin/time -f "%M %e" -o "$tmp/time" "$tmp/dpo-train" --init-config "$tmp/config.json" --loss simpo \
    --batch-size 4 --max-steps 2 --lr 1e-4 -q --out "$tmp/out" $flags "$tmp/pairs.arrow"
  read -r kb secs < "$tmp/time"
  printf '%-34s peak RSS %5d MiB, %6.1f s for 2 steps\n' "${flags:-float32}" $((kb / 1024)) "$secs"
done
