package engine

import (
	"fmt"
	"math"

	"github.com/dpo-go/dpo/pkg/model"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
)

// This file is the forward pass of the Llama-like families: the Llama
// layer (Llama, Mistral, Qwen2, Qwen3) with options (model.Config's block
// fields), following transformers' modeling_llama, modeling_qwen3,
// modeling_gemma2, modeling_gemma3, modeling_olmo2 and modeling_phi3:
//
//	x = embed_tokens[tokens] · EmbedScale                 (Gemma: sqrt(hidden) in float32)
//	for each layer:
//	    h = norm_in(x)                                     (OLMo 2: h = x)
//	    q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ                     (Phi-3: split of h·W_qkvᵀ)
//	    q, k = q_norm(q), k_norm(k)                        (Gemma 3: per head; OLMo 2: whole projection)
//	    q, k = rope_l(q), rope_l(k)                        (Gemma 3: sliding layers have their own base;
//	                                                        Phi-3: only the first RotaryDim dimensions)
//	    s = q·kᵀ · query_pre_attn_scalar^-½                (else head_dim^-½)
//	    s = cap·tanh(s/cap)                                (Gemma 2: attn_logit_softcapping)
//	    a = o_proj(softmax(s + mask_l)·v)                  (mask_l: sliding window on sliding layers)
//	    x = x + post_attention_layernorm(a)                (Llama: x + a)
//	    m = down(act(gate(h')) * up(h')), h' = pre_feedforward_layernorm(x) (OLMo 2: h' = x;
//	                                                        Phi-3: [gate | up] = h'·W_gate_upᵀ;
//	                                                        Qwen3-MoE: routed experts, moe.go)
//	    x = x + post_feedforward_layernorm(m)
//	hidden = norm(x)
//
// Every RMSNorm scale is (NormOffset + w): Gemma's (1 + w). The final
// logits' soft-capping is the LM head's (lmHead.capped, head.go).

// layerRopeConfig returns cfg with layer l's rotary base and scaling (Gemma
// 3's sliding layers have their own), for ropeInvFreq.
func layerRopeConfig(cfg *model.Config, l int) *model.Config {
	theta, rs := cfg.LayerRope(l)
	if theta == cfg.RopeTheta && rs == cfg.RopeScaling && cfg.RotaryDim == 0 {
		return cfg
	}
	c := *cfg
	c.RopeTheta, c.RopeScaling = theta, rs
	if cfg.RotaryDim > 0 { // Phi-3's partial rotary: frequencies over the rotated dimensions
		c.HeadDim = cfg.RotaryDim
	}
	return &c
}

// applyPartialRope rotates the first rd dimensions of x [B, T, n, D] (all
// when rd is 0) and passes the others through, as Phi-3's
// apply_rotary_pos_emb with partial_rotary_factor.
func applyPartialRope(x, cos, sin *Node, rd int) *Node {
	D := x.Shape().Dimensions[3]
	if rd == 0 || rd == D {
		return applyRope(x, cos, sin)
	}
	rot := applyRope(Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, rd)), cos, sin)
	pass := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(rd, D))
	return Concatenate([]*Node{rot, pass}, 3)
}

// decoderHidden runs the decoder of a Llama, Mistral, Qwen2, Qwen3, Gemma
// 2, Gemma 3, OLMo 2 or Phi-3 config over in (tokens, positions, attention
// masks) and returns the final normed hidden states [B, T, H] float32.
func decoderHidden(n net, cfg *model.Config, in *inputs) *Node {
	w := n.w
	tokens := in.tokens
	B, T := in.dims()
	H, nH, nKV, D := cfg.HiddenSize, cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim
	act, err := activation(cfg.HiddenAct, "silu")
	if err != nil {
		panic(err)
	}
	norm := func(x *Node, name string) *Node {
		s := w(name)
		if cfg.NormOffset != 0 {
			s = AddScalar(s, cfg.NormOffset)
		}
		return rmsNorm(x, s, cfg.RMSNormEps)
	}
	type rope struct{ cos, sin *Node }
	ropes := map[[2]any]rope{} // by (theta, scaling)
	ropeOf := func(l int) rope {
		lc := layerRopeConfig(cfg, l)
		key := [2]any{lc.RopeTheta, lc.RopeScaling}
		if r, ok := ropes[key]; ok {
			return r
		}
		invFreq, scale, err := ropeInvFreq(lc)
		if err != nil {
			panic(err)
		}
		var r rope
		r.cos, r.sin = ropeTables(in.positions, invFreq, scale) // [B, T, D]
		ropes[key] = r
		return r
	}
	x := Gather(w("model.embed_tokens.weight"), ExpandAxes(tokens, -1)) // [B, T, H]
	x.AssertDims(B, T, H)
	if cfg.EmbedScale != 0 {
		x = MulScalar(x, cfg.EmbedScale)
	}
	scale := 1 / math.Sqrt(float64(D))
	if cfg.QueryPreAttnScalar > 0 {
		scale = 1 / math.Sqrt(cfg.QueryPreAttnScalar)
	}
	for l := range cfg.NumLayers {
		x = n.blockStart(x)
		p := fmt.Sprintf("model.layers.%d.", l)
		h := x
		if !cfg.PostNorms {
			h = norm(x, p+"input_layernorm.weight")
		}
		var q, k, v *Node
		if cfg.FusedQKV { // Phi-3: one projection, split as [q | k | v]
			qkv := n.linear(h, p+"self_attn.qkv_proj", false)
			q = Slice(qkv, AxisRange(), AxisRange(), AxisRange(0, nH*D))
			k = Slice(qkv, AxisRange(), AxisRange(), AxisRange(nH*D, (nH+nKV)*D))
			v = Slice(qkv, AxisRange(), AxisRange(), AxisRange((nH+nKV)*D, (nH+2*nKV)*D))
		} else {
			q = n.linear(h, p+"self_attn.q_proj", cfg.AttentionBias)
			k = n.linear(h, p+"self_attn.k_proj", cfg.AttentionBias)
			v = n.linear(h, p+"self_attn.v_proj", cfg.AttentionBias)
		}
		if cfg.QKNormFull {
			q = norm(q, p+"self_attn.q_norm.weight")
			k = norm(k, p+"self_attn.k_norm.weight")
		}
		q = Reshape(q, B, T, nH, D)  // [B, T, nH, D]
		k = Reshape(k, B, T, nKV, D) // [B, T, nKV, D]
		v = Reshape(v, B, T, nKV, D) // [B, T, nKV, D]
		if cfg.QKNorm {
			q = norm(q, p+"self_attn.q_norm.weight")
			k = norm(k, p+"self_attn.k_norm.weight")
		}
		r := ropeOf(l)
		q = applyPartialRope(q, r.cos, r.sin, cfg.RotaryDim)
		k = applyPartialRope(k, r.cos, r.sin, cfg.RotaryDim)
		// With a KV cache, k and v become the cache [B, C, nKV, D].
		k, v = in.keysValues(l, k, v)
		a := n.attentionCapped(q, k, v, in.mask(cfg.LayerWindow(l)), scale, cfg.AttnSoftcap) // [B, T, nH*D]
		a = n.linear(a, p+"self_attn.o_proj", cfg.OutputBias)
		if cfg.SandwichNorms || cfg.PostNorms {
			a = norm(a, p+"post_attention_layernorm.weight")
		}
		x = Add(x, a) // [B, T, H]
		switch {
		case cfg.SandwichNorms:
			h = norm(x, p+"pre_feedforward_layernorm.weight")
		case cfg.PostNorms:
			h = x
		default:
			h = norm(x, p+"post_attention_layernorm.weight")
		}
		m := n.mlp(cfg, l, h, act) // [B, T, H]; routed experts on MoE layers (moe.go)
		if cfg.SandwichNorms || cfg.PostNorms {
			m = norm(m, p+"post_feedforward_layernorm.weight")
		}
		x = Add(x, m)
		x.AssertDims(B, T, H)
	}
	x = n.blocksEnd(x)
	return norm(x, "model.norm.weight")
}
