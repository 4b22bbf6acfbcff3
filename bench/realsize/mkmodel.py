"""Writes a randomly initialised checkpoint (float32, transformers'
from_config + save_pretrained) and prints the parameters a token's
forward multiplies by: all of them, less the input embedding when it is
not tied to the head (a lookup, no FLOPs).

  qwen:  the Qwen2.5-0.5B shape (hidden 896, 14 heads, 2 KV heads,
         intermediate 4864, tied 151,936 vocabulary), LAYERS layers
         (24: the full model, 494M parameters);
  llama: a ~100M Llama (hidden 768, 12 heads, intermediate 2048, untied
         32,000 vocabulary), LAYERS layers (12: 110M parameters).

    .oracle-venv/bin/python bench/realsize/mkmodel.py qwen|llama LAYERS OUTDIR
"""
import sys

import torch
import transformers

kind, layers, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if kind == "qwen":
    cfg = transformers.Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=layers,
                                   num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                                   rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                                   bos_token_id=151643, eos_token_id=151643)
elif kind == "llama":
    cfg = transformers.LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=layers,
                                   num_attention_heads=12, num_key_value_heads=12, max_position_embeddings=4096,
                                   rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
else:
    sys.exit("model: qwen or llama")
torch.manual_seed(0)
m = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
m.save_pretrained(out, safe_serialization=True)
n = sum(p.numel() for p in m.parameters())
if not cfg.tie_word_embeddings:
    n -= m.get_input_embeddings().weight.numel()
print(n)
