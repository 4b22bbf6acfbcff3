"""transformers' AutoTokenizer as an oracle for pkg/tokenizer's directory loading.

Reads one JSON request on stdin:

    {"dirs": {"NAME": "DIR", ...},   # DIR holds tokenizer.json + tokenizer_config.json (+ config.json)
     "texts": ["...", ...]}

and writes one JSON answer on stdout:

    {"versions": {...},
     "results": {NAME: {"class": "LlamaTokenizer",
                        "encodings": [{"ids": [...], "ids_special": [...], "decoded": "...",
                                       "decoded_skip": "..."}, ...]}}}

ids: tok(text, add_special_tokens=False)["input_ids"], what TRL's chat
template path and dpo-tokenize's completions use; ids_special: with
add_special_tokens=True, what TRL's text path (_tokenize) uses; decoded and
decoded_skip: tok.decode(ids_special) without and with skip_special_tokens.

Offline and CPU only.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
import sys

import tokenizers
import transformers
from transformers import AutoTokenizer


def main():
    req = json.load(sys.stdin)
    out = {
        "versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
        "results": {},
    }
    for name, d in sorted(req["dirs"].items()):
        tok = AutoTokenizer.from_pretrained(d)
        encs = []
        for text in req["texts"]:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            ids_special = tok(text)["input_ids"]
            encs.append(
                {
                    "ids": ids,
                    "ids_special": ids_special,
                    "decoded": tok.decode(ids_special),
                    "decoded_skip": tok.decode(ids_special, skip_special_tokens=True),
                }
            )
        out["results"][name] = {"class": type(tok).__name__, "encodings": encs}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
