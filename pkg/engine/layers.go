package engine

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads better unqualified.
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// weights returns the value node of the variable holding HF tensor name.
type weights func(name string) *Node

func storeWeights(store *gmodel.Store, g *Graph) weights {
	return func(name string) *Node {
		v := store.GetVariable("/" + name)
		if v == nil {
			panic(fmt.Errorf("engine: model has no weight %q", name))
		}
		return v.NodeValue(g)
	}
}

// linear applies the HF nn.Linear module (weight "<module>.weight",
// bias "<module>.bias" when hasBias): x [..., in] · W[out, in]ᵀ (+ b[out])
// -> [..., out], plus the module's LoRA update when it has one.
func (n net) linear(x *Node, module string, hasBias bool) *Node {
	var b *Node
	if hasBias {
		b = n.w(module + ".bias")
	}
	return n.adapted(x, module, n.dense(x, n.w(module+".weight"), b, "ni,oi->no"))
}

// conv1D applies GPT-2's Conv1D module: x [..., in] · W[in, out] + b[out]
// -> [..., out], plus the module's LoRA update when it has one.
func (n net) conv1D(x *Node, module string) *Node {
	return n.adapted(x, module, n.dense(x, n.w(module+".weight"), n.w(module+".bias"), "ni,io->no"))
}

// dense is x [..., in] times w (eq names the flattened product
// [N, in] x w -> [N, out]) plus b.
func (n net) dense(x, w, b *Node, eq string) *Node {
	dims := x.Shape().Dimensions
	in := dims[len(dims)-1]
	flat := Reshape(x, -1, in) // [N, in]
	y := n.dot(flat, w, eq)    // [N, out]
	if b != nil {
		y = Add(y, ExpandAxes(b, 0))
	}
	out := y.Shape().Dimensions[1]
	outDims := append(append([]int{}, dims[:len(dims)-1]...), out)
	return Reshape(y, outDims...)
}

// rmsNorm is HF LlamaRMSNorm over the last axis, in float32:
// w * x / sqrt(mean(x²) + eps).
func rmsNorm(x, w *Node, eps float64) *Node {
	last := x.Rank() - 1
	ms := ReduceAndKeep(Square(x), ReduceMean, last)
	y := Div(x, Sqrt(AddScalar(ms, eps))) // Sqrt, not Rsqrt: GoMLX has no Rsqrt gradient.
	return Mul(y, ExpandLeftToRank(w, x.Rank()))
}

// layerNorm is torch.nn.LayerNorm over the last axis (biased variance).
func layerNorm(x, w, b *Node, eps float64) *Node {
	last := x.Rank() - 1
	mean := ReduceAndKeep(x, ReduceMean, last)
	c := Sub(x, mean)
	variance := ReduceAndKeep(Square(c), ReduceMean, last)
	y := Div(c, Sqrt(AddScalar(variance, eps)))
	return Add(Mul(y, ExpandLeftToRank(w, x.Rank())), ExpandLeftToRank(b, x.Rank()))
}

// activation returns the function for an HF hidden_act / activation_function name.
func activation(name, def string) (func(*Node) *Node, error) {
	if name == "" {
		name = def
	}
	switch name {
	case "silu", "swish":
		return func(x *Node) *Node { return Mul(x, sigmoidNode(x)) }, nil
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
		return func(x *Node) *Node {
			inner := MulScalar(Add(x, MulScalar(Mul(x, Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
			return Mul(MulScalar(x, 0.5), OnePlus(Tanh(inner)))
		}, nil
	case "gelu":
		// Exact: 0.5·x·(1 + erf(x/√2))
		return func(x *Node) *Node {
			return Mul(MulScalar(x, 0.5), OnePlus(Erf(MulScalar(x, 1/math.Sqrt2))))
		}, nil
	case "relu":
		return func(x *Node) *Node { return Max(x, ZerosLike(x)) }, nil
	}
	return nil, fmt.Errorf("engine: unsupported activation %q", name)
}

// attention is grouped-query scaled dot-product attention.
//
//	q    [B, T, nH, D]
//	k, v [B, Tk, nKV, D] (Tk = T, or a KV cache's capacity)
//	mask [B, 1, 1, T, Tk]
//	out  [B, T, nH*D]
func (n net) attention(q, k, v, mask *Node, scale float64) *Node {
	return n.attentionCapped(q, k, v, mask, scale, 0)
}

// attentionCapped is attention with Gemma 2's soft-capping of the scaled
// scores, cap·tanh(scores/cap), before the mask (off when softcap is 0).
func (n net) attentionCapped(q, k, v, mask *Node, scale, softcap float64) *Node {
	B, T, nH, D := q.Shape().Dimensions[0], q.Shape().Dimensions[1], q.Shape().Dimensions[2], q.Shape().Dimensions[3]
	nKV, Tk := k.Shape().Dimensions[2], k.Shape().Dimensions[1]
	G := nH / nKV
	// Heads-major operands ([B, nKV, G, T, D] queries, [B, nKV, Tk, D]
	// keys and values) put the batch axes first and the contracted axis
	// last or next to last, so the Go backend's matmul takes both products
	// (and their gradients) without transposing its operands: three
	// transposes in, one out, instead of several per product.
	if n.scaleQueries(scale) {
		q = MulScalar(q, scale)
	}
	qg := TransposeAllDims(Reshape(q, B, T, nKV, G, D), 0, 2, 3, 1, 4) // [B, nKV, G, T, D]
	k = TransposeAllDims(k, 0, 2, 1, 3)                                // [B, nKV, Tk, D]
	v = TransposeAllDims(v, 0, 2, 1, 3)                                // [B, nKV, Tk, D]
	kv := "bksd"
	if n.opts.BF16 && G > 1 {
		// As transformers' repeat_kv: every query head gets its own copy of
		// its key/value head, so the bf16 rounding of their gradients is
		// per query head, summed afterwards in float32.
		k = BroadcastToDims(Reshape(k, B, nKV, 1, Tk, D), B, nKV, G, Tk, D)
		v = BroadcastToDims(Reshape(v, B, nKV, 1, Tk, D), B, nKV, G, Tk, D)
		kv = "bkgsd"
	}
	scores := n.headsDot(qg, k, "bkgqd,"+kv+"->bkgqs", 1) // [B, nKV, G, Tq, Ts]
	if !n.scaleQueries(scale) {
		scores = MulScalar(scores, scale)
	}
	if softcap > 0 {
		scores = softCap(scores, softcap)
	}
	full := BroadcastToDims(mask, B, nKV, G, T, Tk)
	// Masked scores get the lowest finite float32, as transformers' eager
	// attention adds torch.finfo.min: a query with no visible key (a
	// padding position beyond a sliding window) gets a uniform row instead
	// of NaN, and no NaN reaches real rows through probs·v (0·NaN is NaN).
	// For every other row exp(lowest - max) is exactly 0, as with -inf.
	scores = Where(full, scores, Scalar(q.Graph(), scores.DType(), -math.MaxFloat32))
	probs := softmaxNode(scores, -1)                      // [B, nKV, G, Tq, Ts]
	out := n.headsDot(probs, v, "bkgqs,"+kv+"->bkgqd", 0) // [B, nKV, G, Tq, D]
	return Reshape(TransposeAllDims(out, 0, 3, 1, 2, 4), B, T, nH*D)
}

// headsDot is n.dot(x, y, eq) for attention's two products, x
// [B, nKV, G, T, ·] and y [B, nKV, Tk, D] (eq's batch axes B and nKV, x's
// rows G·T), contracting y's axis 2+wAxis: in float32 a matmulNode batched
// over B·nKV (its gradient laid out for the backend); with bf16, n.dot.
func (n net) headsDot(x, y *Node, eq string, wAxis int) *Node {
	if n.opts.BF16 {
		return n.dot(x, y, eq)
	}
	xd, yd := x.Shape().Dimensions, y.Shape().Dimensions
	out := matmulNode(Reshape(x, xd[0]*xd[1], xd[2]*xd[3], xd[4]), Reshape(y, yd[0]*yd[1], yd[2], yd[3]), wAxis)
	return Reshape(out, xd[0], xd[1], xd[2], xd[3], out.Shape().Dimensions[2])
}

// scaleQueries reports whether attention scales the queries before the
// product instead of the scores after it: fewer values to scale (T·D per
// head instead of T·Tk). Exact for a power-of-two scale (1/8 for head_dim
// 64); otherwise the scores differ from transformers' (q·kᵀ)·scale by about
// an ulp, which float32 tolerates but a bf16 product would round to a
// visible difference, so --bf16 keeps the order of transformers' eager
// attention there.
func (n net) scaleQueries(scale float64) bool {
	frac, _ := math.Frexp(scale)
	return !n.opts.BF16 || frac == 0.5
}

// softCap is cap·tanh(x/cap).
func softCap(x *Node, cap float64) *Node {
	return MulScalar(Tanh(MulScalar(x, 1/cap)), cap)
}

func shapeOf(dtype dtypes.DType, dims ...int) shapes.Shape { return shapes.Make(dtype, dims...) }
