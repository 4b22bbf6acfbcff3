#!/usr/bin/env bash
# bench/gpu/run.sh: the one script a GPU session runs (see docs/gpu.md).
#
#   bash bench/gpu/run.sh             # on the GPU machine: --backend cuda, real Qwen2.5-0.5B shapes
#   bash bench/gpu/run.sh --dry-run   # here, on CPU: pure-Go backend, tiny shapes, Debian torch
#
# Needs bin/dpogpu (or bin/dpogpu.gz), built with
#   CGO_ENABLED=1 go build -tags xla -ldflags='-s -w' -o bin/dpogpu ./bench/gpu/dpogpu && gzip -kf bin/dpogpu
# (the dry run builds it without -tags xla when it is missing and go is installed).
# Writes $OUT/results.json, $OUT/benchmarks_gpu.md and $OUT/run.log ($OUT defaults to out/gpu).
# Steps: a. environment, b. correctness vs transformers, c. speed vs PyTorch, d. markdown.
# Each step has a time limit; the whole run stays under $BUDGET seconds (default 480).
set -u -o pipefail

DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/out/gpu}
mkdir -p "$OUT/parts"
rm -f "$OUT"/parts/*.json
LOG=$OUT/run.log
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dpo-gpu.XXXXXX")
trap 'rm -rf "$WORK"; [[ -n "${SMI_PID:-}" ]] && kill "$SMI_PID" 2>/dev/null' EXIT
BUDGET=${BUDGET:-480}
START=$SECONDS

log() { printf '[%4ds] %s\n' $((SECONDS - START)) "$*"; }
left() { echo $((BUDGET - (SECONDS - START))); }
# limit SECONDS CMD...: run with a timeout no longer than what is left.
limit() {
	local want=$1 l
	shift
	l=$(left)
	((l < want)) && want=$l
	if ((want <= 5)); then
		log "SKIP (time budget spent): $*"
		return 124
	fi
	timeout --signal=KILL "$want" "$@"
}
part() { printf '%s\n' "$2" >"$OUT/parts/$1.json"; }

if ((DRY)); then
	PY=${PYTHON:-/usr/bin/python3}
	BACKEND=go:ops_sequential
	DEVICE=cpu
else
	PY=${PYTHON:-python3}
	BACKEND=${DPO_GPU_BACKEND:-cuda} # e.g. DPO_GPU_BACKEND=cuda,tf32=false
	DEVICE=cuda
fi

# ---- the binary ----
D=$ROOT/bin/dpogpu
if [[ ! -x "$D" && -f "$ROOT/bin/dpogpu.gz" ]]; then
	gzip -dc "$ROOT/bin/dpogpu.gz" >"$WORK/dpogpu" && chmod +x "$WORK/dpogpu" && D=$WORK/dpogpu
fi
if [[ ! -x "$D" ]] && ((DRY)) && command -v go >/dev/null; then
	log "building bin/dpogpu (no -tags xla: dry run)"
	go build -o "$ROOT/bin/dpogpu" ./bench/gpu/dpogpu || exit 1
	D=$ROOT/bin/dpogpu
fi
[[ -x "$D" ]] || {
	log "FATAL: no bin/dpogpu or bin/dpogpu.gz (build it with -tags xla, see the header)"
	exit 1
}

# ---- a. environment ----
log "== a. environment (dry run: $DRY)"
GPU_NAME=""
if command -v nvidia-smi >/dev/null; then
	nvidia-smi || true
	GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
fi
NGPU=0
[[ -n "$GPU_NAME" ]] && NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
PYVERS=$($PY - <<'PYEOF' 2>/dev/null
import json, sys, platform
v = {"python": platform.python_version()}
try:
    import torch
    v["torch"] = torch.__version__
    v["cuda_available"] = torch.cuda.is_available()
    v["torch_cuda"] = torch.version.cuda
except Exception as e:
    v["torch"] = "missing: %s" % e
try:
    import transformers
    v["transformers"] = transformers.__version__
except Exception:
    v["transformers"] = None
print(json.dumps(v))
PYEOF
)
[[ -n "$PYVERS" ]] || PYVERS='{"python": null}'
log "python: $PYVERS"
DETECT=$("$D" detect 2>"$WORK/detect.err")
DETECT_RC=$?
if ((DETECT_RC == 0)); then
	log "cuda plugin: $DETECT"
else
	log "cuda plugin not found: $(cat "$WORK/detect.err")"
	DETECT='null'
	if ((!DRY)); then log "FATAL: --backend cuda cannot work without the plugin"; fi
fi
GLIBC=$(ldd --version 2>/dev/null | head -1)
part env "{\"dry_run\": $DRY, \"gpu\": \"$GPU_NAME\", \"gpus\": $NGPU, \"backend\": \"$BACKEND\", \"python\": $PYVERS, \"cuda_detect\": $DETECT, \"glibc\": \"$GLIBC\", \"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\", \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\"}"

# ---- b. correctness vs transformers ----
log "== b. correctness"
if ((DRY)); then
	SHAPE=(--layers 2 --hidden 32 --heads 4 --kv-heads 2 --intermediate 40 --vocab 300)
else
	SHAPE=(--layers 2) # Qwen2.5-0.5B: vocab 151936, hidden 896, 14/2 heads, intermediate 4864
fi
C=$WORK/correct
mkdir -p "$C"
{
	"$D" mkpairs --n 4 --prompt-len 40 --chosen-len 20 --rejected-len 33 --seed 1 --id-prefix a
	"$D" mkpairs --n 3 --prompt-len 7 --chosen-len 61 --rejected-len 2 --seed 2 --id-prefix b
	"$D" mkpairs --n 2 --prompt-len 0 --chosen-len 15 --rejected-len 90 --seed 3 --id-prefix c
} >"$C/pairs.jsonl"
"$D" tokenize -q --tokenizer builtin:bytes "$C/pairs.jsonl" >"$C/pairs.arrow" || log "FAIL: tokenize"
compare() { # label modeldir dtype tol: reflogp on our backend, then transformers
	local label=$1 dir=$2 dtype=$3 tol=$4 t0=$SECONDS
	if ! limit 120 "$D" reflogp --backend "$BACKEND" --model "$dir" --ignore-tokenizer-mismatch -o "$C/$label.arrow" "$C/pairs.arrow"; then
		log "FAIL: $label: dpo-reflogp"
		part "cmp_$label" "{\"label\": \"$label\", \"pass\": false, \"error\": \"dpo-reflogp failed\"}"
		return
	fi
	log "$label: dpo-reflogp took $((SECONDS - t0))s"
	"$D" dump "$C/$label.arrow" >"$C/$label.json"
	limit 150 "$PY" bench/gpu/compare_transformers.py --model "$dir" --rows "$C/$label.json" --dtype "$dtype" \
		--tol "$tol" --device "$DEVICE" --label "$label" --out "$OUT/parts/cmp_$label.json" 2>"$C/$label.err"
	local rc=$?
	((rc > 1)) && {
		log "FAIL: $label: compare_transformers.py exited $rc"
		tail -5 "$C/$label.err"
		part "cmp_$label" "{\"label\": \"$label\", \"pass\": false, \"error\": \"compare_transformers.py exited $rc\"}"
	}
	return 0 # the verdict is in the part file
}
t0=$SECONDS
"$D" mkmodel "${SHAPE[@]}" --seed 7 --dtype f32 --out "$C/m32" && compare f32 "$C/m32" float32 1e-5
"$D" mkmodel "${SHAPE[@]}" --seed 7 --dtype bf16 --out "$C/mbf16" && {
	# Without --bf16 our engine computes in float32 whatever the checkpoint
	# dtype: exact on the bf16 weights against
	# transformers in float32, and against transformers' own bf16 compute.
	compare bf16w_f32 "$C/mbf16" float32 1e-5
	cp "$OUT/parts/cmp_bf16w_f32.json" "$WORK/keep.json" 2>/dev/null
	"$PY" bench/gpu/compare_transformers.py --model "$C/mbf16" --rows "$C/bf16w_f32.json" --dtype bfloat16 --tol 1e-3 \
		--device "$DEVICE" --label bf16w_vs_hf_bf16 --out "$OUT/parts/cmp_bf16w_vs_hf_bf16.json" 2>"$C/bf16.err"
}
log "b. first comparisons took $((SECONDS - t0))s"
# --bf16 compute against its definition (tools/torchref with bf16 matmuls, on
# the CPU): on the GPU this shows what XLA makes of the bf16 casts (its
# excess-precision rewrites may skip some roundings).
if limit 120 "$D" reflogp --backend "$BACKEND" --bf16 --model "$C/m32" --ignore-tokenizer-mismatch -o "$C/bf16c.arrow" "$C/pairs.arrow"; then
	"$D" dump "$C/bf16c.arrow" >"$C/bf16c.json"
	limit 150 "$PY" bench/gpu/compare_transformers.py --model "$C/m32" --rows "$C/bf16c.json" --bf16-matmul --tol 2e-3 \
		--device cpu --label bf16_compute --out "$OUT/parts/cmp_bf16_compute.json" 2>"$C/bf16c.err" ||
		{ log "bf16_compute: compare exited $?"; tail -3 "$C/bf16c.err"; }
else
	log "FAIL: dpo-reflogp --bf16"
	part cmp_bf16_compute '{"label": "bf16_compute", "pass": false, "error": "dpo-reflogp --bf16 failed"}'
fi

# A checkpoint written by dpo-train must load in transformers and give our numbers.
if "$D" train -h >/dev/null 2>&1 || "$D" train -version >/dev/null 2>&1; then
	# dpo-train needs a prompt token before every completion: train on the
	# groups with prompts, compare on all rows.
	grep -v '"id":"c' "$C/pairs.jsonl" >"$C/train_pairs.jsonl"
	"$D" tokenize -q --tokenizer builtin:bytes "$C/train_pairs.jsonl" >"$C/train_pairs.arrow" &&
		limit 60 "$D" reflogp --backend "$BACKEND" --model "$C/m32" --ignore-tokenizer-mismatch -q -o "$C/ref_for_train.arrow" "$C/train_pairs.arrow" &&
		limit 150 "$D" train --backend "$BACKEND" --model "$C/m32" --loss sigmoid --beta 0.1 --lr 1e-3 --max-steps 2 --batch-size 2 \
			--ignore-tokenizer-mismatch --logging-steps 1 --out "$C/trained" "$C/ref_for_train.arrow"
	if [[ -f "$C/trained/config.json" ]]; then
		compare trained "$C/trained" float32 1e-5
	else
		log "FAIL: dpo-train wrote no checkpoint"
		part cmp_trained '{"label": "trained", "pass": false, "error": "dpo-train failed"}'
	fi
else
	log "SKIP: this dpogpu has no working train command"
fi

# ---- c. speed ----
log "== c. speed"
S=$WORK/speed
mkdir -p "$S"
if ((DRY)); then
	SPEED_SHAPE=(--layers 2 --hidden 64 --heads 4 --kv-heads 2 --intermediate 128 --vocab 300)
	NPAIRS=8 PLEN=47 CLEN=48 BATCH=2 STEPS=3 # 96-token sequences (prompt + completion + eos)
else
	SPEED_SHAPE=() # Qwen2.5-0.5B, 24 layers
	NPAIRS=48 PLEN=383 CLEN=384 BATCH=4 STEPS=8 # 768-token sequences, 6144 tokens per step
fi
t0=$SECONDS
"$D" mkmodel "${SPEED_SHAPE[@]}" --seed 11 --dtype bf16 --out "$S/m" >/dev/null || log "FAIL: mkmodel"
"$D" mkpairs --n $NPAIRS --prompt-len $PLEN --chosen-len $CLEN --rejected-len $CLEN --seed 5 >"$S/pairs.jsonl"
"$D" tokenize -q --tokenizer builtin:bytes "$S/pairs.jsonl" >"$S/pairs.arrow"
log "model and pairs: $((SECONDS - t0))s"

smi_start() {
	[[ -n "$GPU_NAME" ]] || return 0
	(while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1; sleep 0.2; done) >"$1" 2>/dev/null &
	SMI_PID=$!
}
smi_stop() { # prints the peak MiB seen
	[[ -n "${SMI_PID:-}" ]] && kill "$SMI_PID" 2>/dev/null && wait "$SMI_PID" 2>/dev/null
	SMI_PID=""
	[[ -s "$1" ]] && sort -n "$1" | tail -1 || echo null
}

t0=$SECONDS
smi_start "$S/smi_reflogp"
limit 150 "$D" reflogp --backend "$BACKEND" --model "$S/m" --ignore-tokenizer-mismatch -o "$S/ref.arrow" "$S/pairs.arrow" 2>&1 | tee "$S/reflogp.log"
REFLOGP_S=$((SECONDS - t0))
REFLOGP_PEAK=$(smi_stop "$S/smi_reflogp")
REFLOGP_TPS=$(sed -n 's/.*: \([0-9.]*\) tokens\/s.*/\1/p' "$S/reflogp.log" | tail -1)
part reflogp "{\"wall_seconds\": $REFLOGP_S, \"tokens_per_second\": ${REFLOGP_TPS:-null}, \"peak_gpu_mib\": $REFLOGP_PEAK, \"pairs\": $NPAIRS}"
"$D" dump "$S/ref.arrow" >"$S/rows.json" || log "FAIL: no reference stream for the speed test"

train_run() { # name limit extra-flags...: a dpo-train run on the speed model, as part <name>
	local name=$1 lim=$2 t0=$SECONDS rc peak
	shift 2
	smi_start "$S/smi_$name"
	limit "$lim" "$D" train --backend "$BACKEND" --model "$S/m" --loss sigmoid --beta 0.1 --lr 1e-6 --batch-size $BATCH \
		--max-steps $((STEPS + 2)) --logging-steps 1 --ignore-tokenizer-mismatch --out "$S/$name" "$@" "$S/ref.arrow" 2>&1 | tee "$S/$name.log"
	rc=${PIPESTATUS[0]}
	peak=$(smi_stop "$S/smi_$name")
	part "$name" "$("$PY" - "$S/$name/metrics.jsonl" "$((SECONDS - t0))" "$peak" "$rc" "$*" <<'PYEOF'
import json, statistics, sys
path, wall, peak, rc, flags = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
steps = []
try:
    for line in open(path):
        m = json.loads(line)
        if "tokens_per_second" in m and not any(k.startswith("eval_") for k in m):
            steps.append(m)
except OSError:
    pass
tps = [m["tokens_per_second"] for m in steps[2:]]  # steps 1-2 include compilation
print(json.dumps({"rc": rc, "flags": flags, "wall_seconds": wall, "peak_gpu_mib": None if peak == "null" else float(peak),
                  "steps": len(steps), "first_loss": steps[0].get("loss") if steps else None,
                  "median_tokens_per_second": statistics.median(tps) if tps else None}))
PYEOF
)"
}
train_run train 240
cp "$S/train/metrics.jsonl" "$OUT/dpo_train_metrics.jsonl" 2>/dev/null
# bf16 mixed precision (f32 master weights), then with gradient checkpointing.
if (($(left) > 330)); then train_run train_bf16 120 --bf16; else log "SKIP: dpo-train --bf16 (time budget)"; fi
if (($(left) > 300)); then train_run train_bf16_ckpt 120 --bf16 --gradient-checkpointing; else log "SKIP: dpo-train --bf16 --gradient-checkpointing (time budget)"; fi
# Several GPUs: the same run data-parallel over all of them (--devices all:
# global batch BATCH x N, so tokens/s is comparable per step), then with the
# weights, gradients and AdamW state split over them (--shard-params).
# Peak memory is GPU 0's. One GPU (or the dry run's pure-Go backend, which
# refuses --devices) skips both rows.
if ((NGPU > 1)); then
	if (($(left) > 270)); then train_run train_devices 120 --devices all; else log "SKIP: dpo-train --devices all (time budget)"; fi
	if (($(left) > 240)); then train_run train_devices_shard 120 --devices all --shard-params; else log "SKIP: dpo-train --devices all --shard-params (time budget)"; fi
else
	log "SKIP: multi-GPU rows (--devices all, --shard-params): $NGPU GPUs"
fi

torch_run() { # name limit args...
	local name=$1 lim=$2
	shift 2
	limit "$lim" "$PY" bench/gpu/torch_dpo_step.py --model "$S/m" --rows "$S/rows.json" --batch-size $BATCH --steps $STEPS \
		--warmup 2 --device "$DEVICE" --out "$OUT/parts/torch_$name.json" "$@" 2>"$S/torch_$name.err" ||
		{ log "torch $name failed or timed out:"; tail -3 "$S/torch_$name.err"; }
}
torch_run eager_f32 120 --dtype float32
torch_run eager_bf16 120 --dtype bfloat16
if (($(left) > 150)); then torch_run compile_f32 150 --dtype float32 --compile; else log "SKIP: torch.compile (time budget)"; fi

# ---- d. results ----
log "== d. results"
"$PY" - "$OUT" "$S/m/config.json" "$BATCH" "$((PLEN + CLEN + 1))" "$DRY" <<'PYEOF'
import glob, json, os, sys
out, cfgp, batch, seqlen, dry = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
parts = {}
for p in sorted(glob.glob(os.path.join(out, "parts", "*.json"))):
    try:
        parts[os.path.basename(p)[:-5]] = json.load(open(p))
    except Exception as e:
        parts[os.path.basename(p)[:-5]] = {"error": "unreadable: %s" % e}
cfg = json.load(open(cfgp))
L, H, nH, kv, I, V = (cfg[k] for k in ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "intermediate_size", "vocab_size"))
hd = H // nH
N = V * H + L * (H * nH * hd + 2 * H * kv * hd + nH * hd + 2 * kv * hd + nH * hd * H + 3 * H * I + 2 * H) + H
if not cfg.get("tie_word_embeddings", True):
    N += V * H
# FLOPs of one DPO step (forward + backward): 6*N per token (N includes the
# tied lm_head, which is a matmul) plus attention 12*L*nH*hd*S per token of
# a length-S sequence (QK^T and AV, forward and backward, without the causal
# halving), as in PaLM's MFU (Chowdhery et al. 2022, appendix B).
tokens = 2 * batch * seqlen
flops = 6 * N * tokens + 12 * L * nH * hd * seqlen * tokens
gpu = parts.get("env", {}).get("gpu", "") or ""
peak = None
if "H100" in gpu and "PCIe" in gpu:
    peak = 756e12
elif "H100" in gpu and "NVL" in gpu:
    peak = 835e12
elif "H100" in gpu or "H200" in gpu:
    peak = 989.4e12
def mfu(tps):
    if not tps or not peak:
        return None
    return flops / (tokens / tps) / peak
speed = []
backend = parts.get("env", {}).get("backend", "?")
for k, what in (("train", "f32 compute%s" % (", TF32 matmuls" if backend.startswith("cuda") and "tf32=false" not in backend else "")),
                ("train_bf16", "--bf16"), ("train_bf16_ckpt", "--bf16 --gradient-checkpointing"),
                ("train_devices", "f32, --devices all: %s GPUs, global batch x%s, GPU 0's memory" % (parts.get("env", {}).get("gpus"), parts.get("env", {}).get("gpus"))),
                ("train_devices_shard", "f32, --devices all --shard-params, GPU 0's memory")):
    tr = parts.get(k)
    if tr is None:
        continue
    speed.append({"impl": "dpo-train (GoMLX backend %s, %s)" % (backend, what), "tokens_per_second": tr.get("median_tokens_per_second"),
                  "peak_gpu_mib": tr.get("peak_gpu_mib"), "first_loss": tr.get("first_loss")})
for k in ("torch_eager_f32", "torch_eager_bf16", "torch_compile_f32"):
    t = parts.get(k)
    if t:
        speed.append({"impl": "PyTorch %s (%s)%s" % ("torch.compile" if t.get("compile") else "eager", t.get("dtype"), ", TF32" if t.get("tf32") else ""),
                      "tokens_per_second": t.get("tokens_per_second"),
                      "peak_gpu_mib": (t["peak_memory_bytes"] / 2**20) if t.get("peak_memory_bytes") else None,
                      "first_loss": t.get("first_loss"), "detail": t.get("impl")})
for s in speed:
    s["mfu_vs_bf16_dense_peak"] = mfu(s["tokens_per_second"])
checks = {k: v for k, v in parts.items() if k.startswith("cmp_")}
res = {"env": parts.get("env"), "correctness": checks,
       "correctness_pass": all(v.get("pass") for k, v in checks.items() if k != "cmp_bf16w_vs_hf_bf16") and bool(checks),
       "reflogp_speed": parts.get("reflogp"),
       "speed": speed, "model": {"params": N, "layers": L, "hidden": H, "heads": nH, "kv_heads": kv, "intermediate": I, "vocab": V},
       "step": {"pairs": batch, "seq_len": seqlen, "tokens": tokens, "flops": flops,
                "flops_formula": "6*N*tokens + 12*L*n_heads*head_dim*seq_len*tokens (PaLM, no causal halving); N counts the tied lm_head once",
                "peak_flops": peak}}
json.dump(res, open(os.path.join(out, "results.json"), "w"), indent=1)
f = lambda x, fmt: (fmt % x) if isinstance(x, (int, float)) else "n/a"
env = res["env"] or {}
md = ["### GPU: %s (%s, commit %s)%s" % (gpu or "no GPU", env.get("date"), env.get("commit"), " -- DRY RUN on CPU, not a benchmark" if dry else ""), "",
      "Model: Qwen2-shaped random init, %d layers, hidden %d, %d/%d heads, intermediate %d, vocab %d (%.1fM parameters). "
      "DPO sigmoid step: %d pairs x %d tokens (chosen and rejected: %d tokens), AdamW, precomputed reference log-probs." % (L, H, nH, kv, I, V, N / 1e6, batch, seqlen, tokens), "",
      "| implementation | tokens/s | peak GPU memory (MiB) | MFU (vs %s bf16 dense) |" % f(peak and peak / 1e12, "%.0f TFLOP/s"), "|---|---:|---:|---:|"]
for s in speed:
    md.append("| %s | %s | %s | %s |" % (s["impl"], f(s["tokens_per_second"], "%.0f"), f(s["peak_gpu_mib"], "%.0f"), f(s["mfu_vs_bf16_dense_peak"] and 100 * s["mfu_vs_bf16_dense_peak"], "%.1f%%")))
md += ["", "Correctness (summed completion log-probs, dpo-reflogp vs %s):" % ", ".join(sorted({v.get("reference", "?") for v in checks.values()})), "",
       "| check | dtype | max rel err | tol | result |", "|---|---|---:|---:|---|"]
for k, v in sorted(checks.items()):
    md.append("| %s | %s | %s | %s | %s |" % (k[4:], v.get("dtype", "?"), f(v.get("max_rel_err"), "%.2e"), v.get("tol", "?"), "pass" if v.get("pass") else "FAIL"))
rl = res["reflogp_speed"] or {}
md += ["", "dpo-reflogp on the same model: %s tokens/s." % f(rl.get("tokens_per_second"), "%.0f"),
       "MFU = (6·N·tokens + 12·L·heads·head_dim·seq_len·tokens) / step time / peak; N = %d." % N,
       "Command: `bash bench/gpu/run.sh%s` (bin/dpogpu built with `CGO_ENABLED=1 go build -tags xla -ldflags='-s -w' ./bench/gpu/dpogpu`)." % (" --dry-run" if dry else "")]
open(os.path.join(out, "benchmarks_gpu.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
print("correctness_pass:", res["correctness_pass"])
sys.exit(0 if res["correctness_pass"] else 3)
PYEOF
RC=$?
log "done in $((SECONDS - START))s; results in $OUT/results.json"
exit $RC
