"""PEFT oracle for dpo's LoRA adapters (issue 12).

Reads a JSON request on stdin and writes a JSON answer on stdout; one
process serves every case of a Go test.

Request:

    {"make":   [case, ...],    # base checkpoint + PEFT adapter to create and score
     "verify": [check, ...]}   # base + adapter written by dpo to load in PEFT and score

case:

    {"name": str, "base_dir": str, "adapter_dir": str, "seed": int,
     "config": {"model_type": "llama", ...},      # AutoConfig.for_model kwargs
     "lora": {"r": int, "lora_alpha": float, "target_modules": [...] | "all-linear",
              "use_rslora": bool},
     "seqs": [[token, ...], ...], "prompt_lens": [int, ...]}

Each case: a random transformers checkpoint as hf_models.py makes it
(every parameter redrawn) saved to base_dir; get_peft_model(model,
LoraConfig(task_type="CAUSAL_LM", lora_dropout=0, **lora)); every lora_A
and lora_B redrawn N(0, 0.3) (PEFT's own init leaves B at zero, which would
hide the adapter), N(0, 0.3) added to every modules_to_save copy; save_pretrained(adapter_dir); then the base is reloaded
and the adapter loaded with PeftModel.from_pretrained, and the sequences
scored in float32 as hf_models.completion_logps does ("logps",
"token_logps"), with "base_logps" of the base alone.

check: {"name", "base_dir", "adapter_dir", "seqs", "prompt_lens"}: load the
base (float32, eager) and PeftModel.from_pretrained(base, adapter_dir) and
score ("logps"); "n_lora" counts the LoRA tensors PEFT loaded, "n_saved"
the modules_to_save parameters.

dropout: {"name", "base_dir", "adapter_dir", "seqs" (all of one length T),
"prompt_lens", "p", "keep": {module: [B*T*in floats 0/1]}}: LoRA dropout
with the same masks as dpo drew. The adapter is loaded with
PeftModel.from_pretrained(is_trainable=True); every lora_dropout module
must be PEFT's torch.nn.Dropout with the adapter_config.json's p. In
training mode that module computes x·bernoulli(1-p)/(1-p) (checked here on
a tensor of ones); a forward hook replaces its random mask by dpo's (the
output becomes x·keep/(1-p)), so PEFT places the dropout (the input of
lora_A only, the base path untouched). The rest of the model runs in eval
mode (no base dropout). Answer: "logp_sum" (the completion log-probs
summed over the batch, with autograd) and "grads" {peft_key: [...]}: the
gradient of logp_sum with respect to every lora_A and lora_B.

Answer: {"cases": {name: {...}}, "versions": {...}}.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peft  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

from hf_models import completion_logps, from_pretrained, load_kwargs, randomize  # noqa: E402

transformers.logging.set_verbosity_error()
torch.use_deterministic_algorithms(True)
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def load_base(d):
    m = from_pretrained(d)
    m.eval()
    return m


def make(case):
    kw = dict(case["config"])
    model_type = kw.pop("model_type")
    config = AutoConfig.for_model(model_type, **kw)
    torch.manual_seed(case["seed"])
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, **load_kwargs(config))
    randomize(model, case["seed"])
    model.save_pretrained(case["base_dir"])
    pm = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, **case["lora"]))
    g = torch.Generator().manual_seed(case["seed"] + 1)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif ".modules_to_save." in name:  # trained copies: move them off the base
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    pm.save_pretrained(case["adapter_dir"])
    base = load_base(case["base_dir"])
    out = {}
    out["base_logps"], _ = completion_logps(base, case["seqs"], case["prompt_lens"])
    ref = PeftModel.from_pretrained(base, case["adapter_dir"])
    ref.eval()
    out["logps"], out["token_logps"] = completion_logps(ref, case["seqs"], case["prompt_lens"])
    return out


def verify(check):
    base = load_base(check["base_dir"])
    ref = PeftModel.from_pretrained(base, check["adapter_dir"])
    ref.eval()
    out = {"n_lora": sum(1 for n, _ in ref.named_parameters() if "lora_" in n),
           "n_saved": sum(1 for n, _ in ref.named_parameters() if ".modules_to_save." in n)}
    out["logps"], out["token_logps"] = completion_logps(ref, check["seqs"], check["prompt_lens"])
    return out


def dropout(check):
    p = check["p"]
    base = load_base(check["base_dir"])
    model = PeftModel.from_pretrained(base, check["adapter_dir"], is_trainable=True)
    model.eval()
    ids = torch.tensor(check["seqs"], dtype=torch.long)
    B, T = ids.shape
    ones = torch.nn.Dropout(p).train()(torch.ones(4096))
    vals = set(round(float(v), 6) for v in ones.unique())
    assert vals <= {0.0, round(1 / (1 - p), 6)} and len(vals) == 2, vals
    hooked = 0
    for name, mod in model.named_modules():
        if not hasattr(mod, "lora_dropout") or "default" not in mod.lora_dropout:
            continue
        d = mod.lora_dropout["default"]
        assert isinstance(d, torch.nn.Dropout) and abs(d.p - p) < 1e-12, (name, d)
        module = name.removeprefix("base_model.model.")
        keep = torch.tensor(check["keep"][module], dtype=torch.float32).reshape(B, T, -1)

        def hook(m, inputs, output, keep=keep):
            # nn.Dropout(train): input * mask / (1-p); dpo's mask instead of torch's.
            return inputs[0] * keep / (1 - m.p)

        d.train()
        d.register_forward_hook(hook)
        hooked += 1
    assert hooked == len(check["keep"]), (hooked, sorted(check["keep"]))
    logits = model(input_ids=ids).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
    keep_tok = torch.arange(1, T)[None, :] >= torch.tensor(check["prompt_lens"])[:, None]
    total = (logp * keep_tok).sum()
    total.backward()
    grads = {n.replace(".default.", "."): q.grad.flatten().tolist() for n, q in model.named_parameters() if q.requires_grad}
    return {"logp_sum": float(total), "grads": grads, "n_lora": hooked}


def main():
    req = json.load(sys.stdin)
    cases = {}
    for c in req.get("make", []):
        cases[c["name"]] = make(c)
    for c in req.get("verify", []):
        cases[c["name"]] = verify(c)
    for c in req.get("dropout", []):
        cases[c["name"]] = dropout(c)
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    json.dump({"cases": cases, "versions": versions}, sys.stdout)


if __name__ == "__main__":
    main()
