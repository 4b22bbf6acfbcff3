"""transformers oracle for dpo's sampling warpers (pkg/sample).

Reads a JSON request on stdin and writes a JSON answer on stdout:

    {"logits": [[float, ...], ...],                  # next-token logits, one vector per row
     "warps": [{"temperature": float, "top_k": int, "top_p": float, "min_p": float}, ...]}

For each warp, the logits processors are the ones generate(do_sample=True)
builds: GenerationMixin._get_logits_processor of a tiny randomly
initialised Llama (never run; it is there so that the list, its order and
its min_tokens_to_keep come from transformers' own code), given
GenerationConfig(do_sample=True, temperature, top_k, top_p, min_p) after
_prepare_generation_config. Today that is TemperatureLogitsWarper,
TopKLogitsWarper, TopPLogitsWarper, MinPLogitsWarper, in that order, each
only when its setting is not off (temperature 1, top_k 0, top_p 1, min_p 0
or null). The list is applied to all the rows at once, as float32 (the
dtype generate's scores have).

Answer:

    {"warps": [{"processors": [class name, ...],
                "scores": [[warped logit, or null where -inf (removed)] per row]}, ...],
     "versions": {...}}

softmax(scores) is the distribution transformers draws the next token from.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig  # noqa: E402

transformers.logging.set_verbosity_error()
torch.set_num_threads(1)


def main():
    req = json.load(sys.stdin)
    logits = torch.tensor(req["logits"], dtype=torch.float32)
    config = AutoConfig.for_model("llama", vocab_size=logits.shape[1], hidden_size=8, intermediate_size=8,
                                  num_hidden_layers=1, num_attention_heads=1, num_key_value_heads=1, head_dim=8)
    model = AutoModelForCausalLM.from_config(config)
    input_ids = torch.zeros((logits.shape[0], 1), dtype=torch.long)
    out = []
    for w in req["warps"]:
        min_p = w.get("min_p")
        gc = GenerationConfig(do_sample=True, num_beams=1, temperature=float(w.get("temperature", 1.0)),
                              top_k=int(w.get("top_k", 0)), top_p=float(w.get("top_p", 1.0)),
                              min_p=float(min_p) if min_p else None)
        prepared = model._prepare_generation_config(gc)
        if isinstance(prepared, tuple):
            prepared = prepared[0]
        procs = model._get_logits_processor(generation_config=prepared, input_ids_seq_length=1, device="cpu",
                                            model_kwargs={})
        scores = procs(input_ids, logits.clone())
        out.append({
            "processors": [type(p).__name__ for p in procs],
            "scores": [[None if v == float("-inf") else v for v in row] for row in scores.tolist()],
        })
    json.dump({"warps": out, "versions": {"torch": torch.__version__, "transformers": transformers.__version__}},
              sys.stdout)


if __name__ == "__main__":
    main()
