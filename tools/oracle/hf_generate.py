"""transformers oracle for dpo's greedy decoding (issue 15).

Reads a JSON request on stdin and writes a JSON answer on stdout; one
process serves every case of a Go test.

Request:

    {"cases": [case, ...]}

case:

    {"name": str, "dir": str, "seed": int,
     "config": {"model_type": "llama", ...},    # AutoConfig.for_model kwargs
     "prompts": [[token, ...], ...],            # one batch, lengths may differ
     "max_new_tokens": int, "eos_token_id": int, "pad_token_id": int}

Each case: a random checkpoint made as hf_models.py makes one
(AutoModelForCausalLM.from_config under torch.manual_seed(seed), eager
attention, float32, every parameter redrawn by hf_models.randomize),
saved with save_pretrained(dir), reloaded with from_pretrained(dir,
dtype=float32, attn_implementation="eager"), then

    model.generate(input_ids, attention_mask, do_sample=False, num_beams=1,
                   max_new_tokens=..., eos_token_id=..., pad_token_id=...)

on the prompts as ONE left-padded batch (transformers' convention for
decoder-only generation; position ids come from attention_mask.cumsum).

Answer: {"cases": {name: {"tokens": [[new token, ...] per prompt, cut after
the first eos], "margins": [[top1 - top2 logit at each step] per prompt]}},
"versions": {...}}. The margins let a test tell a real divergence from a
float tie.

Instead of "prompts", a case may give "tokenizer" (a directory with
tokenizer.json and tokenizer_config.json, loaded with AutoTokenizer),
"texts" (strings, encoded with tokenizer(text).input_ids, special tokens
added as TRL adds them) and "chats" (message lists, rendered with
apply_chat_template(add_generation_prompt=True, tokenize=False) and encoded
without special tokens): the prompts are the texts' ids then the chats',
and the answer's "prompts" holds them.

A case may also ask for sampling warpers:

    "warps": [{"temperature": float, "top_k": int, "top_p": float, "min_p": float}, ...]

For each, generate(do_sample=True, max_new_tokens=1, those settings,
output_logits=True, output_scores=True) runs on the same batch and the
answer's "warps" list holds, per prompt, the raw first-step logits
("logits") and the scores after generate's logits processors ("scores":
the warped logits, -inf where a token was removed, as null). softmax(scores)
is the distribution transformers draws the first token from.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

from hf_models import randomize  # noqa: E402

transformers.logging.set_verbosity_error()
torch.use_deterministic_algorithms(True)
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def run(case):
    kwargs = dict(case["config"])
    model_type = kwargs.pop("model_type")
    config = AutoConfig.for_model(model_type, **kwargs)
    torch.manual_seed(case["seed"])
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32)
    randomize(model, case["seed"])
    model.save_pretrained(case["dir"])
    model = AutoModelForCausalLM.from_pretrained(case["dir"], dtype=torch.float32, attn_implementation="eager")
    model.eval()
    prompts = case.get("prompts")
    if case.get("tokenizer"):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(case["tokenizer"])
        prompts = [tok(t).input_ids for t in case.get("texts") or []]
        for msgs in case.get("chats") or []:
            text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            prompts.append(tok(text, add_special_tokens=False).input_ids)
    pad, eos = case["pad_token_id"], case["eos_token_id"]
    n = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), n), pad, dtype=torch.long)
    mask = torch.zeros(len(prompts), n, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, n - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, n - len(p):] = 1
    with torch.no_grad():
        out = model.generate(
            input_ids=ids, attention_mask=mask, do_sample=False, num_beams=1,
            max_new_tokens=case["max_new_tokens"], min_new_tokens=0, eos_token_id=eos, pad_token_id=pad,
            output_scores=True, return_dict_in_generate=True,
            temperature=None, top_k=None, top_p=None, repetition_penalty=None)
    new = out.sequences[:, n:]
    tokens, margins = [], []
    for i in range(len(prompts)):
        row, mg = [], []
        for t in range(new.shape[1]):
            tok = int(new[i, t])
            top = torch.topk(out.scores[t][i].float(), 2).values
            mg.append(float(top[0] - top[1]))
            row.append(tok)
            if tok == eos:
                break
        tokens.append(row)
        margins.append(mg)
    res = {"tokens": tokens, "margins": margins, "prompts": prompts}
    warps = []
    for w in case.get("warps") or []:
        with torch.no_grad():
            o = model.generate(
                input_ids=ids, attention_mask=mask, do_sample=True, num_beams=1, max_new_tokens=1,
                eos_token_id=eos, pad_token_id=pad, output_scores=True, output_logits=True,
                return_dict_in_generate=True, repetition_penalty=None,
                temperature=w.get("temperature", 1.0), top_k=w.get("top_k", 0),
                top_p=w.get("top_p", 1.0), min_p=w.get("min_p"))
        warps.append({
            "logits": o.logits[0].float().tolist(),
            "scores": [[None if v == float("-inf") else v for v in row] for row in o.scores[0].float().tolist()],
        })
    if warps:
        res["warps"] = warps
    return res


def main():
    req = json.load(sys.stdin)
    res = {c["name"]: run(c) for c in req["cases"]}
    json.dump({"cases": res, "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}, sys.stdout)


if __name__ == "__main__":
    main()
