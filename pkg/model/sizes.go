package model

import (
	"encoding/json"
	"fmt"
	"math"
)

// Bounds on a config's sizes. A config.json is data a user hands us (or
// --init-config's random initialisation allocates from): a hidden_size of
// 2^40 must be an error naming the field, not a makeslice panic, and
// num_hidden_layers 2^40 not an allocation until the process is killed.
// The bounds are far above any released model (the largest hidden sizes
// are ~25k, layer counts ~130, vocabularies ~260k, experts 256).
var sizeBounds = []struct {
	keys []string // config.json names (all architectures)
	max  int64
}{
	{[]string{"vocab_size"}, 1 << 24},
	{[]string{"hidden_size", "n_embd"}, 1 << 17},
	{[]string{"intermediate_size", "n_inner", "moe_intermediate_size"}, 1 << 20},
	{[]string{"num_hidden_layers", "n_layer"}, 1 << 12},
	{[]string{"num_attention_heads", "n_head", "num_key_value_heads"}, 1 << 12},
	{[]string{"head_dim"}, 1 << 13},
	{[]string{"max_position_embeddings", "n_positions", "n_ctx"}, 1 << 30},
	{[]string{"num_experts", "num_local_experts", "num_experts_per_tok"}, 1 << 14},
}

// MaxParams bounds the parameter count a config may describe (about 1.1
// trillion).
const MaxParams = 1 << 40

// checkRawSizes refuses a size field above its bound before anything is
// allocated from it.
func checkRawSizes(raw map[string]any) error {
	for _, b := range sizeBounds {
		for _, k := range b.keys {
			n, ok := raw[k].(json.Number)
			if !ok {
				continue
			}
			if f, err := n.Float64(); err == nil && f > float64(b.max) {
				return fmt.Errorf("field %q: %s is larger than the %d this package accepts for it", k, n, b.max)
			}
		}
	}
	return nil
}

// checkSizes is checkRawSizes on the normalised fields, then the parameter
// count.
func (c *Config) checkSizes() error {
	for _, f := range []struct {
		name string
		v    int
		max  int64
	}{
		{"vocab_size", c.VocabSize, 1 << 24}, {"hidden_size", c.HiddenSize, 1 << 17},
		{"intermediate_size", c.IntermediateSize, 1 << 20}, {"num_hidden_layers", c.NumLayers, 1 << 12},
		{"num_attention_heads", c.NumHeads, 1 << 12}, {"num_key_value_heads", c.NumKVHeads, 1 << 12},
		{"head_dim", c.HeadDim, 1 << 13}, {"max_position_embeddings", c.MaxPositions, 1 << 30},
		{"num_experts", c.MoE.NumExperts, 1 << 14}, {"moe_intermediate_size", c.MoE.IntermediateSize, 1 << 20},
	} {
		if int64(f.v) > f.max {
			return fmt.Errorf("field %q: %d is larger than the %d this package accepts for it", f.name, f.v, f.max)
		}
	}
	if n := c.ParamEstimate(); n > MaxParams {
		return fmt.Errorf("field %q: the config describes about %.3g parameters (hidden_size %d, intermediate_size %d, num_hidden_layers %d, vocab_size %d), more than the %.3g this package accepts",
			c.largestField(), n, c.HiddenSize, c.MLPWidth(), c.NumLayers, c.VocabSize, float64(MaxParams))
	}
	return nil
}

// ParamEstimate is the number of parameters of c's architecture, computed
// from the sizes without listing the tensors (ParamSpecs allocates one
// entry per tensor per layer), in float64 so that no size overflows. It
// counts every weight matrix and embedding; norms and biases are within
// a fraction of a percent.
func (c *Config) ParamEstimate() float64 {
	H, V, L := float64(c.HiddenSize), float64(c.VocabSize), float64(c.NumLayers)
	q, kv := float64(c.NumHeads*c.HeadDim), float64(c.NumKVHeads*c.HeadDim)
	if c.Arch == ArchGPT2 {
		q, kv = H, H
	}
	emb := V * H
	if !c.TieWordEmbeddings {
		emb *= 2
	}
	if c.Arch == ArchGPT2 {
		emb += float64(c.MaxPositions) * H
	}
	attn := H*(q+2*kv) + q*H
	dense := 3 * H * float64(c.IntermediateSize)
	if c.Arch == ArchGPT2 {
		dense = 2 * H * float64(c.IntermediateSize)
	}
	total := emb
	for l := 0; l < c.NumLayers && l < 1<<12; l++ {
		mlp := dense
		if c.LayerMoE(l) {
			e := float64(c.MoE.NumExperts)
			mlp = e*3*H*float64(c.MoE.IntermediateSize) + e*H
		}
		total += attn + mlp + 4*H
	}
	if c.NumLayers > 1<<12 { // refused by checkSizes; keep the estimate cheap
		total += (L - (1 << 12)) * (attn + dense)
	}
	if math.IsNaN(total) {
		return math.Inf(1)
	}
	return total
}

// largestField names the size that contributes most to the count.
func (c *Config) largestField() string {
	if float64(c.VocabSize) > float64(c.NumLayers)*float64(c.MLPWidth()) {
		return "vocab_size"
	}
	if c.NumLayers > c.HiddenSize/16 {
		return "num_hidden_layers"
	}
	return "hidden_size"
}
