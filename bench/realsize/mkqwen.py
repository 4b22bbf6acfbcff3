"""Writes a randomly initialised Qwen2.5-0.5B-shaped checkpoint (float32,
transformers' from_config + save_pretrained; tied embeddings).

    .oracle-venv/bin/python bench/realsize/mkqwen.py OUTDIR LAYERS
"""
import sys, torch, transformers
layers = int(sys.argv[2])
cfg = transformers.Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=layers,
    num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
    tie_word_embeddings=True, torch_dtype="float32", bos_token_id=151643, eos_token_id=151643)
torch.manual_seed(0)
m = transformers.AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32)
m.save_pretrained(sys.argv[1], safe_serialization=True)
print(sum(p.numel() for p in m.parameters()))
