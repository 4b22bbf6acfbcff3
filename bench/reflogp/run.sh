#!/usr/bin/env bash
# bench/reflogp/run.sh: dpo-reflogp's forward on the pure-Go backend against
# the same computation in PyTorch on this CPU (docs/benchmarks.md, section
# "Reference log-probs (dpo-reflogp)").
#
#   bash bench/reflogp/run.sh              # speed + agreement + profile + peak memory
#   STEPS="speed" bash bench/reflogp/run.sh
#
# Environment (defaults): LAYERS=4 HIDDEN=256 HEADS=4 KV_HEADS=2 INTER=1024
# VOCAB=32000 (a Qwen2-family model, tied embeddings), PAIRS=16 PLEN=128
# CLEN=128 (every sequence prompt+completion = 256 tokens), BATCH_TOKENS=4096
# (dpo-reflogp's default), THREADS=2 (torch), BACKEND (dpo-reflogp's default
# when empty), OUT=out/reflogp, STEPS="speed profile memory", PROFILE_PAIRS=8
# REPEAT=1 (profile input and timed passes), MEM_VOCAB=151936 MEM_HIDDEN=64
# MEM_LAYERS=2 MEM_PAIRS=2 MEM_SEQ=1024 MEM_CHUNKS="2048 8192 32768" (memory).
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the environment has them;
# run with UNSET_OPENBLAS=1 to unset both for the torch command alone.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/out/reflogp}
BIN=$OUT/bin
W=$OUT/work
mkdir -p "$BIN" "$W"
PY=${PYTHON:-/usr/bin/python3}
LAYERS=${LAYERS:-4} HIDDEN=${HIDDEN:-256} HEADS=${HEADS:-4} KV_HEADS=${KV_HEADS:-2} INTER=${INTER:-1024} VOCAB=${VOCAB:-32000}
PAIRS=${PAIRS:-16} PLEN=${PLEN:-128} CLEN=${CLEN:-128} BATCH_TOKENS=${BATCH_TOKENS:-4096} THREADS=${THREADS:-2}
STEPS=${STEPS:-speed profile memory}
BACKEND_FLAG=()
[[ -n "${BACKEND:-}" ]] && BACKEND_FLAG=(--backend "$BACKEND")

log() { printf '== %s\n' "$*" >&2; }
now() { date +%s.%N; }
# rss CMD...: runs CMD under /usr/bin/time -v, prints "seconds max_rss_kib".
rss() {
	local f=$W/time.txt t0 t1
	t0=$(now)
	/usr/bin/time -v -o "$f" "$@"
	t1=$(now)
	echo "$(echo "$t1 - $t0" | bc -l) $(awk -F': ' '/Maximum resident set size/ {print $2}' "$f")"
}

log "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load: $(uptime | sed 's/.*load average: //')"
log "date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
log "building dpo-reflogp and refbench (CGO_ENABLED=0)"
CGO_ENABLED=0 go build -o "$BIN/dpo-reflogp" ./cmd/dpo-reflogp
CGO_ENABLED=0 go build -o "$BIN/refbench" ./bench/reflogp/refbench
R=$BIN/refbench

if [[ " $STEPS " == *" speed "* || " $STEPS " == *" profile "* ]]; then
	M=$W/model
	"$R" mkmodel --layers "$LAYERS" --hidden "$HIDDEN" --heads "$HEADS" --kv-heads "$KV_HEADS" \
		--intermediate "$INTER" --vocab "$VOCAB" --seed 1 --out "$M" >&2
	"$R" mkpairs --n "$PAIRS" --prompt-len "$PLEN" --chosen-len "$CLEN" --rejected-len "$CLEN" --vocab "$VOCAB" --seed 2 >"$W/pairs.arrow"
	# One pair of the same lengths: the engine pads it to the same batch shape,
	# so this run is load + compile + one batch.
	"$R" mkpairs --n 1 --prompt-len "$PLEN" --chosen-len "$CLEN" --rejected-len "$CLEN" --vocab "$VOCAB" --seed 3 >"$W/one.arrow"
	"$R" mkpairs --n "${PROFILE_PAIRS:-8}" --prompt-len "$PLEN" --chosen-len "$CLEN" --rejected-len "$CLEN" --vocab "$VOCAB" --seed 4 >"$W/profile_pairs.arrow"
fi

if [[ " $STEPS " == *" speed "* ]]; then
	SEQ=$((PLEN + CLEN))
	TOKENS=$((PAIRS * 2 * SEQ))
	log "speed: $PAIRS pairs x 2 sequences x $SEQ tokens = $TOKENS tokens, --batch-tokens $BATCH_TOKENS"
	read -r one_s one_rss < <(rss "$BIN/dpo-reflogp" "${BACKEND_FLAG[@]}" --model "$M" --ignore-tokenizer-mismatch -q \
		--batch-tokens "$BATCH_TOKENS" -o "$W/one_ref.arrow" "$W/one.arrow")
	read -r all_s all_rss < <(rss "$BIN/dpo-reflogp" "${BACKEND_FLAG[@]}" --model "$M" --ignore-tokenizer-mismatch \
		--batch-tokens "$BATCH_TOKENS" -o "$W/ref.arrow" "$W/pairs.arrow" 2> >(tee "$W/reflogp.log" >&2))
	"$R" dump "$W/ref.arrow" >"$W/rows.json"
	TORCH_ENV=()
	[[ "${UNSET_OPENBLAS:-0}" == 1 ]] && TORCH_ENV=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
	log "torch (threads $THREADS, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, UNSET_OPENBLAS=${UNSET_OPENBLAS:-0})"
	env "${TORCH_ENV[@]}" "$PY" bench/reflogp/torch_forward.py --model "$M" --rows "$W/rows.json" \
		--batch-tokens "$BATCH_TOKENS" --threads "$THREADS" --out "$W/torch.json" >&2
	"$PY" - "$W/torch.json" "$TOKENS" "$SEQ" "$BATCH_TOKENS" "$one_s" "$all_s" "$all_rss" <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1]))
tokens, seq, bt = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
one_s, all_s, rss = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
# Batches of the full run: all sequences share one bucket.
b = 16
while True:
    if seq <= b: break
    if seq <= b + b // 2: b += b // 2; break
    b *= 2
rows = 1
while rows * 2 <= bt // b: rows *= 2
nb = -(-(tokens // seq) // rows)
per_batch = (all_s - one_s) / max(nb - 1, 1)
steady = tokens / (per_batch * nb)
e2e = tokens / all_s
print("| | seconds | tokens/s |")
print("|---|---:|---:|")
print("| dpo-reflogp end to end (%d batches of %dx%d; load + compile + forward + I/O) | %.2f | %.0f |" % (nb, rows, b, all_s, e2e))
print("| dpo-reflogp, 1 pair (load + compile + 1 batch) | %.2f | |" % one_s)
print("| dpo-reflogp forward, compile excluded ((all - one) / (batches - 1) per batch) | %.2f | %.0f |" % (per_batch * nb, steady))
print("| PyTorch %s forward, %d threads (after a warm-up batch) | %.2f | %.0f |" % (t["torch"], t["threads"], t["forward_seconds"], t["tokens_per_second"]))
print()
print("ratio dpo-reflogp / PyTorch (tokens/s, forward only): %.3f" % (steady / t["tokens_per_second"]))
print("ratio dpo-reflogp end to end / PyTorch forward: %.3f" % (e2e / t["tokens_per_second"]))
print("max relative difference of the %d summed log-probs: %.2e" % (t["sequences"], t["max_rel_diff_vs_dpo_reflogp"]))
print("dpo-reflogp peak RSS: %.0f MiB" % (rss / 1024))
PYEOF
fi

if [[ " $STEPS " == *" profile "* ]]; then
	log "profile: refbench profile (the engine calls dpo-reflogp makes), ${PROFILE_PAIRS:-8} pairs, one compile pass then ${REPEAT:-1} timed pass(es)"
	"$R" profile "${BACKEND_FLAG[@]}" --model "$M" --pairs "$W/profile_pairs.arrow" --batch-tokens "$BATCH_TOKENS" \
		--repeat "${REPEAT:-1}" --cpuprofile "$OUT/cpu.pprof"
	go tool pprof -top -nodecount=25 "$BIN/refbench" "$OUT/cpu.pprof" 2>/dev/null | sed -n 1,32p
fi

if [[ " $STEPS " == *" memory "* ]]; then
	MM=$W/model_mem
	MV=${MEM_VOCAB:-151936} MH=${MEM_HIDDEN:-64} ML=${MEM_LAYERS:-2} MP=${MEM_PAIRS:-2} MS=${MEM_SEQ:-1024}
	"$R" mkmodel --layers "$ML" --hidden "$MH" --heads 4 --kv-heads 2 --intermediate $((MH * 3)) --vocab "$MV" --seed 4 --out "$MM" >&2
	"$R" mkpairs --n "$MP" --prompt-len $((MS / 2)) --chosen-len $((MS / 2)) --rejected-len $((MS / 2)) --vocab "$MV" --seed 5 >"$W/mem_pairs.arrow"
	log "memory: vocab $MV, hidden $MH, $ML layers, $MP pairs of 2 x $MS-token sequences, --batch-tokens 4096"
	echo "| --vocab-chunk | logits per chunk (4096 x chunk x 4 B) | peak RSS | wall |"
	echo "|---:|---:|---:|---:|"
	for chunk in ${MEM_CHUNKS:-2048 8192 32768}; do
		read -r s kib < <(rss "$BIN/dpo-reflogp" "${BACKEND_FLAG[@]}" --model "$MM" --ignore-tokenizer-mismatch -q \
			--batch-tokens 4096 --vocab-chunk "$chunk" -o "$W/mem_ref_$chunk.arrow" "$W/mem_pairs.arrow")
		printf '| %d | %.0f MiB | %.0f MiB | %.1f s |\n' "$chunk" "$(echo "4096 * $chunk * 4 / 1048576" | bc -l)" "$(echo "$kib / 1024" | bc -l)" "$s"
		"$R" dump "$W/mem_ref_$chunk.arrow" >"$W/mem_rows_$chunk.json"
	done
	# The chunk size must not change the numbers beyond float32 rounding.
	"$PY" - "$W"/mem_rows_*.json <<'PYEOF'
import json, sys
runs = [json.load(open(f))["rows"] for f in sys.argv[1:]]
worst = 0.0
for rows in runs[1:]:
    for a, b in zip(runs[0], rows):
        for k in ("ref_chosen_logps", "ref_rejected_logps"):
            worst = max(worst, abs(a[k] - b[k]) / abs(a[k]))
print("max relative difference between chunk sizes: %.2e" % worst)
PYEOF
fi
