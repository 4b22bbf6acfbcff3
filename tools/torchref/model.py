"""Reference forward passes for the causal LMs dpo supports, in plain torch.

This file is the specification the Go engine (pkg/engine) is checked
against. It is written from the transformers modeling code's semantics
(transformers is not installed here; nothing is imported from it), one
function per piece, with the transformers code path each mirrors named in
its comment. Shapes: B batch, S sequence, H hidden, nH query heads, nKV
key/value heads, hd head_dim, V vocab, I intermediate.

Everything runs in the dtype of the `dtype` argument (float64 for the golden
files: float32 or bf16 weights upcast exactly). transformers runs RMSNorm,
softmax and RoPE in at least float32 even for bf16 models; with float64
throughout that distinction disappears.

Padding: sequences are right-padded; `attention_mask` is 1 for real tokens
and 0 for padding, and positions are 0..S-1 (transformers' default
position_ids = cache_position = arange(S), which is what TRL's DPO trainer
gets after flushing left padding to the right). With right padding and a
causal mask, padding changes nothing at real positions.
"""
import math

import torch


def W(weights, name, dtype):
    """Fetch a weight as a torch tensor of `dtype` (numpy arrays come from
    safetensors_np.load)."""
    return torch.as_tensor(weights[name]).to(dtype)


# bf16 mixed precision (dpo-train --bf16, pkg/engine GraphOptions.BF16): when
# BF16_MATMUL is true, every matrix product rounds its operands to bfloat16,
# multiplies them exactly and accumulates in float32, and rounds the product
# to bfloat16 (what a bf16 GEMM with a float32 accumulator does, as under
# torch.autocast); everything else runs in the float32 `dtype`. Written with
# explicit casts rather than torch's bf16 kernels so that the definition does
# not depend on how a CPU kernel accumulates. Autograd goes through the same
# casts, so gradients of the products are rounded to bfloat16 too.
BF16_MATMUL = False


def mm(a, b):
    """a @ b in the current matmul precision."""
    if not BF16_MATMUL:
        return a @ b
    bf = torch.bfloat16
    return (a.to(bf).to(torch.float32) @ b.to(bf).to(torch.float32)).to(bf).to(a.dtype)


# ----------------------------------------------------------------------------
# Config normalisation (the defaults of transformers' configuration_*.py; the
# Go side is pkg/model/loadconfig.go, tested separately).
# ----------------------------------------------------------------------------

def norm_config(c):
    arch = c["architectures"][0]
    if arch == "GPT2LMHeadModel":
        H = c.get("n_embd", 768)
        return dict(arch=arch, V=c.get("vocab_size", 50257), H=H,
                    I=c.get("n_inner") or 4 * H, L=c.get("n_layer", 12),
                    nH=c.get("n_head", 12), P=c.get("n_positions", 1024),
                    eps=c.get("layer_norm_epsilon", 1e-5),
                    tied=c.get("tie_word_embeddings", True))
    nH = c["num_attention_heads"]
    H = c["hidden_size"]
    # Qwen3Config defaults head_dim to 128; the others to H // nH.
    hd = c.get("head_dim") or (128 if arch == "Qwen3ForCausalLM" else H // nH)
    rope_scaling = c.get("rope_scaling")
    return dict(
        arch=arch, V=c["vocab_size"], H=H, I=c["intermediate_size"],
        L=c["num_hidden_layers"], nH=nH, nKV=c.get("num_key_value_heads") or nH,
        hd=hd, eps=c.get("rms_norm_eps", 1e-6), theta=c.get("rope_theta", 10000.0),
        rope_scaling=rope_scaling if rope_scaling and rope_scaling.get("rope_type", rope_scaling.get("type")) == "llama3" else None,
        tied=c.get("tie_word_embeddings", False),
        # Qwen2Attention: q/k/v bias=True, o_proj bias=False.
        # LlamaAttention/Qwen3Attention: q/k/v/o bias=config.attention_bias.
        # MistralAttention: never.
        qkv_bias=(arch == "Qwen2ForCausalLM") or (arch in ("LlamaForCausalLM", "Qwen3ForCausalLM") and c.get("attention_bias", False)),
        o_bias=arch in ("LlamaForCausalLM", "Qwen3ForCausalLM") and c.get("attention_bias", False),
        qk_norm=arch == "Qwen3ForCausalLM",
    )


# ----------------------------------------------------------------------------
# Llama family: modeling_llama.py (Mistral, Qwen2 and Qwen3 are copies of it
# with the differences noted).
# ----------------------------------------------------------------------------

def rms_norm(x, weight, eps):
    """LlamaRMSNorm.forward: x * rsqrt(mean(x^2, -1) + eps), then * weight.
    transformers computes the normalisation in float32 and casts back before
    multiplying by the weight; here the dtype is float64 throughout."""
    var = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(var + eps))


def rope_inv_freq(cfg, dtype):
    """modeling_rope_utils._compute_default_rope_parameters:
    inv_freq[i] = 1 / theta^(2i/hd), i = 0..hd/2-1; then, for rope_type
    "llama3", _compute_llama3_parameters: wavelengths 2π/inv_freq longer than
    original_max/low_freq_factor are divided by `factor`, shorter than
    original_max/high_freq_factor are kept, and those in between are
    interpolated with smooth = (original_max/wavelen - low)/(high - low):
    (1 - smooth) * f/factor + smooth * f. attention_factor is 1.0 for both."""
    hd = cfg["hd"]
    inv = 1.0 / (cfg["theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    rs = cfg["rope_scaling"]
    if rs is not None:
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wl, high_wl = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= high_wl) & (wavelen <= low_wl)
        inv = torch.where(medium, smoothed, scaled)
    return inv.to(dtype)


def rope_cos_sin(cfg, S, dtype):
    """LlamaRotaryEmbedding.forward: freqs = positions ⊗ inv_freq [S, hd/2];
    emb = cat(freqs, freqs) [S, hd]; returns cos(emb), sin(emb)."""
    pos = torch.arange(S, dtype=torch.float64)
    freqs = torch.outer(pos, rope_inv_freq(cfg, torch.float64))
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    """modeling_llama.rotate_half: [x1, x2] -> [-x2, x1] on the last dim
    (halves, not interleaved pairs)."""
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope(x, cos, sin):
    """apply_rotary_pos_emb: x * cos + rotate_half(x) * sin; x [B, n, S, hd]."""
    return x * cos + rotate_half(x) * sin


def repeat_kv(x, n_rep):
    """modeling_llama.repeat_kv: [B, nKV, S, hd] -> [B, nKV*n_rep, S, hd];
    query head h uses key/value head h // n_rep."""
    if n_rep == 1:
        return x
    B, nKV, S, hd = x.shape
    return x[:, :, None].expand(B, nKV, n_rep, S, hd).reshape(B, nKV * n_rep, S, hd)


def attention_bias_mask(attention_mask, S, dtype):
    """The additive mask of transformers' eager attention: 0 where query i
    may see key j (j <= i and key j is not padding), the dtype's most
    negative finite value elsewhere. [B, 1, S, S]."""
    causal = torch.ones(S, S, dtype=torch.bool).tril()
    allowed = causal[None, None] & attention_mask[:, None, None, :].bool()
    neg = torch.finfo(dtype).min
    return torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, neg)


def llama_attention(x, w, p, cfg, cos, sin, mask):
    """LlamaAttention.forward with eager_attention_forward.
    x [B, S, H] -> [B, S, H]."""
    B, S, _ = x.shape
    nH, nKV, hd = cfg["nH"], cfg["nKV"], cfg["hd"]
    dt = x.dtype

    def proj(name, bias):
        y = mm(x, W(w, p + name + ".weight", dt).T)  # nn.Linear: weight [out, in]
        if bias:
            y = y + W(w, p + name + ".bias", dt)
        return y

    q = proj("self_attn.q_proj", cfg["qkv_bias"]).view(B, S, nH, hd)
    k = proj("self_attn.k_proj", cfg["qkv_bias"]).view(B, S, nKV, hd)
    v = proj("self_attn.v_proj", cfg["qkv_bias"]).view(B, S, nKV, hd)
    if cfg["qk_norm"]:
        # Qwen3Attention: q_norm/k_norm are RMSNorms over head_dim, applied
        # per head to the projections before the transpose and RoPE.
        q = rms_norm(q, W(w, p + "self_attn.q_norm.weight", dt), cfg["eps"])
        k = rms_norm(k, W(w, p + "self_attn.k_norm.weight", dt), cfg["eps"])
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, n, S, hd]
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    k, v = repeat_kv(k, nH // nKV), repeat_kv(v, nH // nKV)
    scores = mm(q, k.transpose(2, 3)) * hd ** -0.5 + mask  # scaling = head_dim**-0.5
    probs = torch.softmax(scores, dim=-1)
    out = mm(probs, v).transpose(1, 2).reshape(B, S, nH * hd)
    out = mm(out, W(w, p + "self_attn.o_proj.weight", dt).T)
    if cfg["o_bias"]:
        out = out + W(w, p + "self_attn.o_proj.bias", dt)
    return out


def llama_mlp(x, w, p):
    """LlamaMLP.forward: down_proj(silu(gate_proj(x)) * up_proj(x))."""
    dt = x.dtype
    g = mm(x, W(w, p + "mlp.gate_proj.weight", dt).T)
    u = mm(x, W(w, p + "mlp.up_proj.weight", dt).T)
    return mm(torch.nn.functional.silu(g) * u, W(w, p + "mlp.down_proj.weight", dt).T)


def llama_logits(w, cfg, input_ids, attention_mask, dtype=torch.float64):
    """LlamaForCausalLM.forward -> logits [B, S, V]."""
    B, S = input_ids.shape
    h = W(w, "model.embed_tokens.weight", dtype)[input_ids]
    cos, sin = rope_cos_sin(cfg, S, dtype)
    mask = attention_bias_mask(attention_mask, S, dtype)
    for i in range(cfg["L"]):
        p = "model.layers.%d." % i
        # LlamaDecoderLayer: pre-norm residual blocks.
        a = rms_norm(h, W(w, p + "input_layernorm.weight", dtype), cfg["eps"])
        h = h + llama_attention(a, w, p, cfg, cos, sin, mask)
        m = rms_norm(h, W(w, p + "post_attention_layernorm.weight", dtype), cfg["eps"])
        h = h + llama_mlp(m, w, p)
    h = rms_norm(h, W(w, "model.norm.weight", dtype), cfg["eps"])
    head = "model.embed_tokens.weight" if cfg["tied"] else "lm_head.weight"
    return mm(h, W(w, head, dtype).T)


# ----------------------------------------------------------------------------
# GPT-2: modeling_gpt2.py
# ----------------------------------------------------------------------------

def gelu_new(x):
    """activations.NewGELUActivation (tanh approximation):
    0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def gpt2_name(w, name):
    """HF GPT-2 files may omit GPT2LMHeadModel's "transformer." prefix."""
    return name if name in w else name[len("transformer."):]


def conv1d(x, w, name):
    """pytorch_utils.Conv1D: x @ weight + bias, weight stored [in, out]."""
    dt = x.dtype
    return mm(x, W(w, gpt2_name(w, name + ".weight"), dt)) + W(w, gpt2_name(w, name + ".bias"), dt)


def layer_norm(x, w, name, eps):
    """nn.LayerNorm over the last dim (biased variance), weight and bias."""
    dt = x.dtype
    return torch.nn.functional.layer_norm(
        x, x.shape[-1:], W(w, gpt2_name(w, name + ".weight"), dt), W(w, gpt2_name(w, name + ".bias"), dt), eps)


def gpt2_attention(x, w, p, cfg, mask):
    """GPT2Attention.forward (eager _attn). x [B, S, H] -> [B, S, H]."""
    B, S, H = x.shape
    nH = cfg["nH"]
    hd = H // nH
    qkv = conv1d(x, w, p + "attn.c_attn")  # [B, S, 3H], split as q, k, v
    q, k, v = qkv.split(H, dim=2)
    q, k, v = (z.view(B, S, nH, hd).transpose(1, 2) for z in (q, k, v))
    # scale_attn_weights: scores / sqrt(head_dim).
    scores = mm(q, k.transpose(2, 3)) / math.sqrt(hd) + mask
    out = mm(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(B, S, H)
    return conv1d(out, w, p + "attn.c_proj")


def gpt2_logits(w, cfg, input_ids, attention_mask, dtype=torch.float64):
    """GPT2LMHeadModel.forward -> logits [B, S, V]."""
    B, S = input_ids.shape
    t = "transformer."
    # GPT2Model: token + learned position embeddings.
    h = W(w, gpt2_name(w, t + "wte.weight"), dtype)[input_ids] + \
        W(w, gpt2_name(w, t + "wpe.weight"), dtype)[torch.arange(S)][None]
    mask = attention_bias_mask(attention_mask, S, dtype)
    for i in range(cfg["L"]):
        p = t + "h.%d." % i
        # GPT2Block: h + attn(ln_1(h)); h + mlp(ln_2(h)).
        a = layer_norm(h, w, p + "ln_1", cfg["eps"])
        h = h + gpt2_attention(a, w, p, cfg, mask)
        m = layer_norm(h, w, p + "ln_2", cfg["eps"])
        h = h + conv1d(gelu_new(conv1d(m, w, p + "mlp.c_fc")), w, p + "mlp.c_proj")
    h = layer_norm(h, w, t + "ln_f", cfg["eps"])
    head = gpt2_name(w, t + "wte.weight") if cfg["tied"] else "lm_head.weight"
    return mm(h, W(w, head, dtype).T)


def logits(w, config_json, input_ids, attention_mask=None, dtype=torch.float64):
    """Forward pass for any supported architecture. input_ids [B, S] int64."""
    cfg = norm_config(config_json)
    input_ids = torch.as_tensor(input_ids, dtype=torch.int64)
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    attention_mask = torch.as_tensor(attention_mask, dtype=torch.int64)
    if cfg["arch"] == "GPT2LMHeadModel":
        return gpt2_logits(w, cfg, input_ids, attention_mask, dtype)
    return llama_logits(w, cfg, input_ids, attention_mask, dtype)
