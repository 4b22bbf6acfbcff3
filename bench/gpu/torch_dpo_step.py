#!/usr/bin/env python3
"""The DPO sigmoid training step in PyTorch, timed on the same batch as
dpo-train: the comparison point for bench/gpu/run.sh.

    torch_dpo_step.py --model DIR --rows rows.json --batch-size 4 --steps 8 \
        --dtype float32 [--compile] --out result.json

Per step: one forward of the 2B concatenated chosen/rejected sequences
(right-padded to the longest), summed completion log-probs (prompt masked,
labels shifted by one, as TRL's concatenated_forward), the loss
-logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))).mean() with the
reference log-probs from rows.json (dpo-reflogp), backward, AdamW
(weight decay 0), zero_grad. Tokens are real (unpadded) tokens of chosen and
rejected sequences, as dpo-train's tokens_per_second counts them. Steps
after --warmup are timed with torch.cuda.synchronize().

The model is transformers.AutoModelForCausalLM.from_pretrained(DIR); when
transformers is not installed (CPU dry run) tools/torchref/model.py's
functional forward over leaf tensors stands in, and the result says so.
"""
import argparse
import json
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--rows", required=True)
    ap.add_argument("--batch-size", type=int, default=4, help="pairs per step")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--tf32", type=int, default=1, help="allow TF32 matmuls for float32 (XLA's default on CUDA)")
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=1e-6)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    import torch
    device = a.device if (a.device != "cuda" or torch.cuda.is_available()) else "cpu"
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[a.dtype]
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(a.tf32)
        torch.backends.cudnn.allow_tf32 = bool(a.tf32)
    rows = json.load(open(a.rows))["rows"]
    if len(rows) < a.batch_size:
        sys.exit("need at least --batch-size rows, have %d" % len(rows))
    cfg = json.load(open(os.path.join(a.model, "config.json")))

    impl = ""
    try:
        import transformers
        impl = "transformers %s, torch %s" % (transformers.__version__, torch.__version__)
        try:
            m = transformers.AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=dtype, attn_implementation="sdpa")
        except (TypeError, ValueError):
            m = transformers.AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=dtype)
        m = m.to(device=device, dtype=dtype).train()
        params = list(m.parameters())
        fwd = m
        if a.compile:
            fwd = torch.compile(m)

        def logits_of(ids, mask):
            return fwd(input_ids=ids, attention_mask=mask).logits
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, os.path.join(here, "..", "..", "tools", "torchref"))
        import model as tref
        import safetensors_np
        impl = "tools/torchref functional model (transformers not installed), torch %s" % torch.__version__
        w, _, _ = safetensors_np.load(os.path.join(a.model, "model.safetensors"))
        weights = {k: torch.tensor(v.copy(), dtype=dtype, device=device, requires_grad=True) for k, v in w.items()}
        params = list(weights.values())

        def logits_of(ids, mask):
            return tref.logits(weights, cfg, ids, mask, dtype)
        if a.compile:
            logits_of = torch.compile(logits_of)

    n_params = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def batch(step):
        rs = [rows[(step * a.batch_size + i) % len(rows)] for i in range(a.batch_size)]
        seqs, plens = [], []
        for side in ("chosen", "rejected"):
            for r in rs:
                seqs.append(r["prompt"] + r[side])
                plens.append(max(1, len(r["prompt"])))
        S = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), S, dtype=torch.long)
        mask = torch.zeros(len(seqs), S, dtype=torch.long)
        lmask = torch.zeros(len(seqs), S - 1, dtype=torch.bool)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
            lmask[i, plens[i] - 1:len(s) - 1] = True
        ref = torch.tensor([r["ref_chosen_logps"] for r in rs] + [r["ref_rejected_logps"] for r in rs], dtype=torch.float32)
        ntok = sum(len(s) for s in seqs)
        return ids.to(device), mask.to(device), lmask.to(device), ref.to(device), ntok

    def step_fn(ids, mask, lmask, ref):
        lg = logits_of(ids, mask)[:, :-1].float()
        lp = torch.log_softmax(lg, dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        seq = (lp * lmask).sum(-1)
        B = seq.shape[0] // 2
        z = a.beta * ((seq[:B] - ref[:B]) - (seq[B:] - ref[B:]))
        loss = -torch.nn.functional.logsigmoid(z).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)

    sync = (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, losses, ntoks = [], [], []
    t_all = time.time()
    for s in range(a.warmup + a.steps):
        ids, mask, lmask, ref, ntok = batch(s)
        sync()
        t0 = time.time()
        losses.append(step_fn(ids, mask, lmask, ref))
        sync()
        if s >= a.warmup:
            times.append(time.time() - t0)
            ntoks.append(ntok)
        print("torch step %d: loss %.4f, %.3fs" % (s + 1, losses[-1], time.time() - t0), file=sys.stderr)
    med = statistics.median(times)
    out = {
        "impl": impl, "device": device, "dtype": a.dtype, "tf32": bool(a.tf32) and a.dtype == "float32" and device == "cuda",
        "compile": a.compile, "batch_pairs": a.batch_size, "steps_timed": len(times), "warmup": a.warmup,
        "params": n_params, "tokens_per_step": ntoks[0] if ntoks else 0,
        "median_step_seconds": med, "tokens_per_second": (ntoks[0] / med) if med > 0 else None,
        "first_loss": losses[0], "losses": losses, "total_seconds": round(time.time() - t_all, 2),
        "peak_memory_bytes": torch.cuda.max_memory_allocated() if device == "cuda" else None,
    }
    json.dump(out, open(a.out, "w"), indent=1)
    print("torch (%s%s, %s): %.0f tokens/s, median step %.3fs, peak %s" % (
        a.dtype, ", compiled" if a.compile else "", device, out["tokens_per_second"] or 0, med,
        out["peak_memory_bytes"]))


if __name__ == "__main__":
    main()
