"""Create the small reference checkpoints and golden log-probs under
testdata/models/<case>/ (run from anywhere with Debian's python3-torch):

    /usr/bin/python3 tools/torchref/make_golden.py [OUTDIR]

Each case gets config.json, model.safetensors (written by safetensors_np,
weights from numpy's default_rng seeded per case) and golden.json:

    {"case", "description", "weights_dtype", "compute_dtype": "float64",
     "sequences": [{"input_ids", "prompt_len", "logp", "token_logps"}],
     "last_logits": {"sequence", "position", "values"}}

logp is the summed completion log-prob of logps.completion_logps, computed in
float64 from the stored weights (float32 or bf16, upcast exactly), so a
float32 implementation should match it to ~1e-5 relative. token_logps lists
the log-prob of each completion token t = prompt_len..len-1. last_logits is
the full logits row at the last position of one sequence, for debugging.

Sizes are kept tiny (hidden 32, 2 layers, 4 heads, vocab 300) so all cases
fit in about 1 MB; weights use larger-than-HF scales (1/sqrt(fan_in),
embeddings std 0.4, norm scales 1 ± 0.2, biases std 0.1) so the log-probs are
far from uniform and every component visibly matters.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logps  # noqa: E402
import model  # noqa: E402
import safetensors_np  # noqa: E402

V, H, I, L, NH = 300, 32, 40, 2, 4

LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "vocab_size": V, "hidden_size": H, "intermediate_size": I,
    "num_hidden_layers": L, "num_attention_heads": NH, "num_key_value_heads": NH,
    "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "rope_scaling": None, "tie_word_embeddings": True, "hidden_act": "silu",
    "initializer_range": 0.02, "attention_bias": False, "attention_dropout": 0.0,
    "mlp_bias": False, "pretraining_tp": 1, "bos_token_id": 1, "eos_token_id": 2,
    "torch_dtype": "float32", "transformers_version": "4.46.0", "use_cache": True,
}


def variant(base, **kw):
    c = dict(base)
    c.update(kw)
    return c


CASES = {
    "llama_tied": ("Llama, tied embeddings, MHA", variant(LLAMA)),
    "llama_untied": ("Llama, separate lm_head, GQA", variant(LLAMA, tie_word_embeddings=False, num_key_value_heads=2)),
    "llama_gqa": ("Llama, 4 query heads sharing 2 key/value heads", variant(LLAMA, num_key_value_heads=2)),
    "llama3_rope": ("Llama 3 rope_scaling: the 4 RoPE frequencies fall in the high, medium and low bands",
                    variant(LLAMA, rope_theta=10000.0, num_key_value_heads=2, eos_token_id=[2, 3], rope_scaling={
                        "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                        "original_max_position_embeddings": 64, "rope_type": "llama3"})),
    "mistral": ("Mistral (GQA, sliding_window far above the sequence lengths)",
                variant(LLAMA, architectures=["MistralForCausalLM"], model_type="mistral",
                        num_key_value_heads=2, sliding_window=4096,
                        max_position_embeddings=32768)),
    "qwen2": ("Qwen2: q/k/v biases (no o_proj bias), GQA, rope_theta 1e6",
              variant({k: v for k, v in LLAMA.items() if k not in ("attention_bias", "mlp_bias", "pretraining_tp")},
                      architectures=["Qwen2ForCausalLM"], model_type="qwen2", num_key_value_heads=2,
                      rope_theta=1000000.0, rms_norm_eps=1e-6, use_sliding_window=False, sliding_window=32768,
                      max_window_layers=2, bos_token_id=300, eos_token_id=301)),
    "qwen3": ("Qwen3: q_norm/k_norm per head before RoPE, head_dim 16 != hidden/heads, GQA",
              variant({k: v for k, v in LLAMA.items() if k not in ("mlp_bias", "pretraining_tp")},
                      architectures=["Qwen3ForCausalLM"], model_type="qwen3", num_key_value_heads=2,
                      head_dim=16, rope_theta=1000000.0, rms_norm_eps=1e-6, use_sliding_window=False,
                      sliding_window=None, max_window_layers=2, bos_token_id=300, eos_token_id=301)),
    "gpt2": ("GPT-2: LayerNorm, learned positions, gelu_new, Conv1D, tied; names without the "
             "transformer. prefix and attn.bias buffers, as the original gpt2 files",
             {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V,
              "n_embd": H, "n_layer": L, "n_head": NH, "n_positions": 40, "n_ctx": 40, "n_inner": 64,
              "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "initializer_range": 0.02,
              "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1, "scale_attn_weights": True,
              "bos_token_id": 2, "eos_token_id": 2, "torch_dtype": "float32",
              "transformers_version": "4.46.0"}),
    "llama_bf16": ("Llama with BF16 weights (golden from the bf16 values upcast)",
                   variant(LLAMA, num_key_value_heads=2, torch_dtype="bfloat16")),
}

# (length, prompt_len) of the golden sequences.
SEQS = [(2, 1), (7, 3), (13, 9), (24, 5), (40, 30)]


def llama_weights(c, rng):
    cfg = model.norm_config(c)
    hd, nKV = cfg["hd"], cfg["nKV"]
    q, kv = NH * hd, nKV * hd
    w = {}

    def lin(name, out_f, in_f):
        w[name] = rng.standard_normal((out_f, in_f)) / np.sqrt(in_f)

    def scale(name, n):
        w[name] = 1.0 + 0.2 * rng.standard_normal(n)

    def bias(name, n):
        w[name] = 0.1 * rng.standard_normal(n)

    w["model.embed_tokens.weight"] = 0.4 * rng.standard_normal((V, H))
    for i in range(L):
        p = "model.layers.%d." % i
        lin(p + "self_attn.q_proj.weight", q, H)
        lin(p + "self_attn.k_proj.weight", kv, H)
        lin(p + "self_attn.v_proj.weight", kv, H)
        lin(p + "self_attn.o_proj.weight", H, q)
        if cfg["qkv_bias"]:
            bias(p + "self_attn.q_proj.bias", q)
            bias(p + "self_attn.k_proj.bias", kv)
            bias(p + "self_attn.v_proj.bias", kv)
        if cfg["qk_norm"]:
            scale(p + "self_attn.q_norm.weight", hd)
            scale(p + "self_attn.k_norm.weight", hd)
        lin(p + "mlp.gate_proj.weight", I, H)
        lin(p + "mlp.up_proj.weight", I, H)
        lin(p + "mlp.down_proj.weight", H, I)
        scale(p + "input_layernorm.weight", H)
        scale(p + "post_attention_layernorm.weight", H)
    scale("model.norm.weight", H)
    if not cfg["tied"]:
        lin("lm_head.weight", V, H)
    return w


def gpt2_weights(c, rng):
    cfg = model.norm_config(c)
    P, In = cfg["P"], cfg["I"]
    w = {"wte.weight": 0.4 * rng.standard_normal((V, H)), "wpe.weight": 0.5 * rng.standard_normal((P, H))}
    for i in range(L):
        p = "h.%d." % i
        for ln in ("ln_1", "ln_2"):
            w[p + ln + ".weight"] = 1.0 + 0.2 * rng.standard_normal(H)
            w[p + ln + ".bias"] = 0.1 * rng.standard_normal(H)
        for name, fin, fout in (("attn.c_attn", H, 3 * H), ("attn.c_proj", H, H),
                                ("mlp.c_fc", H, In), ("mlp.c_proj", In, H)):
            w[p + name + ".weight"] = rng.standard_normal((fin, fout)) / np.sqrt(fin)  # Conv1D [in, out]
            w[p + name + ".bias"] = 0.1 * rng.standard_normal(fout)
        # Causal-mask buffer that old GPT-2 checkpoints carry; loaders ignore it.
        w[p + "attn.bias"] = np.tril(np.ones((P, P)))[None, None]
    w["ln_f.weight"] = 1.0 + 0.2 * rng.standard_normal(H)
    w["ln_f.bias"] = 0.1 * rng.standard_normal(H)
    return w


def main(outdir):
    for seed, (case, (desc, c)) in enumerate(sorted(CASES.items())):
        rng = np.random.default_rng(1000 + seed)
        w = gpt2_weights(c, rng) if c["architectures"][0] == "GPT2LMHeadModel" else llama_weights(c, rng)
        dtype = "BF16" if c.get("torch_dtype") == "bfloat16" else "F32"
        d = os.path.join(outdir, case)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=2, sort_keys=True)
            f.write("\n")
        safetensors_np.save(os.path.join(d, "model.safetensors"), w, {"format": "pt"}, dtype=dtype)
        # Compute from what was stored (float32 or bf16), read back.
        stored, _, _ = safetensors_np.load(os.path.join(d, "model.safetensors"))

        rows = [rng.integers(0, V, size=n).tolist() for n, _ in SEQS]
        S = max(n for n, _ in SEQS)
        batch = [r + [0] * (S - len(r)) for r in rows]
        summed, per_tok, lg = logps.completion_logps(
            stored, c, batch, [p for _, p in SEQS], [n for n, _ in SEQS])
        # Self-check: each sequence alone (no padding) gives the same numbers.
        for b, (n, p) in enumerate(SEQS):
            alone, _, _ = logps.completion_logps(stored, c, [rows[b]], [p], [n])
            assert abs(alone[0].item() - summed[b].item()) < 1e-9 * max(1.0, abs(alone[0].item())), case
            assert len(per_tok[b]) == n - p
            assert abs(sum(per_tok[b]) - summed[b].item()) < 1e-9 * max(1.0, abs(summed[b].item()))
        seqs = [{"input_ids": rows[b], "prompt_len": p, "logp": summed[b].item(), "token_logps": per_tok[b]}
                for b, (n, p) in enumerate(SEQS)]
        last = {"sequence": 1, "position": SEQS[1][0] - 1, "values": lg[1, SEQS[1][0] - 1].tolist()}
        golden = {"case": case, "description": desc, "weights_dtype": dtype, "compute_dtype": "float64",
                  "sequences": seqs, "last_logits": last}
        with open(os.path.join(d, "golden.json"), "w") as f:
            # One sequence per line: small, yet diffable.
            head = {k: v for k, v in golden.items() if k not in ("sequences", "last_logits")}
            f.write(json.dumps(head)[:-1] + ',\n "sequences": [\n  ')
            f.write(",\n  ".join(json.dumps(s) for s in seqs))
            f.write('],\n "last_logits": ' + json.dumps(last) + "}\n")
        print("%-13s %s" % (case, " ".join("%.6f" % s["logp"] for s in seqs)))


if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "testdata", "models"))
