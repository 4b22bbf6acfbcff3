package model

import (
	"fmt"
	"math"
)

// phi3 reads a Phi3Config (configuration_phi3.py): the Llama block with
// fused qkv_proj and gate_up_proj, no biases, an optional sliding_window on
// every layer (default none), partial_rotary_factor, and rope_parameters
// (or transformers 4's rope_scaling) of type default or longrope ("su"
// and "yarn" are read as longrope, as Phi3Config.convert_rope_params_to_dict
// does).
func (r rawConfig) phi3() (*Config, error) {
	def := familyDefaults{32064, 3072, 8192, 32, 32, 0, 0, 4096, []int{1}, []int{32000}, 10000}
	c := &Config{Arch: ArchPhi3, FusedQKV: true, FusedGateUp: true}
	if err := r.common(c, def, "hidden_size", "intermediate_size", "num_hidden_layers",
		"num_attention_heads", "max_position_embeddings", "tie_word_embeddings", false); err != nil {
		return nil, err
	}
	if err := r.headsNormSiLU(c); err != nil {
		return nil, err
	}
	if v, ok := r.m["sliding_window"]; ok && v != nil {
		w, err := toInt("sliding_window", v)
		if err != nil {
			return nil, err
		}
		if w <= 0 {
			return nil, fmt.Errorf("field %q: must be positive or null, got %d", "sliding_window", w)
		}
		c.SlidingWindow = w
	}
	if err := r.phi3Rope(c); err != nil {
		return nil, err
	}
	return c, nil
}

// phi3Rope reads Phi-3's rotary settings; see phi3.
func (r rawConfig) phi3Rope(c *Config) error {
	var err error
	if c.RopeTheta, err = r.float("rope_theta", 10000); err != nil {
		return err
	}
	key, block := "rope_parameters", map[string]any(nil)
	for _, k := range []string{"rope_scaling", "rope_parameters"} {
		if m, ok := r.m[k].(map[string]any); ok && len(m) > 0 {
			key, block = k, m
			break
		} else if r.has(k) && !ok {
			return fmt.Errorf("field %q: want an object, got %v", k, r.m[k])
		}
	}
	sub := rawConfig{m: block}
	if block == nil {
		sub.m = map[string]any{}
	}
	wrap := func(err error) error { return fmt.Errorf("field %q: %w", key, err) }
	if sub.has("rope_theta") {
		if c.RopeTheta, err = sub.float("rope_theta", 0); err != nil {
			return wrap(err)
		}
	}
	prf, err := r.float("partial_rotary_factor", 1)
	if err != nil {
		return err
	}
	if sub.has("partial_rotary_factor") { // the block's wins (standardize_rope_params)
		if prf, err = sub.float("partial_rotary_factor", 1); err != nil {
			return wrap(err)
		}
	}
	if !(prf > 0 && prf <= 1) {
		return fmt.Errorf("field %q: must be in (0, 1], got %g", "partial_rotary_factor", prf)
	}
	c.RotaryDim = int(float64(c.HeadDim) * prf) // int(head_dim * partial_rotary_factor)
	if c.RotaryDim%2 != 0 || c.RotaryDim == 0 {
		return fmt.Errorf("field %q: head_dim %d x %g gives %d rotary dimensions; want a positive even number",
			"partial_rotary_factor", c.HeadDim, prf, c.RotaryDim)
	}
	if c.RotaryDim == c.HeadDim {
		c.RotaryDim = 0
	}
	typ, err := sub.string("rope_type", "")
	if err != nil {
		return wrap(err)
	}
	if typ == "" {
		if typ, err = sub.string("type", ""); err != nil {
			return wrap(err)
		}
	}
	switch typ {
	case "", "default":
		return nil
	case "longrope", "su", "yarn":
	default:
		return fmt.Errorf("field %q: rope type %q is not supported for Phi-3 (transformers accepts default and longrope)", key, typ)
	}
	rs := &RopeScaling{RopeType: "longrope"}
	orig := 4096 // Phi3Config.original_max_position_embeddings; the top level wins
	if r.has("original_max_position_embeddings") {
		orig, err = r.int("original_max_position_embeddings", 0)
	} else {
		orig, err = sub.int("original_max_position_embeddings", orig)
	}
	if err != nil {
		return wrap(err)
	}
	if orig <= 0 {
		return fmt.Errorf("field %q: original_max_position_embeddings must be positive, got %d", key, orig)
	}
	rs.OriginalMaxPositionEmbeddings = orig
	rd := c.RotaryDim
	if rd == 0 {
		rd = c.HeadDim
	}
	for _, f := range []struct {
		name string
		dst  *[]float64
	}{{"short_factor", &rs.ShortFactor}, {"long_factor", &rs.LongFactor}} {
		list, ok := sub.m[f.name].([]any)
		if !ok || len(list) != rd/2 {
			return fmt.Errorf("field %q: longrope needs %q as a list of %d numbers (rotary dimensions / 2), got %v", key, f.name, rd/2, sub.m[f.name])
		}
		for _, e := range list {
			v, err := toFloat(f.name, e)
			if err != nil {
				return wrap(err)
			}
			if !(v > 0) {
				return fmt.Errorf("field %q: %s values must be positive, got %g", key, f.name, v)
			}
			*f.dst = append(*f.dst, v)
		}
	}
	if sub.has("factor") {
		if rs.Factor, err = sub.float("factor", 0); err != nil {
			return wrap(err)
		}
	} else {
		rs.Factor = float64(c.MaxPositions) / float64(orig)
	}
	if sub.has("attention_factor") {
		if rs.AttentionFactor, err = sub.float("attention_factor", 0); err != nil {
			return wrap(err)
		}
	} else if rs.Factor <= 1 {
		rs.AttentionFactor = 1
	} else {
		rs.AttentionFactor = math.Sqrt(1 + math.Log(rs.Factor)/math.Log(float64(orig)))
	}
	c.RopeScaling = rs
	return nil
}
