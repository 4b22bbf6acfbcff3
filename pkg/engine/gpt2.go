package engine

import (
	"fmt"
	"math"

	"github.com/dpo-go/dpo/pkg/model"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
)

// This file is the GPT-2 forward pass, following Hugging Face's
// modeling_gpt2 (pre-LayerNorm blocks, Conv1D weights stored [in, out]):
//
//	x = wte[tokens] + wpe[positions]
//	for each block:
//	    q, k, v = split(ln_1(x)·W_attn + b_attn)
//	    x = x + c_proj(softmax(q·kᵀ/√D + mask)·v)
//	    x = x + c_proj(gelu_new(ln_2(x)·W_fc + b_fc))
//	hidden = ln_f(x)
//
// The head is tied to wte unless the config unties it.

// gpt2Hidden returns the final hidden states [B, T, H] for in (tokens,
// positions, attention masks).
func gpt2Hidden(n net, cfg *model.Config, in *inputs) *Node {
	g := in.tokens.Graph()
	w := n.w
	tokens := in.tokens
	B, T := in.dims()
	H, nH, D := cfg.HiddenSize, cfg.NumHeads, cfg.HeadDim
	eps := cfg.LayerNormEps
	act, err := activation(cfg.HiddenAct, "gelu_new")
	if err != nil {
		panic(err)
	}
	// Padding positions past n_positions are clamped (they never
	// influence real tokens).
	pos := Min(in.positions, Const(g, int32(cfg.MaxPositions-1)))    // [B, T]
	x := Gather(w("transformer.wte.weight"), ExpandAxes(tokens, -1)) // [B, T, H]
	pe := Gather(w("transformer.wpe.weight"), ExpandAxes(pos, -1))   // [B, T, H]
	x = Add(x, pe)                                                   // [B, T, H]
	mask := in.mask(0)                                               // [B, 1, 1, T, Tk]
	scale := 1 / math.Sqrt(float64(D))
	for l := range cfg.NumLayers {
		x = n.blockStart(x)
		p := fmt.Sprintf("transformer.h.%d.", l)
		h := layerNorm(x, w(p+"ln_1.weight"), w(p+"ln_1.bias"), eps)
		qkv := n.conv1D(h, p+"attn.c_attn") // [B, T, 3H]
		parts := Split(qkv, 2, 3)
		q := Reshape(parts[0], B, T, nH, D)
		k := Reshape(parts[1], B, T, nH, D)
		v := Reshape(parts[2], B, T, nH, D)
		k, v = in.keysValues(l, k, v)          // with a KV cache: [B, C, nH, D]
		a := n.attention(q, k, v, mask, scale) // [B, T, H]
		x = Add(x, n.conv1D(a, p+"attn.c_proj"))
		h = layerNorm(x, w(p+"ln_2.weight"), w(p+"ln_2.bias"), eps)
		m := act(n.conv1D(h, p+"mlp.c_fc")) // [B, T, I]
		x = Add(x, n.conv1D(m, p+"mlp.c_proj"))
		x.AssertDims(B, T, H)
	}
	x = n.blocksEnd(x)
	return layerNorm(x, w("transformer.ln_f.weight"), w("transformer.ln_f.bias"), eps)
}

func gpt2HeadName(cfg *model.Config) string {
	if cfg.TieWordEmbeddings {
		return "transformer.wte.weight"
	}
	return "lm_head.weight"
}
