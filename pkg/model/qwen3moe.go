package model

import (
	"fmt"
	"strings"

	"github.com/dpo-go/dpo/pkg/safetensors"
)

// MoE is the mixture-of-experts part of a config (Qwen3MoeConfig): which
// layers replace the MLP by a routed block of experts, and how tokens are
// routed. The zero value means no MoE layer.
type MoE struct {
	// NumExperts is num_experts (transformers 5 writes num_local_experts).
	NumExperts int
	// TopK is num_experts_per_tok: the experts each token is routed to.
	TopK int
	// IntermediateSize is moe_intermediate_size, each expert's MLP width.
	IntermediateSize int
	// NormTopKProb renormalises the top-k routing probabilities to sum 1.
	NormTopKProb bool
	// RouterAuxLossCoef is router_aux_loss_coef, the weight of the
	// load-balancing loss in training (TRL's default for
	// --router-aux-loss-coef).
	RouterAuxLossCoef float64
	// OutputRouterLogits is output_router_logits (kept for the record;
	// TRL's DPOTrainer computes the aux loss whatever its value).
	OutputRouterLogits bool
	// Sparse[l] is true where layer l is a routed MoE block: not in
	// mlp_only_layers, num_experts > 0 and (l+1) % decoder_sparse_step == 0.
	Sparse []bool
}

// LayerMoE reports whether layer l's MLP is a routed mixture of experts.
func (c *Config) LayerMoE(l int) bool {
	return l >= 0 && l < len(c.MoE.Sparse) && c.MoE.Sparse[l]
}

// HasMoE reports whether any layer is a routed mixture of experts.
func (c *Config) HasMoE() bool {
	for _, s := range c.MoE.Sparse {
		if s {
			return true
		}
	}
	return false
}

// MLPWidth is the widest per-token MLP activation the engine computes: the
// dense MLP's intermediate_size, or on MoE layers num_experts ×
// moe_intermediate_size (every expert runs on every token; see
// pkg/engine/moe.go). For memory estimates.
func (c *Config) MLPWidth() int {
	w := c.IntermediateSize
	if c.HasMoE() {
		w = max(w, c.MoE.NumExperts*c.MoE.IntermediateSize)
	}
	return w
}

// qwen3Moe reads Qwen3MoeConfig's own fields (configuration_qwen3_moe.py)
// into c after the Llama-family fields: num_experts (128; the saved JSON
// calls it num_local_experts), num_experts_per_tok (8),
// moe_intermediate_size (768), decoder_sparse_step (1), mlp_only_layers
// ([]), norm_topk_prob (false), router_aux_loss_coef (0.001),
// output_router_logits (false). Qwen3-MoE has no shared experts.
func (r rawConfig) qwen3Moe(c *Config) error {
	m := &c.MoE
	var err error
	key := "num_experts"
	if !r.has(key) && r.has("num_local_experts") {
		key = "num_local_experts"
	}
	if m.NumExperts, err = r.int(key, 128); err != nil {
		return err
	}
	if m.TopK, err = r.int("num_experts_per_tok", 8); err != nil {
		return err
	}
	if m.IntermediateSize, err = r.int("moe_intermediate_size", 768); err != nil {
		return err
	}
	step, err := r.int("decoder_sparse_step", 1)
	if err != nil {
		return err
	}
	if m.NormTopKProb, err = r.bool("norm_topk_prob", false); err != nil {
		return err
	}
	if m.RouterAuxLossCoef, err = r.float("router_aux_loss_coef", 0.001); err != nil {
		return err
	}
	if m.OutputRouterLogits, err = r.bool("output_router_logits", false); err != nil {
		return err
	}
	for _, k := range []string{"shared_expert_intermediate_size", "n_shared_experts"} {
		if r.has(k) {
			return fmt.Errorf("field %q: shared experts are not part of Qwen3-MoE (is model_type right?)", k)
		}
	}
	if m.NumExperts < 0 {
		return fmt.Errorf("field %q: must not be negative, got %d", key, m.NumExperts)
	}
	if step < 1 {
		return fmt.Errorf("field %q: must be >= 1, got %d", "decoder_sparse_step", step)
	}
	if c.NumLayers <= 0 || c.NumLayers > 1<<16 {
		return nil // Validate / layerTypes report num_hidden_layers
	}
	only := make([]bool, c.NumLayers)
	if v, ok := r.m["mlp_only_layers"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("field %q: want a list of layer indices, got %s", "mlp_only_layers", describeJSON(v))
		}
		for _, e := range list {
			i, err := toInt("mlp_only_layers", e)
			if err != nil {
				return err
			}
			if i < 0 || i >= c.NumLayers {
				return fmt.Errorf("field %q: layer %d is out of range [0, %d)", "mlp_only_layers", i, c.NumLayers)
			}
			only[i] = true
		}
	}
	m.Sparse = make([]bool, c.NumLayers)
	for l := range m.Sparse {
		m.Sparse[l] = !only[l] && m.NumExperts > 0 && (l+1)%step == 0
	}
	if !c.HasMoE() {
		m.Sparse = nil
	}
	return nil // Validate checks the rest (MoE.validate)
}

// validate checks the MoE fields of a config with n layers (a config
// built in code, not read by qwen3Moe, included).
func (m *MoE) validate(n int) error {
	if m.Sparse == nil {
		return nil
	}
	switch {
	case len(m.Sparse) != n:
		return fmt.Errorf("MoE: %d sparse-layer flags for %d layers", len(m.Sparse), n)
	case m.NumExperts <= 0:
		return fmt.Errorf("field %q: must be positive with routed layers, got %d", "num_experts", m.NumExperts)
	case m.TopK < 1 || m.TopK > m.NumExperts:
		return fmt.Errorf("field %q: must be in [1, num_experts=%d], got %d", "num_experts_per_tok", m.NumExperts, m.TopK)
	case m.IntermediateSize <= 0:
		return fmt.Errorf("field %q: must be positive, got %d", "moe_intermediate_size", m.IntermediateSize)
	case !(m.RouterAuxLossCoef >= 0):
		return fmt.Errorf("field %q: must not be negative, got %g", "router_aux_loss_coef", m.RouterAuxLossCoef)
	}
	return nil
}

// ExpertName is the tensor of expert e's projection proj ("gate_proj",
// "up_proj" or "down_proj") in the MoE block with prefix p
// ("model.layers.<l>."), as transformers 5's save_pretrained writes
// Qwen3-MoE experts (one nn.Linear-shaped tensor per expert).
func ExpertName(p string, e int, proj string) string {
	return fmt.Sprintf("%smlp.experts.%d.%s.weight", p, e, proj)
}

// RouterName is the router weight [num_experts, hidden] of the MoE block
// with prefix p.
func RouterName(p string) string { return p + "mlp.gate.weight" }

// moeSpecs are the parameters of a routed MoE layer with prefix p: each
// expert's gate_proj and up_proj [I, H] and down_proj [H, I], then the
// router [E, H], all initialised normal(0, initializer_range) as
// Qwen3MoePreTrainedModel._init_weights does.
func moeSpecs(c *Config, p string) []ParamSpec {
	H, I, std := c.HiddenSize, c.MoE.IntermediateSize, c.InitializerRange
	specs := make([]ParamSpec, 0, 3*c.MoE.NumExperts+1)
	for e := range c.MoE.NumExperts {
		specs = append(specs, weight(ExpertName(p, e, "gate_proj"), std, I, H),
			weight(ExpertName(p, e, "up_proj"), std, I, H), weight(ExpertName(p, e, "down_proj"), std, H, I))
	}
	return append(specs, weight(RouterName(p), std, c.MoE.NumExperts, H))
}

// fusedExperts reports a tensor that stores a layer's experts fused, as
// transformers 5's in-memory module holds them (mlp.experts.gate_up_proj
// [E, 2I, H], mlp.experts.down_proj [E, H, I]). save_pretrained writes one
// tensor per expert instead, which is what Save writes; Load reads both.
func fusedExperts(name string) bool {
	return strings.HasSuffix(name, ".mlp.experts.gate_up_proj") || strings.HasSuffix(name, ".mlp.experts.down_proj")
}

// splitFusedExperts turns a fused experts tensor of layer prefix p
// (mlp.experts.gate_up_proj [E, 2I, H]: rows [gate; up] per expert, as
// Qwen3MoeExperts chunks them; mlp.experts.down_proj [E, H, I]) into the
// per-expert tensors save_pretrained writes, aliasing t's bytes.
func splitFusedExperts(c *Config, name string, t *safetensors.Tensor) (map[string]*safetensors.Tensor, error) {
	E, H, I := c.MoE.NumExperts, c.HiddenSize, c.MoE.IntermediateSize
	p := strings.TrimSuffix(strings.TrimSuffix(name, "mlp.experts.gate_up_proj"), "mlp.experts.down_proj")
	l := -1
	if _, err := fmt.Sscanf(p, "model.layers.%d.", &l); err != nil || fmt.Sprintf("model.layers.%d.", l) != p || !c.LayerMoE(l) {
		return nil, fmt.Errorf("tensor %q: unexpected weight for %s (not a routed MoE layer)", name, c.Arch)
	}
	gateUp := strings.HasSuffix(name, "gate_up_proj")
	want := []int{E, H, I}
	if gateUp {
		want = []int{E, 2 * I, H}
	}
	if !equalShape(t.Shape, want) {
		return nil, fmt.Errorf("tensor %q: expected shape %v, found %v", name, want, t.Shape)
	}
	sz := t.DType.Size()
	per := I * H * sz // bytes of one [I, H] or [H, I] matrix
	if len(t.Data) != E*per*(1+boolInt(gateUp)) {
		return nil, fmt.Errorf("tensor %q: %d bytes for shape %v", name, len(t.Data), t.Shape)
	}
	out := map[string]*safetensors.Tensor{}
	add := func(proj string, e int, data []byte, shape ...int) {
		n := ExpertName(p, e, proj)
		out[n] = &safetensors.Tensor{Name: n, DType: t.DType, Shape: shape, Data: data}
	}
	for e := range E {
		if gateUp {
			base := e * 2 * per
			add("gate_proj", e, t.Data[base:base+per], I, H)
			add("up_proj", e, t.Data[base+per:base+2*per], I, H)
		} else {
			add("down_proj", e, t.Data[e*per:(e+1)*per], H, I)
		}
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// bindFusedExperts adds the per-expert tensors of a fused experts tensor.
func (ck *Checkpoint) bindFusedExperts(name string, t *safetensors.Tensor) error {
	parts, err := splitFusedExperts(ck.Config, name, t)
	if err != nil {
		return err
	}
	for n, pt := range parts {
		if _, dup := ck.Tensors[n]; dup {
			return fmt.Errorf("tensor %q: expert weights present both fused and as %q", name, n)
		}
		ck.Tensors[n] = pt
	}
	return nil
}

// qwen3MoeWindow reads Qwen3MoeConfig's sliding window: sliding_window
// (default 4096) when use_sliding_window, on every layer (Qwen3MoeModel
// builds one sliding mask for all layers; it has no layer_types or
// max_window_layers).
func (r rawConfig) qwen3MoeWindow(c *Config) error {
	use, err := r.bool("use_sliding_window", false)
	if err != nil || !use {
		return err
	}
	w := 4096
	if v, ok := r.m["sliding_window"]; ok {
		if v == nil {
			return nil
		}
		if w, err = toInt("sliding_window", v); err != nil {
			return err
		}
	}
	if w < 0 {
		return fmt.Errorf("field %q: must not be negative, got %d", "sliding_window", w)
	}
	c.SlidingWindow = w
	return nil
}
