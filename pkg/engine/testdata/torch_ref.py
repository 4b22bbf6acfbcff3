"""Independent PyTorch reference for pkg/engine tests.

Reads JSON on stdin: a list of cases {"config": {...engine test config...},
"weights": {name: {"shape": [...], "data": [...]}}, "seqs": [{"tokens":
[...], "prompt_len": p}]} and writes, per case, a list of lists with
log p(tokens[t] | tokens[:t]) for t in [prompt_len, len), computed in
float64 with torch following transformers' modeling_llama / modeling_qwen3 /
modeling_gpt2 (each sequence alone, no padding).
"""
import json
import math
import sys

import torch

torch.set_default_dtype(torch.float64)


def W(ws, name):
    w = ws[name]
    return torch.tensor(w["data"], dtype=torch.float64).reshape(w["shape"])


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def inv_freq(c):
    d = c["head_dim"]
    inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, d, 2).double() / d))
    rs = c.get("rope_scaling")
    if rs:
        factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        wl = 2 * math.pi / inv
        out = torch.where(wl > lo_wl, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = ~(wl < hi_wl) & ~(wl > lo_wl)
        inv = torch.where(medium, smoothed, out)
    return inv


def llama(c, ws, toks):
    T = len(toks)
    nh, nkv, d = c["num_heads"], c["num_kv_heads"], c["head_dim"]
    eps = c["rms_norm_eps"]
    x = W(ws, "model.embed_tokens.weight")[torch.tensor(toks)]
    pos = torch.arange(T).double()
    freqs = torch.outer(pos, inv_freq(c))
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    mask = torch.full((T, T), float("-inf")).triu(1)
    def lin(h, p, b):
        y = h @ W(ws, p + ".weight").T
        return y + W(ws, p + ".bias") if b else y
    for l in range(c["num_layers"]):
        p = f"model.layers.{l}."
        h = rms(x, W(ws, p + "input_layernorm.weight"), eps)
        q = lin(h, p + "self_attn.q_proj", c["attention_bias"]).view(T, nh, d)
        k = lin(h, p + "self_attn.k_proj", c["attention_bias"]).view(T, nkv, d)
        v = lin(h, p + "self_attn.v_proj", c["attention_bias"]).view(T, nkv, d)
        if c["qk_norm"]:
            q = rms(q, W(ws, p + "self_attn.q_norm.weight"), eps)
            k = rms(k, W(ws, p + "self_attn.k_norm.weight"), eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(d) + mask
        a = torch.einsum("hqk,khd->qhd", s.softmax(-1), v).reshape(T, nh * d)
        x = x + lin(a, p + "self_attn.o_proj", c["output_bias"])
        h = rms(x, W(ws, p + "post_attention_layernorm.weight"), eps)
        g = lin(h, p + "mlp.gate_proj", False)
        x = x + lin(torch.nn.functional.silu(g) * lin(h, p + "mlp.up_proj", False), p + "mlp.down_proj", False)
    x = rms(x, W(ws, "model.norm.weight"), eps)
    head = W(ws, "model.embed_tokens.weight" if c["tie"] else "lm_head.weight")
    return x @ head.T


def gpt2(c, ws, toks):
    T = len(toks)
    nh, d = c["num_heads"], c["head_dim"]
    eps = c["layer_norm_eps"]
    t = "transformer."
    x = W(ws, t + "wte.weight")[torch.tensor(toks)] + W(ws, t + "wpe.weight")[:T]
    mask = torch.full((T, T), float("-inf")).triu(1)
    def ln(h, p):
        return torch.nn.functional.layer_norm(h, (h.shape[-1],), W(ws, p + ".weight"), W(ws, p + ".bias"), eps)
    def conv(h, p):
        return h @ W(ws, p + ".weight") + W(ws, p + ".bias")
    def gelu_new(h):
        return 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h.pow(3))))
    for l in range(c["num_layers"]):
        p = f"{t}h.{l}."
        qkv = conv(ln(x, p + "ln_1"), p + "attn.c_attn")
        q, k, v = [z.view(T, nh, d) for z in qkv.split(nh * d, dim=-1)]
        s = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(d) + mask
        a = torch.einsum("hqk,khd->qhd", s.softmax(-1), v).reshape(T, nh * d)
        x = x + conv(a, p + "attn.c_proj")
        x = x + conv(gelu_new(conv(ln(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    x = ln(x, t + "ln_f")
    return x @ W(ws, t + "wte.weight" if c["tie"] else "lm_head.weight").T


def main():
    result = []
    for req in json.load(sys.stdin):
        c, ws = req["config"], req["weights"]
        out = []
        for s in req["seqs"]:
            toks, p = s["tokens"], s["prompt_len"]
            logits = gpt2(c, ws, toks) if c["arch"] == "gpt2" else llama(c, ws, toks)
            lp = logits.log_softmax(-1)
            out.append([lp[t - 1, toks[t]].item() for t in range(p, len(toks))])
        result.append(out)
    json.dump(result, sys.stdout)


main()
