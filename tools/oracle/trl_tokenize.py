"""TRL's own DPO dataset preparation, as an oracle for dpo-tokenize.

Reads one JSON request on stdin:

    {"tokenizers": {"qwen3": "DIR", ...},           # DIR holds tokenizer.json + tokenizer_config.json
     "datasets": [{"name": "std", "rows": [{"prompt": ..., "chosen": ..., "rejected": ...}, ...]}, ...],
     "truncations": [{"max_length": 16, "truncation_mode": "keep_start"}, ...]}

and writes one JSON answer on stdout:

    {"versions": {...}, "defaults": {DPOConfig's max_length, truncation_mode, and whether it has
                                      max_prompt_length / max_completion_length and their defaults},
     "results": {TOKENIZER: {DATASET: {
         "none": [{"prompt_ids": [...], "chosen_ids": [...], "rejected_ids": [...]}, ...],
         "16/keep_start": [null | {"chosen_prompt": [...], "chosen": [...],
                                   "rejected_prompt": [...], "rejected": [...]}, ...]}}}}

"none" is DPOTrainer._prepare_dataset with max_length=None, row by row. For
every truncation, _prepare_dataset runs again with that DPOConfig (it drops
rows whose prompt fills max_length under keep_start: those rows are null),
and each kept row goes through DataCollatorForPreference, which truncates each
prompt+completion sequence; completion_mask splits the kept ids back into the
prompt part and the completion part, separately for chosen and rejected.

Nothing here re-implements TRL: the functions called are TRL's
(DPOTrainer._prepare_dataset, which runs extract_prompt, the EOS appending,
the chat template through _tokenize and the common-prefix split, and
DataCollatorForPreference). _prepare_dataset only reads self._tokenizer, so
it is called on a stand-in object instead of a trainer with a model.

Offline and CPU only: HF_HUB_OFFLINE=1, no model, no network.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import dataclasses
import json
import logging
import sys
import tempfile
import types
import warnings

import datasets
import datasets.arrow_dataset
import datasets.fingerprint
import transformers
import trl
from datasets import Dataset
from transformers import AutoTokenizer
from trl import DPOConfig
from trl.trainer.dpo_trainer import DataCollatorForPreference, DPOTrainer


def prepare(tok, rows, args):
    """Runs TRL's DPOTrainer._prepare_dataset; returns the rows by index (None: dropped)."""
    ds = Dataset.from_list([dict(r, _row=i) for i, r in enumerate(rows)])
    stub = types.SimpleNamespace(_tokenizer=tok)
    out = DPOTrainer._prepare_dataset(stub, ds, tok, args, "oracle")
    got = [None] * len(rows)
    for ex in out:
        got[ex["_row"]] = ex
    return got


def main():
    req = json.load(sys.stdin)
    # datasets fingerprints every map() by pickling its arguments, here the
    # whole tokenizer (seconds per call). Caching is off, so a random
    # fingerprint changes nothing but the time.
    def random_fingerprint(*args, **kwargs):
        return datasets.fingerprint.generate_random_fingerprint()

    datasets.fingerprint.update_fingerprint = random_fingerprint
    datasets.arrow_dataset.update_fingerprint = random_fingerprint
    datasets.disable_progress_bars()
    datasets.disable_caching()
    transformers.logging.set_verbosity_error()
    logging.getLogger("trl").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    out_dir = tempfile.mkdtemp(prefix="trl_tokenize_")

    def config(max_length, mode):
        return DPOConfig(output_dir=out_dir, max_length=max_length, truncation_mode=mode, report_to="none", use_cpu=True)

    results = {}
    for tname, tdir in req["tokenizers"].items():
        tok = AutoTokenizer.from_pretrained(tdir)
        if tok.pad_token is None:  # as DPOTrainer.__init__ does
            tok.pad_token = tok.eos_token
        per_ds = {}
        for d in req["datasets"]:
            rows = d["rows"]
            if tok.chat_template is None and d["name"].startswith("conversational"):
                continue  # TRL cannot prepare these without a chat template
            res = {}
            base = prepare(tok, rows, config(None, "keep_start"))
            res["none"] = [
                {k: ex[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for ex in base
            ]
            for tr in req.get("truncations", []):
                n, mode = tr["max_length"], tr["truncation_mode"]
                kept = prepare(tok, rows, config(n, mode))
                coll = DataCollatorForPreference(pad_token_id=tok.pad_token_id, max_length=n, truncation_mode=mode)
                cases = []
                for ex in kept:
                    if ex is None:
                        cases.append(None)
                        continue
                    b = coll([{k: ex[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")}])
                    parts = {}
                    for i, name in enumerate(("chosen", "rejected")):
                        m = b["attention_mask"][i].tolist()
                        ids = b["input_ids"][i].tolist()[: sum(m)]
                        cm = b["completion_mask"][i].tolist()[: sum(m)]
                        parts[name + "_prompt"] = [t for t, c in zip(ids, cm) if c == 0]
                        parts[name] = [t for t, c in zip(ids, cm) if c == 1]
                    cases.append(parts)
                res["%d/%s" % (n, mode)] = cases
            per_ds[d["name"]] = res
        results[tname] = per_ds
    fields = {f.name: f.default for f in dataclasses.fields(DPOConfig)}
    defaults = {
        "max_length": fields["max_length"],
        "truncation_mode": fields["truncation_mode"],
        "has_max_prompt_length": "max_prompt_length" in fields,
        "has_max_completion_length": "max_completion_length" in fields,
        "max_prompt_length": fields.get("max_prompt_length"),
        "max_completion_length": fields.get("max_completion_length"),
    }
    json.dump(
        {
            "defaults": defaults,
            "versions": {"trl": trl.__version__, "transformers": transformers.__version__, "datasets": datasets.__version__},
            "results": results,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
