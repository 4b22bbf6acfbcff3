package engine

import (
	"fmt"
	"math"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
)

// This file holds the rotary embeddings of the Llama-like families; their
// forward pass (Llama 2/3, Mistral, Qwen2, Qwen3: decoderHidden with no
// options) follows Hugging Face's modeling_llama / modeling_qwen3:
//
//	x = embed_tokens[tokens]
//	for each layer:
//	    h = rmsnorm(x)
//	    q, k, v = h·Wqᵀ(+bq), h·Wkᵀ(+bk), h·Wvᵀ(+bv)   (Qwen2: biases; Qwen3: rmsnorm per head of q and k)
//	    q, k = rope(q), rope(k)                         (rotate_half convention)
//	    x = x + o_proj(softmax(q·kᵀ/√D + mask)·v)        (k, v shared by num_heads/num_kv_heads query heads)
//	    x = x + down(silu(gate(rmsnorm(x))) * up(rmsnorm(x)))
//	hidden = rmsnorm(x)
//
// Everything is float32, except the matrix products with GraphOptions.BF16
// (see net.dot).

// ropeInvFreq returns the rotary inverse frequencies [D/2] for cfg,
// inv_freq[i] = 1/theta^(2i/D), adjusted for rope_scaling as transformers'
// modeling_rope_utils does, and the factor cos and sin are multiplied by
// (YaRN's attention_factor; 1 otherwise). Supported rope_scaling types:
// none/"default", "linear", "dynamic" (the unscaled frequencies: see
// model.Config.CheckSeqLen), "yarn" and "llama3".
func ropeInvFreq(cfg *model.Config) ([]float64, float64, error) {
	D := cfg.HeadDim
	pow := make([]float64, D/2) // theta^(2i/D)
	inv := make([]float64, D/2)
	for i := range inv {
		pow[i] = math.Pow(cfg.RopeTheta, float64(2*i)/float64(D))
		inv[i] = 1 / pow[i]
	}
	rs := cfg.RopeScaling
	if rs == nil {
		return inv, 1, nil
	}
	switch rs.RopeType {
	case "", "default", "dynamic":
		return inv, 1, nil
	case "linear":
		if rs.Factor <= 0 {
			return nil, 0, fmt.Errorf("engine: rope_scaling linear factor must be positive, got %g", rs.Factor)
		}
		for i := range inv {
			inv[i] /= rs.Factor
		}
		return inv, 1, nil
	case "yarn":
		return yarnInvFreq(cfg, pow)
	case "longrope":
		// _compute_longrope_parameters with short_factor: sequences beyond
		// original_max_position_embeddings are refused (CheckSeqLen).
		if len(rs.ShortFactor) != len(inv) || rs.AttentionFactor <= 0 {
			return nil, 0, fmt.Errorf("engine: invalid longrope rope_scaling: %d short factors for %d frequencies", len(rs.ShortFactor), len(inv))
		}
		for i := range inv {
			inv[i] = 1 / (rs.ShortFactor[i] * pow[i])
		}
		return inv, rs.AttentionFactor, nil
	case "llama3":
		if rs.Factor <= 0 || rs.LowFreqFactor <= 0 || rs.HighFreqFactor <= rs.LowFreqFactor ||
			rs.OriginalMaxPositionEmbeddings <= 0 {
			return nil, 0, fmt.Errorf("engine: invalid llama3 rope_scaling %+v", *rs)
		}
		old := float64(rs.OriginalMaxPositionEmbeddings)
		lowWavelen := old / rs.LowFreqFactor
		highWavelen := old / rs.HighFreqFactor
		for i, f := range inv {
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen < highWavelen: // high frequency: unchanged
			case wavelen > lowWavelen: // low frequency: scaled down
				inv[i] = f / rs.Factor
			default: // in between: interpolate
				smooth := (old/wavelen - rs.LowFreqFactor) / (rs.HighFreqFactor - rs.LowFreqFactor)
				inv[i] = (1-smooth)*f/rs.Factor + smooth*f
			}
		}
		return inv, 1, nil
	}
	return nil, 0, fmt.Errorf("engine: unsupported rope_scaling type %q (supported: default, linear, dynamic, yarn, llama3; longrope for Phi-3)", rs.RopeType)
}

// yarnInvFreq is transformers' _compute_yarn_parameters: dimensions that
// rotate more than beta_fast times over the original context keep their
// frequency, those under beta_slow are divided by factor, with a linear
// ramp between (over whole dimensions when truncate); cos and sin are
// scaled by attention_factor.
func yarnInvFreq(cfg *model.Config, pow []float64) ([]float64, float64, error) {
	rs := cfg.RopeScaling
	if rs.Factor <= 0 || rs.OriginalMaxPositionEmbeddings <= 0 || rs.BetaFast <= 0 || rs.BetaSlow <= 0 {
		return nil, 0, fmt.Errorf("engine: invalid yarn rope_scaling %+v", *rs)
	}
	dim := float64(cfg.HeadDim)
	base, orig := cfg.RopeTheta, float64(rs.OriginalMaxPositionEmbeddings)
	corrDim := func(rot float64) float64 {
		return dim * math.Log(orig/(rot*2*math.Pi)) / (2 * math.Log(base))
	}
	low, high := corrDim(rs.BetaFast), corrDim(rs.BetaSlow)
	if rs.Truncate == nil || *rs.Truncate {
		low, high = math.Floor(low), math.Ceil(high)
	}
	low, high = math.Max(low, 0), math.Min(high, dim-1)
	if low == high {
		high += 0.001 // as transformers: avoid a zero-width ramp
	}
	inv := make([]float64, len(pow))
	for i, p := range pow {
		ramp := math.Min(math.Max((float64(i)-low)/(high-low), 0), 1)
		extra := 1 - ramp // weight of the unscaled frequency
		inv[i] = (1/(rs.Factor*p))*(1-extra) + (1/p)*extra
	}
	af := rs.AttentionFactor
	if af == 0 {
		af = 1
	}
	return inv, af, nil
}

// applyRope rotates x [B, T, n, D] with cos, sin [B, T, D]:
// x·cos + rotate_half(x)·sin, rotate_half(x) = concat(-x[D/2:], x[:D/2]).
func applyRope(x, cos, sin *Node) *Node {
	B, T, n, D := x.Shape().Dimensions[0], x.Shape().Dimensions[1], x.Shape().Dimensions[2], x.Shape().Dimensions[3]
	x1 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, D/2))
	x2 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(D/2, D))
	rot := Concatenate([]*Node{Neg(x2), x1}, 3)
	c := BroadcastToDims(Reshape(cos, B, T, 1, D), B, T, n, D)
	s := BroadcastToDims(Reshape(sin, B, T, 1, D), B, T, n, D)
	return Add(Mul(x, c), Mul(rot, s))
}

// ropeTables returns cos and sin [B, T, D] for positions [B, T] int32, both
// multiplied by scale (YaRN's attention factor) when it is not 1.
func ropeTables(positions *Node, invFreq []float64, scale float64) (cos, sin *Node) {
	g := positions.Graph()
	inv := make([]float32, len(invFreq))
	for i, f := range invFreq {
		inv[i] = float32(f)
	}
	pos := ConvertDType(positions, dtypes.Float32)                        // [B, T]
	freqs := Mul(ExpandAxes(pos, -1), ExpandLeftToRank(Const(g, inv), 3)) // [B, T, D/2]
	emb := Concatenate([]*Node{freqs, freqs}, 2)                          // [B, T, D]
	cos, sin = Cos(emb), Sin(emb)
	if scale != 1 {
		cos, sin = MulScalar(cos, float32(scale)), MulScalar(sin, float32(scale))
	}
	return cos, sin
}

// llamaHeadName is the output projection [V, H].
func llamaHeadName(cfg *model.Config) string {
	if cfg.TieWordEmbeddings {
		return "model.embed_tokens.weight"
	}
	return "lm_head.weight"
}
