package engine

import (
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
)

// lmHead is the model's output layer: the projection [V, H] and Gemma 2's
// final_logit_softcapping. It is the one place where logits are made:
// every logit the engine computes (the chunked log-softmax of scoring and
// training, the statistics over the vocabulary, generation's next-token
// logits) goes through capped.
type lmHead struct {
	n       net
	w       *Node   // [V, H]
	softcap float64 // cap·tanh(logit/cap); 0: off
}

// newHead is the LM head of cfg's family in the forward n.
func newHead(n net, cfg *model.Config) lmHead {
	fam, err := familyOf(cfg)
	if err != nil {
		panic(err)
	}
	name := llamaHeadName(cfg)
	if fam == familyGPT2 {
		name = gpt2HeadName(cfg)
	}
	return lmHead{n: n, w: n.w(name), softcap: cfg.FinalSoftcap}
}

// capped soft-caps logits as the model outputs them.
func (hd lmHead) capped(logits *Node) *Node {
	if hd.softcap > 0 {
		return softCap(logits, hd.softcap)
	}
	return logits
}

// logits returns the full logits of h [N, H]: [N, V] float32, soft-capped.
func (hd lmHead) logits(h *Node) *Node {
	return hd.capped(hd.n.dot(h, hd.w, "nh,vh->nv"))
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
//	targets [N]    int32
//	returns [N]    float32
func (hd lmHead) chunkedLogSoftmaxAt(h, targets *Node) *Node {
	return hd.chunkedLogSoftmaxEach(h, targets, nil)
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
func (hd lmHead) chunkedLogSoftmaxEach(h, targets *Node, each func(c vocabChunk)) *Node {
	n, head := hd.n, hd.w
	V, chunk := head.Shape().Dimensions[0], n.opts.VocabChunk
	N := h.Shape().Dimensions[0]
	var m, s *Node   // [N] running max and sum of exp(logit - m)
	var picked *Node // [N] target logits (bf16 only)
	for start := 0; start < V; start += chunk {
		end := min(start+chunk, V)
		wc := Slice(head, AxisRange(start, end), AxisRange()) // [C, H]
		logits := hd.capped(n.dot(h, wc, "nh,vh->nv"))        // [N, C]
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
	wt := Gather(head, ExpandAxes(targets, -1))   // [N, H]
	target := hd.capped(ReduceSum(Mul(h, wt), 1)) // [N]
	return Sub(target, lse)
}

// stats returns, for hidden states h [N, H] and targets [N], the
// log-probabilities and TRL's statistics of each row [N] (Mask unset).
func (hd lmHead) stats(h, targets *Node) TokenStats {
	// Statistics: an online pass over the head's vocabulary chunks (the
	// same products the log-softmax uses, without gradient) with running
	// max m and its first index, s = Σ e^(l-m), s2 = Σ e^(2(l-m)),
	// e = Σ e^(l-m)·l and the sum of the logits.
	V := hd.w.Shape().Dimensions[0]
	var m, s, s2, e, sum, arg *Node
	lp := hd.chunkedLogSoftmaxEach(h, targets, func(c vocabChunk) { // [N]
		logits := StopGradient(c.logits)
		ac := AddScalar(ArgMax(logits, 1, dtypes.Int32), float64(c.start))
		mc, sc := c.max, c.sum
		var s2c, ec *Node
		if p := c.softmax; p != nil { // s2 = S²·Σ P², e = S·Σ P·l
			s2c = Mul(Square(sc), ReduceSum(Square(p), 1))
			ec = Mul(sc, ReduceSum(Mul(p, logits), 1))
		} else {
			ex := expNode(Sub(logits, ExpandAxes(mc, 1)))
			s2c, ec = ReduceSum(Square(ex), 1), ReduceSum(Mul(ex, logits), 1)
		}
		sumc := ReduceSum(logits, 1)
		if m == nil {
			m, s, s2, e, sum, arg = mc, sc, s2c, ec, sumc, ac
			return
		}
		arg = Where(GreaterThan(mc, m), ac, arg) // an earlier chunk keeps ties
		mNew := Max(m, mc)
		a, b := expNode(Sub(m, mNew)), expNode(Sub(mc, mNew))
		s = Add(Mul(s, a), Mul(sc, b))
		s2 = Add(Mul(s2, Square(a)), Mul(s2c, Square(b)))
		e = Add(Mul(e, a), Mul(ec, b))
		sum, m = Add(sum, sumc), mNew
	})
	lse := Add(m, Log(s))
	top1 := Equal(arg, targets)
	return TokenStats{
		LogProbs:      lp,
		MeanLogits:    DivScalar(sum, float64(V)),
		IsTop1:        Where(top1, OnesLike(m), ZerosLike(m)),
		LogSumSqProbs: Sub(Log(s2), MulScalar(Log(s), 2)),
		Entropy:       Sub(lse, Div(e, s)),
	}
}
