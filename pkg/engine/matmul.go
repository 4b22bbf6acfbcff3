package engine

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads better unqualified.
)

// The products of the linear layers and the LM head, with a gradient laid
// out for the Go backend's matmul.
//
// The backend multiplies [M, K]·[K, N] and [M, K]·[N, K] directly and
// transposes its operands (an element-by-element copy, single-threaded)
// for every other layout. GoMLX's generic DotGeneral gradient gives a
// linear layer's weight gradient, vᵀ·x contracted over the tokens, in a
// layout the backend must transpose both operands for, and ends each
// gradient with a transpose back to the operand's axes, a full copy even
// when the permutation is the identity. matmulNode computes the same
// product with the gradient written out: x̄ = v·w in a layout the
// backend takes as it is, and w̄ with one transpose (of v, or of x).
//
// The gradient is attached as the alternate VJP of the forward product
// (graph.InternalFusedOpCaller): the backward pass visits an identity on
// the product first, which records the arriving gradient v, and then the
// custom-gradient identities on x and w, which return the products above.
// The alternate graph's own forward values are never used, so it is not
// computed.

// matmulEquations maps the einsum equations of n.dot that matmulNode
// computes to the contracting axis of their second operand.
var matmulEquations = map[string]int{
	"ni,oi->no": 1, // linear layers: x [N, in], weight [out, in]
	"nh,vh->nv": 1, // LM head: h [N, H], head [V, H]
	"ni,io->no": 0, // GPT-2's Conv1D: x [N, in], weight [in, out]
}

// matmulNode is x [N, K] times w, contracting w's axis wAxis (1: w [M, K];
// 0: w [K, M]), giving [N, M], with the gradient described above. With a
// leading batch axis (x [B, N, K], w [B, M, K] or [B, K, M]; wAxis counts
// without it) the products are batched.
//
// Of the two ways to lay out w̄ with transposes only of operands, it takes
// the one that transposes fewer values: for the linear layers, v or x
// (both [N, ·]); for attention, the small queries, keys and values rather
// than the [T, T] scores.
func matmulNode(x, w *Node, wAxis int) *Node {
	b := x.Rank() - 2 // batch axes: 0 or 1
	var batch []int
	if b == 1 {
		batch = []int{0}
	}
	dot := func(l *Node, lc int, r *Node, rc int) *Node {
		return DotGeneral(l, []int{b + lc}, batch, r, []int{b + rc}, batch)
	}
	swap := func(t *Node) *Node { // swaps the last two axes
		if b == 1 {
			return TransposeAllAxes(t, 0, 2, 1)
		}
		return TransposeAllAxes(t, 1, 0)
	}
	var v *Node // the gradient arriving at the product, recorded by the backward pass
	arrived := func() *Node {
		if v == nil {
			panic("engine: matmulNode's gradient read before it arrived")
		}
		return v
	}
	size := func(t *Node) int { return t.Shape().Size() }
	alternate := func() *Node {
		xg := IdentityWithCustomGradient(x, func(_, _ *Node) *Node {
			return dot(arrived(), 1, w, 1-wAxis) // x̄ = v·w (w [M, K]) or v·wᵀ (w [K, M])
		})
		wg := IdentityWithCustomGradient(w, func(_, _ *Node) *Node {
			v := arrived()
			if wAxis == 1 { // w̄ [M, K] = vᵀ·x, or (xᵀ·v)ᵀ
				if size(v) <= size(x)+size(w) {
					return dot(swap(v), 1, x, 0)
				}
				return swap(dot(swap(x), 1, v, 0))
			}
			// w̄ [K, M] = xᵀ·v, or (vᵀ·x)ᵀ
			if size(x) <= size(v)+size(w) {
				return dot(swap(x), 1, v, 0)
			}
			return swap(dot(swap(v), 1, x, 0))
		})
		return IdentityWithCustomGradient(dot(xg, 1, wg, wAxis), func(_, vy *Node) *Node {
			v = vy
			return vy
		})
	}
	y, _ := InternalFusedOpCaller(func() *Node { return dot(x, 1, w, wAxis) }, alternate, true)
	return y
}
