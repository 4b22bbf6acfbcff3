#!/usr/bin/env bash
# Full fine-tuning vs LoRA (r=16, alpha 32, all linear layers) of one
# dpo-train step on the pure-Go backend, float32, same run, same data:
# peak RSS (max RSS of the whole process), tokens/s of the second step
# (the first compiles; metrics.jsonl tokens_per_second), and the bytes of
# AdamW state (adam_m + adam_v tensors of the checkpoint's
# train_state.safetensors) and of trainable parameters.
#
# Model: a random Llama-shaped config made here, hidden 768, 12 layers,
# 12 heads, intermediate 2048, vocabulary 32000, untied lm_head
# (~134M parameters); 4 pairs of 16-byte prompts and 16-byte completions
# per step (builtin:bytes tokenizer; sequences bucket to 32 tokens);
# sigmoid DPO against a constant reference (--reference-free: the step's
# cost is the policy's), 2 steps.
#
#   bash bench/lora/run.sh        (from the repository root)
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/" ./cmd/dpo-tokenize ./cmd/dpo-train ./bench/lora/mkbase
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
        f.write(json.dumps({"prompt": text(16), "chosen": text(14), "rejected": text(14)}) + "\n")
PY
cat > "$tmp/config.json" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000, "hidden_size": 768,
 "intermediate_size": 2048, "num_hidden_layers": 12, "num_attention_heads": 12, "num_key_value_heads": 12,
 "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
 "hidden_act": "silu", "bos_token_id": 256, "eos_token_id": 257, "torch_dtype": "float32"}
JSON
"$tmp/dpo-tokenize" --tokenizer builtin:bytes -q -o "$tmp/pairs.arrow" "$tmp/pairs.jsonl"
"$tmp/mkbase" "$tmp/config.json" "$tmp/base" 1 # both runs start from it (--model)
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB; $(date -u '+%F %H:%M UTC'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
statebytes() { # sums the byte sizes of the tensors whose names start with each prefix
  python3 - "$1" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
size = lambda pre: sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in h.items() if k.startswith(pre))
print(size("param/"), size("adam_m/") + size("adam_v/"))
PY
}
run() { # name, flags...
  local name=$1; shift
  rm -rf "$tmp/$name"
  /usr/bin/time -f "%M %e" -o "$tmp/time" "$tmp/dpo-train" "$@" --loss sigmoid --reference-free \
    --batch-size 4 --max-steps 2 --save-steps 2 --logging-steps 1 --lr 1e-4 -q --out "$tmp/$name" "$tmp/pairs.arrow"
  read -r kb secs < "$tmp/time"
  tps=$(tail -n 1 "$tmp/$name/metrics.jsonl" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["tokens_per_second"])')
  read -r pbytes obytes < <(statebytes "$tmp/$name/checkpoint-2/train_state.safetensors")
  printf '%-28s peak RSS %6d MiB, step 2: %7s tokens/s, %5.0f s in all; trainable %11d bytes, AdamW state %11d bytes\n' \
    "$name" $((kb / 1024)) "$tps" "$secs" "$pbytes" "$obytes"
  echo "$obytes" > "$tmp/$name.opt"
}
run full --model "$tmp/base"
run lora-r16-all-linear --model "$tmp/base" --lora-r 16 --lora-alpha 32 --lora-target all-linear
python3 -c "import sys; f, l = (int(open(p).read()) for p in sys.argv[1:]); print('AdamW state: LoRA %.3f%% of full' % (100 * l / f))" "$tmp/full.opt" "$tmp/lora-r16-all-linear.opt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
