"""Times, with PyTorch on this CPU, the computation dpo-reflogp does: the
summed completion log-probability of every chosen and rejected sequence,
on the same weights, the same sequences and the same padded batch shapes,
and checks the numbers against dpo-reflogp's.

The forward is tools/torchref/model.py (plain torch ops, the independent
reference the Go engine is tested against), run in float32 under
torch.inference_mode with the full [B, S, V] logits, then log_softmax,
gather and a completion mask, as TRL's DPOTrainer.concatenated_forward does.

Batches are rebuilt the way pkg/engine plans them (pkg/engine/batch.go),
independently of every record batch of the stream (dpo-reflogp scores each
record batch on its own): the sequences of a record (chosen at even, rejected
at odd index) are stably sorted by length, grouped by bucket (16, 24, 32,
48, ... : powers of two and 1.5x powers of two), cut into batches of
floor_pow2(batch_tokens / bucket) rows, and every batch, the last included,
is padded to that many rows with one-token rows.

    /usr/bin/python3 bench/reflogp/torch_forward.py --model DIR --rows rows.json \
        --batch-tokens 4096 --threads 2 [--out result.json]

rows.json comes from `refbench dump ref.arrow`. Prints one JSON object.
"""
import argparse
import json
import os
import sys
import time

import warnings

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "torchref"))
import model  # noqa: E402
import safetensors_np  # noqa: E402


def bucket_len(n):
    b = 16
    while True:
        if n <= b:
            return b
        if n <= b + b // 2:
            return b + b // 2
        b *= 2


def floor_pow2(n):
    p = 1
    while p * 2 <= n:
        p *= 2
    return p


def plan(lens, batch_tokens):
    """[(indices, size, length)] as pkg/engine's planBatches."""
    order = sorted(range(len(lens)), key=lambda i: lens[i])  # sorted() is stable
    out, start = [], 0
    while start < len(order):
        T = bucket_len(lens[order[start]])
        end = start
        while end < len(order) and bucket_len(lens[order[end]]) == T:
            end += 1
        rows = floor_pow2(batch_tokens // T)
        for s in range(start, end, rows):
            out.append((order[s:min(s + rows, end)], rows, T))
        start = end
    return out


def make_batches(rows, batch_tokens):
    """Sequences and padded batches, per record batch of the stream."""
    seqs, batches = [], []  # seqs: (tokens, prompt_len, row, 0 chosen / 1 rejected)
    by_record = {}
    for i, r in enumerate(rows):
        by_record.setdefault(r["batch"], []).append(i)
    for rec in sorted(by_record):
        local = []
        for i in by_record[rec]:
            r = rows[i]
            local.append((r["prompt"] + r["chosen"], len(r["prompt"]), i, 0))
            local.append((r["prompt"] + r["rejected"], len(r["prompt"]), i, 1))
        base = len(seqs)
        seqs.extend(local)
        for idx, size, T in plan([len(s[0]) for s in local], batch_tokens):
            ids = torch.zeros((size, T), dtype=torch.int64)
            lengths = torch.ones(size, dtype=torch.int64)
            prompts = torch.ones(size, dtype=torch.int64)
            for k, j in enumerate(idx):
                toks, p = seqs[base + j][0], seqs[base + j][1]
                ids[k, :len(toks)] = torch.tensor(toks)
                lengths[k], prompts[k] = len(toks), p
            batches.append(([base + j for j in idx], ids, lengths, prompts))
    return seqs, batches


def summed_logps(w, cfg, ids, lengths, prompts):
    B, S = ids.shape
    attn = (torch.arange(S)[None, :] < lengths[:, None]).long()
    lg = model.logits(w, cfg, ids, attn, torch.float32)              # [B, S, V]
    lp = torch.log_softmax(lg[:, :-1], dim=-1)                       # predicts tokens 1..S-1
    tok = lp.gather(-1, ids[:, 1:, None])[..., 0]                    # [B, S-1]
    pos = torch.arange(1, S)[None, :]
    mask = (pos >= prompts[:, None]) & (pos < lengths[:, None])
    return (tok * mask).sum(-1)


def blas_libraries():
    """The BLAS shared objects this process has mapped (Debian's torch is
    built with BLAS_INFO=generic: libblas.so.3, an alternative)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {os.path.realpath(l.split()[-1]) for l in f if "blas" in l.split()[-1].lower()}
        return sorted(libs)
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--rows", required=True)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    t0 = time.perf_counter()
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    w, _, _ = safetensors_np.load(os.path.join(a.model, "model.safetensors"))
    load_s = time.perf_counter() - t0
    rows = json.load(open(a.rows))["rows"]
    seqs, batches = make_batches(rows, a.batch_tokens)
    result = [None] * len(seqs)
    with torch.inference_mode():
        # Warm-up on the first batch's shape (allocator, thread pool), not timed.
        summed_logps(w, cfg, *batches[0][1:])
        t0 = time.perf_counter()
        for idx, ids, lengths, prompts in batches:
            s = summed_logps(w, cfg, ids, lengths, prompts)
            for k, j in enumerate(idx):
                result[j] = float(s[k])
        forward_s = time.perf_counter() - t0
    tokens = sum(len(s[0]) for s in seqs)
    max_rel = 0.0
    for (toks, p, i, which), got in zip(seqs, result):
        ref = rows[i]["ref_rejected_logps" if which else "ref_chosen_logps"]
        max_rel = max(max_rel, abs(got - ref) / max(abs(ref), 1e-12))
    out = {
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "blas_libraries": blas_libraries(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "sequences": len(seqs), "batches": len(batches),
        "batch_shapes": sorted({(b[1].shape[0], b[1].shape[1]) for b in batches}),
        "tokens": tokens, "load_seconds": load_s, "forward_seconds": forward_s,
        "tokens_per_second": tokens / forward_s, "max_rel_diff_vs_dpo_reflogp": max_rel,
    }
    js = json.dumps(out)
    print(js)
    if a.out:
        with open(a.out, "w") as f:
            f.write(js + "\n")


if __name__ == "__main__":
    main()
