package engine

import (
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// hiddenAndHead runs the forward pass of cfg's family over right-padded
// rows and returns the final hidden states [B, T, H] and the output
// projection [V, H].
func hiddenAndHead(n net, cfg *model.Config, tokens, lengths *Node) (hidden, head *Node) {
	return forward(n, cfg, plainInputs(tokens, lengths))
}

// forward runs the forward pass of cfg's family over in and returns the
// final hidden states [B, T, H] and the output projection [V, H].
func forward(n net, cfg *model.Config, in *inputs) (hidden, head *Node) {
	fam, err := familyOf(cfg)
	if err != nil {
		panic(err)
	}
	if fam == familyGPT2 {
		return gpt2Hidden(n, cfg, in), n.w(gpt2HeadName(cfg))
	}
	return decoderHidden(n, cfg, in), n.w(llamaHeadName(cfg))
}

// chunkedLogSoftmaxAt returns log_softmax(h·headᵀ)[target] for every row,
// without materialising the [N, V] logits: the log-sum-exp runs over
// vocabulary chunks of at most opts.VocabChunk columns, merged online
// (m' = max(m, m_c); s' = s·e^(m-m') + s_c·e^(m_c-m')).
//
// In float32 the target logit is the dot product of h with the gathered
// head row. With bf16 it is picked out of each chunk's (bf16-rounded)
// logits instead, so that, as with torch's log_softmax + gather, its
// gradient joins the softmax's before the product's gradient is rounded to
// bf16 (rounding p and then subtracting 1 is more exact than rounding p-1,
// but it is not what mixed-precision training computes).
//
//	h       [N, H] float32
//	head    [V, H] float32
//	targets [N]    int32
//	returns [N]    float32
func (n net) chunkedLogSoftmaxAt(h, head, targets *Node) *Node {
	return n.chunkedLogSoftmaxEach(h, head, targets, nil)
}

// vocabChunk is what chunkedLogSoftmaxEach hands to its callback for one
// vocabulary chunk: the chunk's first column, its logits [N, C]
// (soft-capped, as the model outputs them), their row max M [N] and
// S = Σ e^(logits-M) [N], both without gradient, and, where the backend
// has a fused softmax, P = softmax(logits) [N, C] without gradient (nil
// otherwise).
type vocabChunk struct {
	start    int
	logits   *Node
	max, sum *Node
	softmax  *Node
}

// chunkedLogSoftmaxEach is chunkedLogSoftmaxAt that also hands each
// vocabulary chunk to each (see vocabChunk), so statistics over the
// vocabulary reuse the head's product and exponentials instead of
// computing them again.
//
// A chunk's S comes from the backend's fused softmax where it has one
// (float32, no bf16): S = 1/max(P), since P's largest entry is
// e^0/S. Its value is then one fast pass instead of an element-wise exp
// (the Go backend's Exp op is slow, see fastexp.go), and its gradient,
// ∂S/∂logits = S·P, is attached with a custom-gradient identity.
func (n net) chunkedLogSoftmaxEach(h, head, targets *Node, each func(c vocabChunk)) *Node {
	V, chunk := head.Shape().Dimensions[0], n.opts.VocabChunk
	N := h.Shape().Dimensions[0]
	var m, s *Node   // [N] running max and sum of exp(logit - m)
	var picked *Node // [N] target logits (bf16 only)
	for start := 0; start < V; start += chunk {
		end := min(start+chunk, V)
		wc := Slice(head, AxisRange(start, end), AxisRange()) // [C, H]
		logits := n.dot(h, wc, "nh,vh->nv")                   // [N, C]
		if n.logitCap > 0 {
			logits = softCap(logits, n.logitCap)
		}
		if n.opts.BF16 {
			col := AddScalar(Iota(h.Graph(), shapeOf(dtypes.Int32, N, end-start), 1), float64(start))
			hit := Equal(col, BroadcastToDims(ExpandAxes(targets, 1), N, end-start)) // [N, C]
			pc := ReduceSum(Where(hit, logits, ZerosLike(logits)), 1)
			if picked == nil {
				picked = pc
			} else {
				picked = Add(picked, pc)
			}
		}
		c := vocabChunk{start: start, logits: logits, max: StopGradient(ReduceMax(logits, 1))}
		var sc *Node // [N] Σ e^(logits-mc), with gradient
		if !n.opts.BF16 {
			c.softmax = fusedSoftmaxValue(logits, 1)
		}
		if c.softmax != nil {
			c.sum = Reciprocal(ReduceMax(c.softmax, 1))
			p := c.softmax
			li := IdentityWithCustomGradient(logits, func(_, v *Node) *Node { return Mul(v, p) })
			z := ReduceSum(li, 1) // value unused: its gradient is P·v
			sc = Add(c.sum, Mul(c.sum, Sub(z, StopGradient(z))))
		} else {
			sc = ReduceSum(expNode(Sub(logits, ExpandAxes(c.max, 1))), 1)
			c.sum = StopGradient(sc)
		}
		if each != nil {
			each(c)
		}
		mc := c.max
		if m == nil {
			m, s = mc, sc
			continue
		}
		mNew := Max(m, mc)
		s = Add(Mul(s, expNode(Sub(m, mNew))), Mul(sc, expNode(Sub(mc, mNew))))
		m = mNew
	}
	lse := Add(m, Log(s)) // [N]
	if picked != nil {
		return Sub(picked, lse)
	}
	wt := Gather(head, ExpandAxes(targets, -1)) // [N, H]
	target := ReduceSum(Mul(h, wt), 1)          // [N]
	if n.logitCap > 0 {
		target = softCap(target, n.logitCap)
	}
	return Sub(target, lse)
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
	hidden, head := hiddenAndHead(n, cfg, tokens, lengths) // [B, T, H], [V, H]
	n.logitCap = cfg.FinalSoftcap                          // Gemma 2's final_logit_softcapping
	H := hidden.Shape().Dimensions[2]
	if T < 2 {
		return ZerosLike(ConvertDType(tokens, dtypes.Float32))
	}
	// Position t predicts token t+1.
	h := Reshape(Slice(hidden, AxisRange(), AxisRange(0, T-1), AxisRange()), B*(T-1), H) // [N, H]
	targets := Reshape(Slice(tokens, AxisRange(), AxisRange(1, T)), B*(T-1))             // [N]
	lp := Reshape(n.chunkedLogSoftmaxAt(h, head, targets), B, T-1)                       // [B, T-1]
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
