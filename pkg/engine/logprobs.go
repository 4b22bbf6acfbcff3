package engine

import (
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
	gmodel "github.com/gomlx/gomlx/ml/model"
)

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

// tokenLogProbsGraph returns per-token completion log-probabilities.
//
//	tokens  [B, T] int32, right padded
//	lengths [B]    int32, 1 <= lengths[b] <= T
//	prompts [B]    int32, 1 <= prompts[b] <= lengths[b]
//	returns [B, T] float32: entry t is log p(tokens[t] | tokens[:t]) when
//	        prompts[b] <= t < lengths[b], else 0.
func tokenLogProbsGraph(n net, cfg *model.Config, tokens, lengths, prompts *Node) *Node {
	g := tokens.Graph()
	B, T := tokens.Shape().Dimensions[0], tokens.Shape().Dimensions[1]
	hidden, head := forward(n, cfg, plainInputs(tokens, lengths)) // [B, T, H]
	H := hidden.Shape().Dimensions[2]
	if T < 2 {
		return ZerosLike(ConvertDType(tokens, dtypes.Float32))
	}
	// Position t predicts token t+1.
	h := Reshape(Slice(hidden, AxisRange(), AxisRange(0, T-1), AxisRange()), B*(T-1), H) // [N, H]
	targets := Reshape(Slice(tokens, AxisRange(), AxisRange(1, T)), B*(T-1))             // [N]
	lp := Reshape(head.chunkedLogSoftmaxAt(h, targets), B, T-1)                          // [B, T-1]
	lp = Concatenate([]*Node{Zeros(g, shapeOf(dtypes.Float32, B, 1)), lp}, 1)            // [B, T]
	pos := Iota(g, shapeOf(dtypes.Int32, B, T), 1)
	inCompletion := And(
		GreaterOrEqual(pos, BroadcastToDims(ExpandAxes(prompts, 1), B, T)),
		LessThan(pos, BroadcastToDims(ExpandAxes(lengths, 1), B, T)))
	return Where(inCompletion, lp, ZerosLike(lp))
}

// CompletionLogProbsGraph builds, inside a GoMLX graph, the summed
// completion log-probability of each row for the model whose weights are
// the variables of store (see [Model.Store]). It is the forward the
// training stage differentiates.
//
//	tokens  [B, T] int32, right padded
//	lengths [B]    int32, 1 <= lengths[b] <= T
//	prompts [B]    int32, 1 <= prompts[b] <= lengths[b]
//	returns [B]    float32: Σ_{prompts[b] <= t < lengths[b]} log p(tokens[t] | tokens[:t])
//
// opts selects the vocabulary chunk, bf16 mixed precision and gradient
// checkpointing (see [GraphOptions]).
func CompletionLogProbsGraph(store *gmodel.Store, cfg *model.Config, tokens, lengths, prompts *Node, opts GraphOptions) *Node {
	n := net{w: storeWeights(store, tokens.Graph()), opts: opts.withDefaults()}
	return ReduceSum(tokenLogProbsGraph(n, cfg, tokens, lengths, prompts), 1)
}
