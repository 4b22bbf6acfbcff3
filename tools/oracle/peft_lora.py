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
hide the adapter); save_pretrained(adapter_dir); then the base is reloaded
and the adapter loaded with PeftModel.from_pretrained, and the sequences
scored in float32 as hf_models.completion_logps does ("logps",
"token_logps"), with "base_logps" of the base alone.

check: {"name", "base_dir", "adapter_dir", "seqs", "prompt_lens"}: load the
base (float32, eager) and PeftModel.from_pretrained(base, adapter_dir) and
score ("logps"); "n_lora" counts the LoRA tensors PEFT loaded.

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
    out = {"n_lora": sum(1 for n, _ in ref.named_parameters() if "lora_" in n)}
    out["logps"], out["token_logps"] = completion_logps(ref, check["seqs"], check["prompt_lens"])
    return out


def main():
    req = json.load(sys.stdin)
    cases = {}
    for c in req.get("make", []):
        cases[c["name"]] = make(c)
    for c in req.get("verify", []):
        cases[c["name"]] = verify(c)
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    json.dump({"cases": cases, "versions": versions}, sys.stdout)


if __name__ == "__main__":
    main()
