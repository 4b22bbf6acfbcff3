"""Self-checks of the reference against torch's own, independently written
building blocks and against properties transformers' code guarantees. Run:

    /usr/bin/python3 tools/torchref/check_reference.py [testdata/models]

Exits non-zero on the first failed check. pkg/model's Go tests run it.
"""
import copy
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import logps  # noqa: E402
import model  # noqa: E402
import safetensors_np  # noqa: E402

D = torch.float64


def close(a, b, tol, what):
    err = (torch.as_tensor(a) - torch.as_tensor(b)).abs().max().item()
    if not err <= tol:
        raise SystemExit("FAIL %s: max abs diff %g > %g" % (what, err, tol))
    print("ok   %-60s max diff %.2e" % (what, err))


def load(root, case):
    w, _, _ = safetensors_np.load(os.path.join(root, case, "model.safetensors"))
    return {k: np.array(v, dtype=np.float64) for k, v in w.items()}, \
        json.load(open(os.path.join(root, case, "config.json")))


def check_gelu():
    x = torch.linspace(-8, 8, 1001, dtype=D)
    close(model.gelu_new(x), torch.nn.functional.gelu(x, approximate="tanh"), 1e-14,
          "gelu_new == torch gelu(approximate='tanh')")


def check_rms_norm():
    g = torch.Generator().manual_seed(0)
    x, wt = torch.randn(3, 5, 16, generator=g, dtype=D), torch.randn(16, generator=g, dtype=D)
    ref = wt * x / torch.sqrt((x * x).sum(-1, keepdim=True) / 16 + 1e-6)
    close(model.rms_norm(x, wt, 1e-6), ref, 1e-13, "rms_norm == x / sqrt(mean(x^2) + eps) * w")


def mha(x, in_w, in_b, out_w, out_b, nH):
    """torch.nn.MultiheadAttention (its own implementation) with a causal mask."""
    B, S, H = x.shape
    m = torch.nn.MultiheadAttention(H, nH, bias=True, batch_first=True).to(D)
    with torch.no_grad():
        m.in_proj_weight.copy_(in_w)
        m.in_proj_bias.copy_(in_b)
        m.out_proj.weight.copy_(out_w)
        m.out_proj.bias.copy_(out_b)
    causal = torch.ones(S, S, dtype=torch.bool).triu(1)  # True = masked
    return m(x, x, x, attn_mask=causal, need_weights=False)[0]


def check_gpt2_attention(root):
    w, c = load(root, "gpt2")
    cfg = model.norm_config(c)
    x = torch.randn(2, 11, cfg["H"], generator=torch.Generator().manual_seed(1), dtype=D)
    mask = model.attention_bias_mask(torch.ones(2, 11, dtype=torch.long), 11, D)
    ours = model.gpt2_attention(x, w, "transformer.h.0.", cfg, mask)
    cw = torch.as_tensor(w["h.0.attn.c_attn.weight"])
    pw = torch.as_tensor(w["h.0.attn.c_proj.weight"])
    ref = mha(x, cw.T, torch.as_tensor(w["h.0.attn.c_attn.bias"]), pw.T,
              torch.as_tensor(w["h.0.attn.c_proj.bias"]), cfg["nH"])
    close(ours, ref, 1e-12, "GPT-2 attention == nn.MultiheadAttention (Conv1D transposed)")


def check_llama_attention_no_rope(root):
    w, c = load(root, "qwen2")  # q/k/v biases
    c = dict(c, num_key_value_heads=c["num_attention_heads"])
    cfg = model.norm_config(c)
    H, nH, hd = cfg["H"], cfg["nH"], cfg["hd"]
    g = torch.Generator().manual_seed(2)
    p = "model.layers.0.self_attn."
    ww = {p + n + ".weight": torch.randn(nH * hd, H, generator=g, dtype=D) / 6 for n in ("q_proj", "k_proj", "v_proj")}
    ww.update({p + n + ".bias": torch.randn(nH * hd, generator=g, dtype=D) for n in ("q_proj", "k_proj", "v_proj")})
    ww[p + "o_proj.weight"] = torch.randn(H, nH * hd, generator=g, dtype=D) / 6
    x = torch.randn(2, 9, H, generator=g, dtype=D)
    cos, sin = torch.ones(9, hd, dtype=D), torch.zeros(9, hd, dtype=D)  # RoPE off
    mask = model.attention_bias_mask(torch.ones(2, 9, dtype=torch.long), 9, D)
    ours = model.llama_attention(x, ww, "model.layers.0.", cfg, cos, sin, mask)
    in_w = torch.cat([ww[p + n + ".weight"] for n in ("q_proj", "k_proj", "v_proj")])
    in_b = torch.cat([ww[p + n + ".bias"] for n in ("q_proj", "k_proj", "v_proj")])
    ref = mha(x, in_w, in_b, ww[p + "o_proj.weight"], torch.zeros(H, dtype=D), nH)
    close(ours, ref, 1e-12, "Llama attention (RoPE off) == nn.MultiheadAttention")


def check_rope(root):
    _, c = load(root, "llama_tied")
    cfg = model.norm_config(c)
    hd, S = cfg["hd"], 30
    cos, sin = model.rope_cos_sin(cfg, S, D)
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(hd, generator=g, dtype=D), torch.randn(hd, generator=g, dtype=D)
    qr = model.apply_rope(q.expand(S, hd), cos, sin)
    kr = model.apply_rope(k.expand(S, hd), cos, sin)
    scores = qr @ kr.T
    # Relative position: q_m . k_n depends only on m - n.
    close(scores[10:, 5:25 - 5], scores[5:25, :15], 1e-12, "RoPE scores depend only on relative position")
    # The HF (non-interleaved) convention: dims i and i + hd/2 form a pair
    # rotated by pos * inv_freq[i].
    inv = 1.0 / (cfg["theta"] ** (torch.arange(0, hd, 2, dtype=D) / hd))
    pos, h = 7, hd // 2
    ang = pos * inv
    x1, x2 = q[:h], q[h:]
    ref = torch.cat([x1 * ang.cos() - x2 * ang.sin(), x2 * ang.cos() + x1 * ang.sin()])
    close(qr[pos], ref, 1e-13, "RoPE pairs (i, i+hd/2) rotated by pos*theta^(-2i/hd)")


def check_llama3_bands(root):
    _, c = load(root, "llama3_rope")
    cfg = model.norm_config(c)
    base = model.rope_inv_freq(dict(cfg, rope_scaling=None), D)
    inv = model.rope_inv_freq(cfg, D)
    rs = cfg["rope_scaling"]
    wl = 2 * math.pi / base
    hi, lo = rs["original_max_position_embeddings"] / rs["high_freq_factor"], rs["original_max_position_embeddings"] / rs["low_freq_factor"]
    bands = set()
    for f0, f, L in zip(base.tolist(), inv.tolist(), wl.tolist()):
        if L < hi:
            assert f == f0, "high band must be unchanged"
            bands.add("high")
        elif L > lo:
            assert abs(f - f0 / rs["factor"]) < 1e-18, "low band must be divided by factor"
            bands.add("low")
        else:
            assert f0 / rs["factor"] < f < f0, "medium band must be interpolated"
            bands.add("medium")
    assert bands == {"high", "medium", "low"}, bands
    print("ok   llama3 rope: high/medium/low bands", ["%.5g" % f for f in inv.tolist()])


def check_gqa(root):
    """GQA == MHA with each key/value head's rows repeated for its n_rep
    query heads (query head h uses key/value head h // n_rep)."""
    w, c = load(root, "llama_gqa")
    cfg = model.norm_config(c)
    rep, hd = cfg["nH"] // cfg["nKV"], cfg["hd"]
    w2 = dict(w)
    for i in range(cfg["L"]):
        for n in ("k_proj", "v_proj"):
            name = "model.layers.%d.self_attn.%s.weight" % (i, n)
            heads = w[name].reshape(cfg["nKV"], hd, -1)
            w2[name] = np.repeat(heads, rep, axis=0).reshape(cfg["nH"] * hd, -1)
    c2 = dict(c, num_key_value_heads=c["num_attention_heads"])
    ids = [[5, 17, 42, 8, 99, 3, 250, 7]]
    close(model.logits(w, c, ids), model.logits(w2, c2, ids), 1e-11, "GQA == MHA with repeated key/value heads")


def check_logps_vs_cross_entropy(root):
    w, c = load(root, "qwen3")
    ids = [[3, 14, 15, 92, 65, 35, 89, 79, 32, 38], [2, 71, 82, 81, 82, 8, 0, 0, 0, 0]]
    summed, _, lg = logps.completion_logps(w, c, ids, [4, 2], [10, 6])
    t = torch.tensor(ids)
    ce = torch.nn.functional.cross_entropy(lg[:, :-1].reshape(-1, lg.shape[-1]), t[:, 1:].reshape(-1),
                                           reduction="none").view(2, -1)
    ref = torch.stack([-ce[0, 3:9].sum(), -ce[1, 1:5].sum()])
    close(summed, ref, 1e-10, "completion log-probs == -cross_entropy over completion labels")


def check_padding(root):
    for case in ("gpt2", "mistral"):
        w, c = load(root, case)
        a = model.logits(w, c, [[1, 2, 3, 4, 5]])
        b = model.logits(w, c, [[1, 2, 3, 4, 5, 9, 9, 9]], [[1, 1, 1, 1, 1, 0, 0, 0]])
        close(a[0], b[0, :5], 1e-11, "%s: right padding leaves real positions unchanged" % case)


def main(root):
    torch.manual_seed(0)
    check_gelu()
    check_rms_norm()
    check_gpt2_attention(root)
    check_llama_attention_no_rope(root)
    check_rope(root)
    check_llama3_bands(root)
    check_gqa(root)
    check_logps_vs_cross_entropy(root)
    check_padding(root)
    print("all reference checks passed")


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "testdata", "models"))
