package engine

import (
	"fmt"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
)

// This file is the MLP of a decoder layer: the gated MLP of the Llama-like
// families, or Qwen3-MoE's routed mixture of experts (modeling_qwen3_moe's
// Qwen3MoeSparseMoeBlock) on the layers model.Config.LayerMoE marks:
//
//	r = h·W_gateᵀ                                  router logits [N, E]
//	p = softmax(r) in float32
//	S = the top-k experts of p                     (first index on ties)
//	w_e = p_e for e in S, else 0                   (norm_topk_prob: w / Σ_S p)
//	m = Σ_e w_e · down_e(act(gate_e(h)) * up_e(h))
//
// The pure-Go backend has no sparse dispatch: every expert runs on every
// token and the routing weights (zero off the top k) mask the results.
// That is E/k times the expert FLOPs transformers spends (16x for
// Qwen3-30B-A3B's 128 experts, top 8), acceptable for the small models
// this backend trains; a gathered dispatch would need a sort by expert
// and per-expert ragged matmuls.
//
// The router's load-balancing loss (transformers' load_balancing_loss_func,
// which TRL's DPOTrainer adds to the DPO loss) is accumulated over the MoE
// layers of one forward in net.moe (see moeRouting).

// mlp returns layer l's MLP output [B, T, H] for its normed input h
// [B, T, H]: the routed experts on MoE layers, else the gated MLP.
func (n net) mlp(cfg *model.Config, l int, h *Node, act func(*Node) *Node) *Node {
	p := fmt.Sprintf("model.layers.%d.", l)
	if cfg.LayerMoE(l) {
		return n.moeMLP(cfg, p, h, act)
	}
	var gate, up *Node   // [B, T, I]
	if cfg.FusedGateUp { // Phi-3: [gate | up] = chunk(gate_up_proj(h), 2)
		I := cfg.IntermediateSize
		gu := n.linear(h, p+"mlp.gate_up_proj", false)
		gate = Slice(gu, AxisRange(), AxisRange(), AxisRange(0, I))
		up = Slice(gu, AxisRange(), AxisRange(), AxisRange(I, 2*I))
	} else {
		gate = n.linear(h, p+"mlp.gate_proj", cfg.MLPBias)
		up = n.linear(h, p+"mlp.up_proj", cfg.MLPBias)
	}
	return n.linear(Mul(act(gate), up), p+"mlp.down_proj", cfg.MLPBias)
}

// moeMLP is Qwen3MoeSparseMoeBlock for the layer with prefix p, computed
// densely (see the file comment).
//
//	h       [B, T, H]
//	returns [B, T, H]
func (n net) moeMLP(cfg *model.Config, p string, h *Node, act func(*Node) *Node) *Node {
	B, T, H := h.Shape().Dimensions[0], h.Shape().Dimensions[1], h.Shape().Dimensions[2]
	E, I, K := cfg.MoE.NumExperts, cfg.MoE.IntermediateSize, cfg.MoE.TopK
	x := Reshape(h, B*T, H) // [N, H]
	logits := n.dot(x, n.w(model.RouterName(p)), "nh,eh->ne")
	probs := softmaxNode(logits, 1)              // [N, E] float32
	selected := topKMask(StopGradient(probs), K) // [N, E] bool
	weights := Where(selected, probs, ZerosLike(probs))
	if cfg.MoE.NormTopKProb {
		weights = Div(weights, ReduceAndKeep(weights, ReduceSum, 1))
	}
	n.moe.add(probs, selected)
	stack := func(proj string) *Node {
		ws := make([]*Node, E)
		for e := range ws {
			ws[e] = n.w(model.ExpertName(p, e, proj))
		}
		return Stack(ws, 0)
	}
	gate := n.dot(x, stack("gate_proj"), "nh,eih->nei") // [N, E, I]
	up := n.dot(x, stack("up_proj"), "nh,eih->nei")     // [N, E, I]
	a := Mul(Mul(act(gate), up), ExpandAxes(weights, -1))
	a.AssertDims(B*T, E, I)
	out := n.dot(a, stack("down_proj"), "nei,ehi->nh") // [N, H]
	return Reshape(out, B, T, H)
}

// topKMask marks the k largest of each row of p [N, E] (values >= 0) by k
// rounds of ArgMax, each masking its pick (-1) for the next: for the small
// k of MoE routing much cheaper than a sort (GoMLX's TopKMask sorts every
// row with a comparator closure, ~5 allocations per comparison on the
// pure-Go backend). Ties go to the lower index, as ArgMax's.
func topKMask(p *Node, k int) *Node {
	N, E := p.Shape().Dimensions[0], p.Shape().Dimensions[1]
	col := Iota(p.Graph(), shapeOf(dtypes.Int32, N, E), 1)
	var sel *Node
	for range k {
		hit := Equal(col, BroadcastToDims(ExpandAxes(ArgMax(p, 1, dtypes.Int32), 1), N, E)) // [N, E]
		if sel == nil {
			sel = hit
		} else {
			sel = Or(sel, hit)
		}
		p = Where(hit, MulScalar(OnesLike(p), -1), p)
	}
	return sel
}

// moeRouting accumulates, over the MoE layers of one forward, what
// transformers' load_balancing_loss_func sums with the attention mask:
// per expert, the number of real tokens routed to it and their routing
// probabilities. A nil *moeRouting ignores everything (no aux loss wanted).
type moeRouting struct {
	valid   *Node // [N] float32: 1 for real tokens, 0 for padding
	counts  *Node // [E] Σ_layers Σ_real tokens [e in top-k] (no gradient)
	probs   *Node // [E] Σ_layers Σ_real tokens p_e
	layers  int
	experts int
}

// newLayoutMoERouting returns the accumulator for a forward over a layout,
// or nil when cfg has no MoE layer: every token of a segment counts once (padding, doc -1, not at all). That is transformers'
// count only when no prompt is shared between completions (TRL's
// concatenated forward sees a pair's prompt twice): training with the aux
// loss lays MoE pairs out without a shared prompt (pkg/train).
func newLayoutMoERouting(cfg *model.Config, li LayoutInputs) *moeRouting {
	if !cfg.HasMoE() {
		return nil
	}
	B, T := li.Doc.Shape().Dimensions[0], li.Doc.Shape().Dimensions[1]
	valid := GreaterOrEqual(li.Doc, ZerosLike(li.Doc))
	return &moeRouting{valid: Reshape(ConvertDType(valid, dtypes.Float32), B*T), experts: cfg.MoE.NumExperts}
}

// add records one layer's routing probabilities [N, E] and top-k
// selection [N, E] bool.
func (r *moeRouting) add(probs, selected *Node) {
	if r == nil {
		return
	}
	v := ExpandAxes(r.valid, -1)                                      // [N, 1]
	c := ReduceSum(Mul(ConvertDType(selected, dtypes.Float32), v), 0) // [E]
	p := ReduceSum(Mul(probs, v), 0)                                  // [E]
	if r.counts == nil {
		r.counts, r.probs = c, p
	} else {
		r.counts, r.probs = Add(r.counts, c), Add(r.probs, p)
	}
	r.layers++
}

// auxLoss returns load_balancing_loss_func's value, a float32 scalar:
// E · Σ_e (counts_e / rows) · (probs_e / rows), rows = layers · real
// tokens; nil when r is nil or saw no layer.
func (r *moeRouting) auxLoss() *Node {
	if r == nil || r.layers == 0 {
		return nil
	}
	rows := MulScalar(ReduceAllSum(r.valid), float64(r.layers))
	f := Div(StopGradient(r.counts), rows)
	pr := Div(r.probs, rows)
	return MulScalar(ReduceAllSum(Mul(f, pr)), float64(r.experts))
}
