package engine

import (
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// This file is the engine's one builder pair over layout inputs
// ([LayoutInputs]; plain rows are [PlainLayoutInputs]): log-probabilities
// ([LayoutLogProbsGraph]) and token statistics for the losses
// ([LayoutTokenStatsGraph]). Both run forward and then the LM head
// (head.go) on the scored positions only.

// forward runs the forward pass of cfg's family over in and returns the
// final hidden states [B, T, H] and the LM head (head.go).
func forward(n net, cfg *model.Config, in *inputs) (hidden *Node, head lmHead) {
	fam, err := familyOf(cfg)
	if err != nil {
		panic(err)
	}
	if fam == familyGPT2 {
		hidden = gpt2Hidden(n, cfg, in)
	} else {
		hidden = decoderHidden(n, cfg, in)
	}
	return hidden, newHead(n, cfg)
}

// TokenStats are per-token quantities of the next-token distributions of a
// completion forward, as TRL's fused LM head reports them. Every field is
// [B, T] float32; entry t describes the prediction of tokens[t] and is 0
// outside the completion (prompts[b] <= t < lengths[b]).
type TokenStats struct {
	// LogProbs is log p(tokens[t] | tokens[:t]), differentiable: the same
	// values and gradient as [LayoutLogProbsGraph] before its sum.
	LogProbs *Node
	// MeanLogits is the mean of the logits over the vocabulary.
	MeanLogits *Node
	// IsTop1 is 1 where tokens[t] is the argmax of the logits (the first
	// index of the maximum, as TRL's is_top1).
	IsTop1 *Node
	// LogSumSqProbs is log Σ_v p_v² (WPO's normalizer).
	LogSumSqProbs *Node
	// Entropy is -Σ_v p_v log p_v.
	Entropy *Node
	// Mask is 1 inside the completion, else 0.
	Mask *Node
	// AuxLoss is the MoE router's load-balancing loss of this forward
	// over every real token (prompt and completion) of the rows, as
	// transformers' outputs.aux_loss with the attention mask: a
	// differentiable float32 scalar; nil for models without MoE layers.
	AuxLoss *Node
}

// layoutHidden runs the forward over the layout and returns the hidden
// states of the scored positions [N, H] and the LM head.
func layoutHidden(n net, cfg *model.Config, li LayoutInputs) (h *Node, head lmHead) {
	hidden, head := forward(n, cfg, layoutInputs(li)) // [B, T, H]
	B, T, H := hidden.Shape().Dimensions[0], hidden.Shape().Dimensions[1], hidden.Shape().Dimensions[2]
	h = Gather(Reshape(hidden, B*T, H), ExpandAxes(li.Pred, -1)) // [N, H]
	return h, head
}

// layoutLogProbs returns log p(target | context) of every scored position
// [N] (padding entries hold a value of no meaning).
func layoutLogProbs(n net, cfg *model.Config, li LayoutInputs) *Node {
	h, head := layoutHidden(n, cfg, li)
	return head.chunkedLogSoftmaxAt(h, li.Target)
}

// toGrid scatters compact per-position values x [N] into [S, T]: entry
// (s, j) is completion token j of slot s, 0 where there is none. The
// gradient flows back to x.
func toGrid(x, grid *Node) *Node {
	S, T := grid.Shape().Dimensions[0], grid.Shape().Dimensions[1]
	padded := Concatenate([]*Node{x, Zeros(x.Graph(), shapeOf(x.DType(), 1))}, 0) // [N+1]
	return Reshape(Gather(padded, ExpandAxes(Reshape(grid, S*T), -1)), S, T)
}

// LayoutTokenStatsGraph builds, inside a GoMLX graph, the per-token
// log-probabilities of the completions of a layout for the model whose
// weights are the variables of store (see [Model.Store]), and the
// statistics TRL's DPOTrainer logs (logits/*, mean_token_accuracy,
// entropy) and weighs by (use_weighting). It is the forward the training
// stage differentiates. The forward runs once over the layout's rows and
// the head only over its scored positions; the statistics carry no
// gradient and reuse the log-softmax's products of the LM head (a few
// reductions per chunk, no second matmul). Every field is [S, T]: entry
// (s, j) describes completion token j of output slot s (there is no prompt
// offset: a prompt length of 0 in the per-token formulas), 0 beyond the
// completion; with [PlainLayoutInputs], entry (b, t) is token t of row b,
// 0 outside the completion.
//
// opts selects the vocabulary chunk, bf16 mixed precision, gradient
// checkpointing and the LoRA adapter (see [GraphOptions]).
func LayoutTokenStatsGraph(store *gmodel.Store, cfg *model.Config, li LayoutInputs, opts GraphOptions) TokenStats {
	n := net{w: storeWeights(store, li.Tokens.Graph()), opts: opts.withDefaults()}
	n.moe = newLayoutMoERouting(cfg, li) // MoE router statistics (moe.go)
	h, head := layoutHidden(n, cfg, li)
	st := head.stats(h, li.Target)
	grid := func(x *Node) *Node { return toGrid(x, li.Grid) }
	ones := OnesLike(ConvertDType(li.Target, dtypes.Float32))
	return TokenStats{
		LogProbs:      grid(st.LogProbs),
		MeanLogits:    grid(st.MeanLogits),
		IsTop1:        grid(st.IsTop1),
		LogSumSqProbs: grid(st.LogSumSqProbs),
		Entropy:       grid(st.Entropy),
		Mask:          grid(ones),
		AuxLoss:       n.moe.auxLoss(),
	}
}

// LayoutLogProbsGraph is [LayoutTokenStatsGraph]'s log-probabilities
// summed: the completion log-probability of each output slot [S],
// Σ_t log p(token t | tokens before it) over its completion tokens.
func LayoutLogProbsGraph(store *gmodel.Store, cfg *model.Config, li LayoutInputs, opts GraphOptions) *Node {
	n := net{w: storeWeights(store, li.Tokens.Graph()), opts: opts.withDefaults()}
	return ReduceSum(toGrid(layoutLogProbs(n, cfg, li), li.Grid), 1)
}
