package engine

import (
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// TokenStats are per-token quantities of the next-token distributions of a
// completion forward, as TRL's fused LM head reports them. Every field is
// [B, T] float32; entry t describes the prediction of tokens[t] and is 0
// outside the completion (prompts[b] <= t < lengths[b]).
type TokenStats struct {
	// LogProbs is log p(tokens[t] | tokens[:t]), differentiable: the same
	// values and gradient as [CompletionLogProbsGraph] before its sum.
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

// CompletionTokenStatsGraph is [CompletionLogProbsGraph] with per-token
// outputs and the statistics TRL's DPOTrainer logs (logits/*,
// mean_token_accuracy, entropy) and weighs by (use_weighting). The
// statistics carry no gradient and reuse the log-softmax's products of
// the LM head (a few reductions per chunk, no second matmul). Shapes as for
// CompletionLogProbsGraph.
func CompletionTokenStatsGraph(store *gmodel.Store, cfg *model.Config, tokens, lengths, prompts *Node, opts GraphOptions) TokenStats {
	n := net{w: storeWeights(store, tokens.Graph()), opts: opts.withDefaults()}
	g := tokens.Graph()
	B, T := tokens.Shape().Dimensions[0], tokens.Shape().Dimensions[1]
	pos := Iota(g, shapeOf(dtypes.Int32, B, T), 1)
	inCompletion := And(
		GreaterOrEqual(pos, BroadcastToDims(ExpandAxes(prompts, 1), B, T)),
		LessThan(pos, BroadcastToDims(ExpandAxes(lengths, 1), B, T)))
	zerosBT := Zeros(g, shapeOf(dtypes.Float32, B, T))
	mask := Where(inCompletion, OnesLike(zerosBT), zerosBT)
	if T < 2 {
		return TokenStats{LogProbs: zerosBT, MeanLogits: zerosBT, IsTop1: zerosBT, LogSumSqProbs: zerosBT, Entropy: zerosBT, Mask: mask}
	}
	n.moe = newMoERouting(cfg, tokens, lengths)                   // MoE router statistics (moe.go)
	hidden, head := forward(n, cfg, plainInputs(tokens, lengths)) // [B, T, H]
	H := hidden.Shape().Dimensions[2]
	h := Reshape(Slice(hidden, AxisRange(), AxisRange(0, T-1), AxisRange()), B*(T-1), H) // [N, H]
	targets := Reshape(Slice(tokens, AxisRange(), AxisRange(1, T)), B*(T-1))             // [N]
	st := head.stats(h, targets)
	perTok := func(x *Node) *Node { // [N] -> [B, T], 0 outside the completion
		x = Concatenate([]*Node{Zeros(g, shapeOf(dtypes.Float32, B, 1)), Reshape(x, B, T-1)}, 1)
		return Where(inCompletion, x, ZerosLike(x))
	}
	return TokenStats{
		LogProbs:      perTok(st.LogProbs),
		MeanLogits:    perTok(st.MeanLogits),
		IsTop1:        perTok(st.IsTop1),
		LogSumSqProbs: perTok(st.LogSumSqProbs),
		Entropy:       perTok(st.Entropy),
		Mask:          mask,
		AuxLoss:       n.moe.auxLoss(),
	}
}
