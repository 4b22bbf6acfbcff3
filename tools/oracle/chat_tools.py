"""transformers' apply_chat_template with tools and tool calls, as an oracle
for dpo-tokenize's conversational rendering (system column, tool_calls,
tools column, flattened text parts).

Reads one JSON request on stdin:

    {"tokenizer": "DIR",      # tokenizer.json + tokenizer_config.json
     "cases": [{"id": "x", "prompt": [messages], "chosen": [messages],
                "rejected": [messages], "tools": [schemas] | null}, ...]}

and writes {"versions": {...}, "results": {ID: {"prompt": [ids],
"prompt_chosen": [ids], "prompt_rejected": [ids]}}}: the ids of
tokenizer(apply_chat_template(prompt, tools=tools, add_generation_prompt=True,
tokenize=False), add_special_tokens=False) and of prompt+chosen and
prompt+rejected rendered without the generation prompt, as TRL 1.16's
DPOTrainer renders conversational pairs (it forwards a "tools" column).
Messages are passed to the template exactly as given (content None
included). Offline and CPU only.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
import sys

import transformers
from transformers import AutoTokenizer


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def main():
    req = json.load(sys.stdin)
    tok = AutoTokenizer.from_pretrained(req["tokenizer"])
    out = {}
    for c in req["cases"]:
        tools = c.get("tools")
        p = tok.apply_chat_template(c["prompt"], tools=tools, tokenize=False, add_generation_prompt=True)
        pc = tok.apply_chat_template(c["prompt"] + c["chosen"], tools=tools, tokenize=False)
        pr = tok.apply_chat_template(c["prompt"] + c["rejected"], tools=tools, tokenize=False)
        out[c["id"]] = {"prompt": ids(tok, p), "prompt_chosen": ids(tok, pc), "prompt_rejected": ids(tok, pr),
                        "text_chosen": pc}
    json.dump({"versions": {"transformers": transformers.__version__}, "results": out}, sys.stdout)


if __name__ == "__main__":
    main()
