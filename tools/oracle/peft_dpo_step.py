"""PEFT + torch autograd oracle for one LoRA DPO step of dpo-train (issue 12).

Reads a JSON request {"cases": [case, ...]} on stdin, writes
{"cases": {name: answer}, "versions": {...}} on stdout. case:

    {"name": str,
     "base_dir": str,            # HF checkpoint (float32)
     "adapter_dir": str,         # the adapter the step starts from
     "trained_dir": str | null,  # an adapter dpo-train wrote: scored in PEFT
     "pairs": [{"prompt": [...], "chosen": [...], "rejected": [...],
                "ref_chosen": float, "ref_rejected": float}, ...],
     "beta": float, "lr": float, "weight_decay": float,
     "adam_beta1": float, "adam_beta2": float, "adam_epsilon": float}

The base is loaded in float32 with eager attention and
PeftModel.from_pretrained(base, adapter_dir, is_trainable=True) (lora
dropout must be 0). The policy log-prob of a completion is the sum of
log_softmax(logits)[next token] over the completion tokens of
prompt+completion, computed as one right-padded batch; the loss is TRL's
sigmoid DPO loss -logsigmoid(beta*((pc-rc)-(pr-rr))) averaged over the
pairs. loss.backward() gives the adapter gradients (and those of the
modules_to_save copies); one torch.optim.AdamW step (the given
hyper-parameters, no clipping; weight decay grouped as transformers'
Trainer.get_decay_parameter_names does) gives the updated adapter.

answer: {"loss": float, "grads": {peft_key: [flat floats]},
"updated": {peft_key: [...]}, "trained_logps": [[chosen, rejected], ...]
(the pairs scored by base + trained_dir, when given)}.
PEFT keys are the adapter_model.safetensors names
("base_model.model.<module>.lora_A.weight", modules_to_save parameters
"base_model.model.<parameter>").
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import peft  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from peft import PeftModel  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()
torch.use_deterministic_algorithms(True)
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
torch.manual_seed(0)


def completion_logps(model, pairs):
    """[2P] sums: chosen rows then rejected rows."""
    seqs, starts = [], []
    for side in ("chosen", "rejected"):
        for p in pairs:
            seqs.append(p["prompt"] + p[side])
            starts.append(len(p["prompt"]))
    n = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), n, dtype=torch.long)
    mask = torch.zeros(len(seqs), n, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]  # [2P, n-1]
    pos = torch.arange(1, n)[None, :]
    start = torch.tensor(starts)[:, None]
    length = mask.sum(1)[:, None]
    keep = (pos >= start) & (pos < length)
    return (logp * keep).sum(1)


def key(name):
    # "base_model.model.<module>.lora_A.default.weight" -> saved name;
    # "base_model.model.<module>.modules_to_save.default.weight" -> "base_model.model.<module>.weight"
    return name.replace(".modules_to_save.default.", ".").replace(".default.", ".")


def step(req):
    pairs = req["pairs"]
    base = AutoModelForCausalLM.from_pretrained(req["base_dir"], dtype=torch.float32, attn_implementation="eager")
    model = PeftModel.from_pretrained(base, req["adapter_dir"], is_trainable=True)
    # eval mode: no dropout in the base (GPT-2 configs set attn/resid/embd_pdrop),
    # as TRL's disable_dropout=True; gradients flow all the same.
    model.eval()
    params = {key(n): p for n, p in model.named_parameters() if p.requires_grad}
    saved = [n for n, p in model.named_parameters() if p.requires_grad and ".modules_to_save." in n]
    assert params and all("lora_" in k for k in params if k not in map(key, saved)), sorted(params)
    lp = completion_logps(model, pairs)
    P = len(pairs)
    rc = torch.tensor([p["ref_chosen"] for p in pairs], dtype=torch.float32)
    rr = torch.tensor([p["ref_rejected"] for p in pairs], dtype=torch.float32)
    logits = (lp[:P] - rc) - (lp[P:] - rr)
    loss = -F.logsigmoid(req["beta"] * logits).mean()
    loss.backward()
    out = {"loss": float(loss), "grads": {k: p.grad.flatten().tolist() for k, p in params.items()}}
    # Weight decay as transformers' Trainer groups it (no decay for biases and norms).
    decay = set(map(key, transformers.Trainer.get_decay_parameter_names(None, model)))
    groups = [{"params": [p for k, p in params.items() if k in decay], "weight_decay": req["weight_decay"]},
              {"params": [p for k, p in params.items() if k not in decay], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=req["lr"], betas=(req["adam_beta1"], req["adam_beta2"]),
                            eps=req["adam_epsilon"])
    opt.step()
    out["updated"] = {k: p.detach().flatten().tolist() for k, p in params.items()}
    if req.get("trained_dir"):
        base = AutoModelForCausalLM.from_pretrained(req["base_dir"], dtype=torch.float32, attn_implementation="eager")
        trained = PeftModel.from_pretrained(base, req["trained_dir"])
        trained.eval()
        with torch.no_grad():
            t = completion_logps(trained, pairs)
        out["trained_logps"] = [[float(t[i]), float(t[P + i])] for i in range(P)]
    return out


def main():
    req = json.load(sys.stdin)
    out = {"cases": {c["name"]: step(c) for c in req["cases"]}}
    out["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
