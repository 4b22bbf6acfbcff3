#!/usr/bin/env python3
"""Compare dpo-reflogp's summed completion log-probs with Hugging Face
transformers on the same checkpoint directory and the same token ids.

    compare_transformers.py --model DIR --rows rows.json --dtype float32 \
        --tol 1e-5 --out result.json

rows.json is `dpogpu dump ref.arrow` (token ids + ref_chosen_logps /
ref_rejected_logps written by dpo-reflogp). For every row and side the
reference is

    sum_{t=p}^{n-1} log_softmax(logits[t-1])[ids[t]],  p = max(1, len(prompt))

from transformers.AutoModelForCausalLM.from_pretrained(DIR, torch_dtype=...)
run on one unpadded sequence at a time, the log-softmax taken in float32
(float64 on CPU). When transformers is not installed (the CPU dry run on a
machine with only Debian's python3-torch) the independent functional
reference tools/torchref/model.py is used instead and the result says so.
Exit status 0 when the largest relative error is within --tol, 1 otherwise.
"""
import argparse
import json
import math
import os
import sys
import time


def load_hf(transformers, path, dtype):
    """from_pretrained with eager attention where the installed version knows
    it; the dtype is checked afterwards (and enforced), whatever keyword the
    version expects."""
    try:
        m = transformers.AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype, attn_implementation="eager")
    except (TypeError, ValueError):
        m = transformers.AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype)
    if next(m.parameters()).dtype != dtype:
        m = m.to(dtype)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--rows", required=True)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--force-torchref", action="store_true")
    ap.add_argument("--bf16-matmul", action="store_true",
                    help="reference for --bf16 compute: tools/torchref in float32 with BF16_MATMUL (bf16 operands "
                         "and products, float32 accumulation), on the CPU")
    a = ap.parse_args()

    import torch

    rows = json.load(open(a.rows))["rows"]
    device = a.device if (a.device != "cuda" or torch.cuda.is_available()) else "cpu"
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[a.dtype]
    t0 = time.time()
    impl = "transformers"
    try:
        if a.force_torchref or a.bf16_matmul:
            raise ImportError("forced")
        import transformers
        impl = "transformers " + transformers.__version__
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        m = load_hf(transformers, a.model, dtype).to(device).eval()

        def seq_logits(ids):
            with torch.no_grad():
                x = torch.tensor([ids], dtype=torch.long, device=device)
                return m(input_ids=x).logits[0].float()
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, os.path.join(here, "..", "..", "tools", "torchref"))
        import model as tref
        import safetensors_np
        impl = "tools/torchref (transformers not installed)"
        w, _, _ = safetensors_np.load(os.path.join(a.model, "model.safetensors"))
        cfg = json.load(open(os.path.join(a.model, "config.json")))
        cdt = torch.float64 if a.dtype == "float32" else torch.bfloat16
        if a.bf16_matmul:
            tref.BF16_MATMUL, cdt = True, torch.float32
            impl = "tools/torchref, float32 with bf16 matmuls (the definition of --bf16)"

        def seq_logits(ids):
            with torch.no_grad():
                return tref.logits(w, cfg, [ids], None, cdt)[0].to(torch.float64)

    load_s = time.time() - t0
    worst, results = 0.0, []
    t1 = time.time()
    for r in rows:
        for side in ("chosen", "rejected"):
            ids = r["prompt"] + r[side]
            p = max(1, len(r["prompt"]))
            lg = seq_logits(ids)
            lp = torch.log_softmax(lg[:-1].double() if lg.dtype == torch.float64 else lg[:-1], dim=-1)
            tgt = torch.tensor(ids[1:], device=lg.device)
            tok = lp.gather(-1, tgt[:, None])[:, 0]
            ref = float(tok[p - 1:].double().sum())
            ours = r.get("ref_%s_logps" % side)
            if ours is None:
                sys.exit("rows.json has no ref_%s_logps: dump a dpo-reflogp stream" % side)
            rel = abs(ours - ref) / max(abs(ref), 1e-12)
            worst = max(worst, rel)
            results.append({"id": r["id"], "side": side, "tokens": len(ids), "ours": ours, "reference": ref, "rel_err": rel})
    out = {
        "label": a.label, "reference": impl, "dtype": "float32, bf16 matmuls" if a.bf16_matmul else a.dtype, "device": device,
        "rows": len(rows), "max_rel_err": worst, "tol": a.tol, "pass": worst <= a.tol,
        "load_seconds": round(load_s, 2), "forward_seconds": round(time.time() - t1, 2),
        "details": results[:8],
    }
    json.dump(out, open(a.out, "w"), indent=1)
    print("%s: %s %s on %s: %d sequences, max rel err %.3g (tol %g) %s" % (
        a.label or "compare", impl, a.dtype, device, len(results), worst, a.tol, "PASS" if out["pass"] else "FAIL"))
    sys.exit(0 if out["pass"] else 1)


if __name__ == "__main__":
    main()
