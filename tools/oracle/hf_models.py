"""transformers oracle for dpo's model forward (issue 10, item 2).

Reads a JSON request on stdin (or from the file named by the first
argument) and writes a JSON answer on stdout. One process serves every case
of a Go test: importing torch and transformers is most of the cost.

Request:

    {"make":   [case, ...],   # random checkpoints to create and score
     "verify": [check, ...]}  # checkpoints written by dpo to load and score

case:

    {"name": str, "dir": str, "seed": int,
     "config": {"model_type": "llama", ...},   # AutoConfig.for_model kwargs
     "save": {"max_shard_size": "40KB"} | {"dtype": "bfloat16"} | {},
     "seqs": [[token, ...], ...], "prompt_lens": [int, ...],
     "autocast": bool}

Each case: torch.manual_seed(seed); AutoModelForCausalLM.from_config(config,
attn_implementation="eager") in float32; every parameter redrawn (matrices
N(0, 0.15), norm scales 1 + N(0, 0.1), biases N(0, 0.05): transformers'
own init leaves biases at zero and norms at one, which would hide them);
save_pretrained(dir) (sharded with max_shard_size, or cast to bfloat16
first). The model is then reloaded with from_pretrained(dir,
dtype=float32, attn_implementation="eager") and scores the sequences as one
right-padded batch with an attention_mask:

    logp[i] = sum_{t=prompt_len}^{len-1} log_softmax(logits[i, t-1])[ids[i, t]]

in float32 ("logps"), and with "autocast" also under
torch.autocast("cpu", dtype=torch.bfloat16), the log-softmax taken in
float32 of the bf16 logits ("logps_autocast").

check:

    {"name": str, "dir": str, "seqs": [...], "prompt_lens": [...]}

loads dir with from_pretrained(dtype="auto") and reports whether every
tensor of its safetensors files equals the loaded parameter bit for bit and
every parameter of the model comes from the files ("tensors_equal",
"mismatches", "n_tensors"), then scores the sequences in
float32 as above ("logps", "token_logps").

    {"dpo_grads": [grad, ...]}  # after "make": DPO gradients through transformers

grad:

    {"name": str, "dir": str, "chosen": [[token, ...], ...],
     "rejected": [[...], ...], "prompt_lens_chosen": [int, ...],
     "prompt_lens_rejected": [int, ...], "ref_chosen": [float, ...],
     "ref_rejected": [float, ...], "beta": float}

loads dir in float32 with eager attention, scores chosen and rejected as
one right-padded batch (summed completion log-probs as above, with
autograd), takes TRL's sigmoid DPO loss
mean(-logsigmoid(beta * ((pc - rc) - (pr - rr)))), runs backward and
reports "loss", "policy_chosen", "policy_rejected" and "grads" {parameter
name: flat float list} (a tied head's gradient is in the embedding's).
With "aux_coef" (mixture-of-experts models), the forward also returns the
router logits (output_router_logits=True, as TRL's DPOTrainer asks) and
the loss is the DPO loss + aux_coef * outputs.aux_loss (transformers'
load_balancing_loss_func with the attention mask), reported as
"aux_loss". MoE models are built and loaded with
experts_implementation="eager"; their fused expert tensors are named and
compared per expert, as save_pretrained writes them ("grads", "verify").
A case's "save": {"fused": true} writes the in-memory state dict as it is
(fused experts) instead of save_pretrained's per-expert tensors.

Answer: {"cases": {name: {...}}, "versions": {"torch": ..., "transformers": ...}}.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()
torch.use_deterministic_algorithms(True)
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def randomize(model, seed):
    """Redraws every parameter so biases and norm scales are not trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name or ".ln_" in name):
                if name.endswith(".bias"):
                    v = 0.05 * torch.randn(p.shape, generator=g)
                else:
                    v = 1 + 0.1 * torch.randn(p.shape, generator=g)
            elif p.dim() == 1:
                v = 0.05 * torch.randn(p.shape, generator=g)
            else:
                v = 0.15 * torch.randn(p.shape, generator=g)
            p.copy_(v.to(p.dtype))


def batch(seqs):
    n = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), n, dtype=torch.long)
    mask = torch.zeros(len(seqs), n, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask


def completion_logps(model, seqs, prompt_lens, autocast=False):
    ids, mask = batch(seqs)
    with torch.no_grad():
        if autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(input_ids=ids, attention_mask=mask).logits
        else:
            logits = model(input_ids=ids, attention_mask=mask).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
    sums, tokens = [], []
    for i, s in enumerate(seqs):
        tl = [float(logp[i, t - 1, s[t]]) for t in range(prompt_lens[i], len(s))]
        tokens.append(tl)
        # float64 sum of the float32 per-token values, as dpo sums them.
        sums.append(sum(tl))
    return sums, tokens


def load_kwargs(config):
    """Eager attention, and eager experts for mixture-of-experts models (the
    loop over experts of modeling_qwen3_moe, not grouped_mm)."""
    kw = {"attn_implementation": "eager"}
    if getattr(config, "num_experts", None) or getattr(config, "num_local_experts", None):
        kw["experts_implementation"] = "eager"
    return kw


def from_pretrained(d, dtype=torch.float32):
    return AutoModelForCausalLM.from_pretrained(d, dtype=dtype, **load_kwargs(AutoConfig.from_pretrained(d)))


def make(case):
    cfg_kwargs = dict(case["config"])
    model_type = cfg_kwargs.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg_kwargs)
    torch.manual_seed(case["seed"])
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, **load_kwargs(config))
    randomize(model, case["seed"])
    model.eval()
    save = case.get("save") or {}
    kwargs = {}
    if save.get("max_shard_size"):
        kwargs["max_shard_size"] = save["max_shard_size"]
    if save.get("dtype") == "bfloat16":
        model = model.to(torch.bfloat16)
    if save.get("fused"):
        # The in-memory state dict as it is (transformers 5's fused MoE
        # experts, mlp.experts.gate_up_proj / down_proj), not the
        # per-expert tensors save_pretrained writes.
        os.makedirs(case["dir"], exist_ok=True)
        model.config.save_pretrained(case["dir"])
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  os.path.join(case["dir"], "model.safetensors"), metadata={"format": "pt"})
    else:
        model.save_pretrained(case["dir"], **kwargs)
    ref = from_pretrained(case["dir"])
    ref.eval()
    out = {"files": sorted(os.listdir(case["dir"]))}
    out["logps"], out["token_logps"] = completion_logps(ref, case["seqs"], case["prompt_lens"])
    if case.get("autocast"):
        out["logps_autocast"], _ = completion_logps(ref, case["seqs"], case["prompt_lens"], autocast=True)
    return out


def per_expert(tensors):
    """Renames a state dict (or gradients) as save_pretrained writes it:
    transformers 5 holds MoE experts fused (mlp.experts.gate_up_proj
    [E, 2I, H], rows [gate; up]; mlp.experts.down_proj [E, H, I]) and
    saves them as mlp.experts.<e>.{gate,up,down}_proj.weight."""
    out = {}
    for n, t in tensors.items():
        if n.endswith(".mlp.experts.gate_up_proj"):
            p, inter = n[: -len("gate_up_proj")], t.shape[1] // 2
            for e in range(t.shape[0]):
                out[f"{p}{e}.gate_proj.weight"] = t[e, :inter]
                out[f"{p}{e}.up_proj.weight"] = t[e, inter:]
        elif n.endswith(".mlp.experts.down_proj"):
            p = n[: -len("down_proj")]
            for e in range(t.shape[0]):
                out[f"{p}{e}.down_proj.weight"] = t[e]
        else:
            out[n] = t
    return out


def safetensors_files(d):
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return sorted({os.path.join(d, v) for v in json.load(f)["weight_map"].values()})
    return [os.path.join(d, "model.safetensors")]


def verify(check):
    model = from_pretrained(check["dir"], dtype="auto")
    model.eval()
    state = per_expert(model.state_dict())
    mismatches, n, seen = [], 0, set()
    for path in safetensors_files(check["dir"]):
        for name, t in load_file(path).items():
            n += 1
            seen.add(name)
            p = state.get(name)
            if p is None:
                mismatches.append(f"{name}: not a parameter of the loaded model")
            elif p.dtype != t.dtype or p.shape != t.shape or not torch.equal(p, t):
                mismatches.append(f"{name}: loaded {p.dtype} {tuple(p.shape)} differs from the file's {t.dtype} {tuple(t.shape)}")
    # Parameters the files lack would be initialised at random by
    # from_pretrained (tied heads are listed once, under the embedding).
    for name in per_expert(dict(model.named_parameters())):
        if name not in seen:
            mismatches.append(f"{name}: missing from the files")
    model = model.float()
    out = {"tensors_equal": not mismatches, "mismatches": mismatches, "n_tensors": n}
    out["logps"], out["token_logps"] = completion_logps(model, check["seqs"], check["prompt_lens"])
    return out


def dpo_grads(case):
    model = from_pretrained(case["dir"])
    model.eval()  # no dropout; autograd still runs
    seqs = case["chosen"] + case["rejected"]
    plens = case["prompt_lens_chosen"] + case["prompt_lens_rejected"]
    ids, mask = batch(seqs)
    aux_coef = case.get("aux_coef")
    # MoE: TRL's DPOTrainer asks the one forward over [chosen; rejected]
    # for its router logits and adds router_aux_loss_coef * outputs.aux_loss.
    kw = {"output_router_logits": True} if aux_coef is not None else {}
    outputs = model(input_ids=ids, attention_mask=mask, **kw)
    logits = outputs.logits
    logp = torch.log_softmax(logits.float(), dim=-1)
    sums = []
    for i, s in enumerate(seqs):
        t = torch.arange(plens[i], len(s))
        sums.append(logp[i, t - 1, ids[i, t]].sum())
    sums = torch.stack(sums)
    p = len(case["chosen"])
    pc, pr = sums[:p], sums[p:]
    rc = torch.tensor(case["ref_chosen"], dtype=torch.float32)
    rr = torch.tensor(case["ref_rejected"], dtype=torch.float32)
    z = case["beta"] * ((pc - rc) - (pr - rr))
    loss = -torch.nn.functional.logsigmoid(z).mean()
    out = {}
    if aux_coef is not None:
        out["aux_loss"] = float(outputs.aux_loss)
        loss = loss + aux_coef * outputs.aux_loss
    loss.backward()
    # Named as save_pretrained names them: fused MoE experts
    # [E, 2I, H] / [E, H, I] become one gradient per expert.
    grads = {n: g.reshape(-1).tolist() for n, g in per_expert(
        {n: q.grad for n, q in model.named_parameters() if q.grad is not None}).items()}
    out.update({"loss": float(loss), "policy_chosen": pc.tolist(), "policy_rejected": pr.tolist(), "grads": grads})
    return out


def main():
    src = open(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "-" else sys.stdin
    req = json.load(src)
    cases = {}
    for c in req.get("make", []):
        cases[c["name"]] = make(c)
    for c in req.get("verify", []):
        cases[c["name"]] = verify(c)
    for c in req.get("dpo_grads", []):
        cases[c["name"]] = dpo_grads(c)
    json.dump({"cases": cases, "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}, sys.stdout)


if __name__ == "__main__":
    main()
