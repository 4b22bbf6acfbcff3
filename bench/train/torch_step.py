"""Times the PyTorch equivalent of pkg/train's BenchmarkTrainStep on this CPU.

Same model (examples/sort/model/config.json: Llama, hidden 64, 2 layers,
4 heads, 2 KV heads, intermediate 172, vocab 259, random weights), same batch
shape (16 pairs, prompt 12, chosen 6, rejected 6 tokens, chosen and rejected
concatenated into one forward as TRL does), float32: forward, sigmoid-DPO
loss, backward, clip_grad_norm_(1.0), AdamW step. The forward is
tools/torchref/model.py (plain torch ops, the reference the Go engine is
tested against). Prints tokens/s (real tokens, prompts counted twice).

    /usr/bin/python3 bench/train/torch_step.py [steps]
"""
import json
import os
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "torchref"))
import logps  # noqa: E402


def main(steps):
    torch.manual_seed(1)
    cfg = json.load(open(os.path.join(ROOT, "examples", "sort", "model", "config.json")))
    H, I, L, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    nH, nKV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = H // nH
    shapes = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,)}
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (V, H)
    for l in range(L):
        p = "model.layers.%d." % l
        shapes.update({p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
                       p + "self_attn.q_proj.weight": (nH * hd, H), p + "self_attn.k_proj.weight": (nKV * hd, H),
                       p + "self_attn.v_proj.weight": (nKV * hd, H), p + "self_attn.o_proj.weight": (H, nH * hd),
                       p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H),
                       p + "mlp.down_proj.weight": (H, I)})
    params = {n: (torch.ones(s) if len(s) == 1 else torch.randn(s) * 0.02).requires_grad_() for n, s in shapes.items()}
    g = torch.Generator().manual_seed(12345)
    B, P, C = 16, 12, 6
    prompt = torch.randint(0, 256, (B, P), generator=g)
    chosen = torch.randint(0, 256, (B, C), generator=g)
    rejected = torch.randint(0, 256, (B, C), generator=g)
    ids = torch.cat([torch.cat([prompt, chosen], 1), torch.cat([prompt, rejected], 1)], 0)
    plen, lens = [P] * (2 * B), [P + C] * (2 * B)
    ref_c, ref_r = torch.full((B,), -33.0), torch.full((B,), -34.0)
    opt = torch.optim.AdamW(list(params.values()), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def step():
        opt.zero_grad()
        summed, _, _ = logps.completion_logps(params, cfg, ids, plen, lens, torch.float32)
        z = 0.1 * ((summed[:B] - ref_c) - (summed[B:] - ref_r))
        loss = -torch.nn.functional.logsigmoid(z).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t0) / steps
    tokens = 2 * B * (P + C)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "seconds_per_step": dt,
                      "tokens_per_step": tokens, "tokens_per_second": tokens / dt}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
