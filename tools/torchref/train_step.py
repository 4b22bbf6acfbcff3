"""One DPO training step in PyTorch, the reference for pkg/train.

For each test checkpoint under testdata/models it runs, in float64:

    policy logps  = completion_logps(weights, batch)         (logps.py)
    loss          = mean_i -log σ(β((π_w - ref_w) - (π_l - ref_l)))   (TRL sigmoid)
    loss.backward()                                           (every parameter gradient)
    grad_norm     = torch.nn.utils.clip_grad_norm_(params, max_norm)
    torch.optim.AdamW(lr, betas, eps, weight_decay) one step, with weight
    decay 0 for biases and norm weights (HF Trainer's decay_parameters)

and writes pkg/train/testdata/torchref/<case>.json (the batch and the
hyper-parameters) and <case>.safetensors (F64: loss, grad_norm, grad/<name>,
updated/<name>).

It also writes <case>_bf16.{json,safetensors}: the same step's loss,
gradients and gradient norm with float32 master weights and bf16 mixed
precision (model.BF16_MATMUL: every matrix product with bf16-rounded
operands, a float32 accumulator and a bf16-rounded result; the rest in
float32), the reference for dpo-train --bf16. Run from the repository root:

    /usr/bin/python3 tools/torchref/train_step.py
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logps  # noqa: E402
import model  # noqa: E402
import safetensors_np  # noqa: E402

HP = {"beta": 0.1, "lr": 1e-3, "adam_beta1": 0.9, "adam_beta2": 0.999,
      "adam_epsilon": 1e-8, "weight_decay": 5.0, "max_grad_norm": 1.0}
# weight_decay is large so that decoupled decay (and its absence for norms and
# biases) moves weights well beyond the comparison tolerance.

CASES = ["llama_gqa", "qwen2", "qwen3", "mistral", "gpt2"]


def batch_for(vocab, seed):
    rng = np.random.RandomState(seed)
    pairs = []
    for i, (pl, cl, rl) in enumerate([(4, 5, 3), (2, 7, 6), (6, 2, 4)]):
        pairs.append({
            "id": "pair-%d" % i,
            "prompt": [int(x) for x in rng.randint(0, vocab, pl)],
            "chosen": [int(x) for x in rng.randint(0, vocab, cl)],
            "rejected": [int(x) for x in rng.randint(0, vocab, rl)],
            "ref_chosen": float(-5.5 * cl + rng.uniform(-1, 1)),
            "ref_rejected": float(-5.5 * rl + rng.uniform(-1, 1)),
        })
    return pairs


def no_decay(name):
    # HF Trainer: no decay for LayerNorm/RMSNorm weights (ALL_LAYERNORM_LAYERS) and biases.
    return name.endswith(".bias") or "norm" in name or name.split(".")[-2].startswith("ln_")


def run(root, case, outdir, bf16=False):
    d = os.path.join(root, "testdata", "models", case)
    cfg = json.load(open(os.path.join(d, "config.json")))
    raw, _, _ = safetensors_np.load(os.path.join(d, "model.safetensors"))
    dt = torch.float32 if bf16 else torch.float64
    model.BF16_MATMUL = bf16
    params = {k: torch.tensor(np.asarray(v, dtype=np.float32 if bf16 else np.float64), requires_grad=True) for k, v in raw.items()}
    pairs = batch_for(cfg.get("vocab_size", 50257), 7)
    seqs, prompts, lens = [], [], []
    for key in ("chosen", "rejected"):
        for p in pairs:
            seqs.append(p["prompt"] + p[key])
            prompts.append(len(p["prompt"]))
            lens.append(len(seqs[-1]))
    S = max(lens)
    ids = [s + [0] * (S - len(s)) for s in seqs]
    summed, _, _ = logps.completion_logps(params, cfg, ids, prompts, lens, dt)
    B = len(pairs)
    pc, pr = summed[:B], summed[B:]
    rc = torch.tensor([p["ref_chosen"] for p in pairs], dtype=dt)
    rr = torch.tensor([p["ref_rejected"] for p in pairs], dtype=dt)
    z = HP["beta"] * ((pc - rc) - (pr - rr))
    loss = (-torch.nn.functional.logsigmoid(z)).mean()
    loss.backward()
    names = [n for n in sorted(params) if params[n].grad is not None]  # GPT-2 attn.bias is a buffer
    grads = {n: params[n].grad.detach().clone() for n in names}
    if bf16:
        norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values()))
        out = {"loss": np.array([loss.item()]), "grad_norm": np.array([norm.item()]),
               "logps": summed.detach().double().numpy()}
        for n in names:
            out["grad/" + n] = grads[n].double().numpy()
        safetensors_np.save(os.path.join(outdir, case + "_bf16.safetensors"), out,
                            {"source": "tools/torchref/train_step.py", "precision": "bf16 matmuls, float32 master weights"}, dtype="F64")
        with open(os.path.join(outdir, case + "_bf16.json"), "w") as f:
            json.dump({"model": case, "hyperparameters": HP, "pairs": pairs, "bf16": True}, f, indent=1)
        model.BF16_MATMUL = False
        print(case, "bf16 loss", loss.item(), "grad_norm", norm.item())
        return
    norm = torch.nn.utils.clip_grad_norm_([params[n] for n in names], HP["max_grad_norm"])
    opt = torch.optim.AdamW(
        [{"params": [params[n] for n in names if not no_decay(n)], "weight_decay": HP["weight_decay"]},
         {"params": [params[n] for n in names if no_decay(n)], "weight_decay": 0.0}],
        lr=HP["lr"], betas=(HP["adam_beta1"], HP["adam_beta2"]), eps=HP["adam_epsilon"])
    opt.step()
    out = {"loss": np.array([loss.item()]), "grad_norm": np.array([norm.item()])}
    for n in names:
        out["grad/" + n] = grads[n].numpy()
        out["updated/" + n] = params[n].detach().numpy()
    safetensors_np.save(os.path.join(outdir, case + ".safetensors"), out, {"source": "tools/torchref/train_step.py"}, dtype="F64")
    with open(os.path.join(outdir, case + ".json"), "w") as f:
        json.dump({"model": case, "hyperparameters": HP, "pairs": pairs,
                   "no_decay": [n for n in names if no_decay(n)]}, f, indent=1)
    print(case, "loss", loss.item(), "grad_norm", norm.item())


if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    outdir = os.path.join(root, "pkg", "train", "testdata", "torchref")
    os.makedirs(outdir, exist_ok=True)
    for c in CASES:
        run(root, c, outdir)
        run(root, c, outdir, bf16=True)
