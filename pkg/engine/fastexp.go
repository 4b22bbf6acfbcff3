package engine

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads better unqualified.
)

// Exp and Sigmoid around a slow math.Exp.
//
// The Go backend evaluates the Exp and Logistic ops with one math.Exp call
// per element. On amd64 math.Exp is assembly whose FMA branch
// (VFNMADD231SD, taken when the CPU reports AVX+FMA) costs ~0.7-1 µs per
// call on some virtual machines, 60-90x its non-FMA branch (see "Backend hot
// spots" in docs/benchmarks.md). The backend's Expm1 op is pure Go
// (math.Expm1 has no amd64 assembly) and unaffected, so for float32
// expNode and sigmoidNode compute their values from Expm1 in float64:
//
//	e = 1 + expm1(|x|) = exp(|x|)           (exact to float64 rounding)
//	exp(x)     = x ≥ 0 ? e : 1/e
//	sigmoid(x) = x ≥ 0 ? 1/(1 + 1/e) : 1/(1 + e)
//
// and round once to float32, which matches float32(math.Exp(x)) up to
// double rounding (≤ 1 ulp). Gradients are the analytic ones, attached with
// IdentityWithCustomGradient because GoMLX has no gradient for Expm1.

// useExpm1 reports whether expNode/sigmoidNode take the Expm1 route in
// graph g (a variable so tests can force either route). The slowdown is
// intermittent (a 4096-value timing at start-up found math.Exp fast on the
// same machine where sustained use ran at ~0.7 µs per call), so the route
// is not chosen by timing: it is taken for float32 on the Go backend, and
// never on XLA, whose Exp and Logistic are native kernels; there the
// float64 detour would only double the activations' memory (a float64
// copy of every MLP activation and attention score, 1.9 GiB of the
// Qwen2.5-0.5B step's 7.8 GiB of XLA temporaries) and slow the step.
var useExpm1 = func(g *Graph) bool { return g.Backend().Name() == goBackendName }

// goBackendName is the registered name of GoMLX's pure-Go backend.
const goBackendName = "go"

// expAbs64 returns (x as float64, exp(|x|) in float64), with no gradient.
func expAbs64(x *Node) (x64, e *Node) {
	x64 = ConvertDType(StopGradient(x), dtypes.Float64)
	return x64, OnePlus(Expm1(Abs(x64)))
}

// withGradient returns y (computed without gradient) whose gradient with
// respect to x is v·dydx.
func withGradient(x, y, dydx *Node) *Node {
	xi := IdentityWithCustomGradient(x, func(_, v *Node) *Node { return Mul(v, dydx) })
	return Add(StopGradient(y), Sub(xi, StopGradient(xi)))
}

// expNode is Exp(x); see the comment at the top of the file.
func expNode(x *Node) *Node {
	if x.DType() != dtypes.Float32 || !useExpm1(x.Graph()) {
		return Exp(x)
	}
	x64, e := expAbs64(x)
	nonNeg := GreaterOrEqual(x64, ScalarZero(x.Graph(), dtypes.Float64))
	y := ConvertDType(Where(nonNeg, e, Reciprocal(e)), dtypes.Float32)
	return withGradient(x, y, StopGradient(y))
}

// sigmoidNode is Sigmoid(x); see the comment at the top of the file.
func sigmoidNode(x *Node) *Node {
	if x.DType() != dtypes.Float32 || !useExpm1(x.Graph()) {
		return Sigmoid(x)
	}
	x64, e := expAbs64(x)
	nonNeg := GreaterOrEqual(x64, ScalarZero(x.Graph(), dtypes.Float64))
	s := Where(nonNeg, Reciprocal(OnePlus(Reciprocal(e))), Reciprocal(OnePlus(e)))
	y := ConvertDType(s, dtypes.Float32)
	return withGradient(x, y, StopGradient(ConvertDType(Mul(s, OneMinus(s)), dtypes.Float32)))
}

// softmaxNode is Softmax(x, axis) for attention and MoE routing.
//
// Where the backend has a fused softmax (the Go backend's: one pass per
// row with a float32 polynomial exp, relative error < 1e-7, not the slow
// math.Exp), float32 values come from it and the gradient is the analytic
// one, x̄ = y ⊙ (ȳ − Σ ȳ ⊙ y), written as the fused op's alternate VJP: a
// custom-gradient identity of x whose value is never computed. GoMLX's own
// Softmax also runs the fused op, but its gradient goes through the
// decomposed softmax, so a training graph evaluates both and the decomposed
// Exp is the slow op. Elsewhere (no fused op, other dtypes) it is the
// decomposition on expNode. Inputs must be finite (masked scores use
// -MaxFloat32): a -Inf input gives NaN on the Expm1 route.
func softmaxNode(x *Node, axis int) *Node {
	if x.DType() != dtypes.Float32 || !useExpm1(x.Graph()) {
		return Softmax(x, axis)
	}
	if axis < 0 {
		axis += x.Rank()
	}
	if useFusedSoftmax {
		var y *Node
		gradient := func() *Node {
			return IdentityWithCustomGradient(x, func(_, v *Node) *Node {
				return Mul(y, Sub(v, ReduceAndKeep(Mul(v, y), ReduceSum, axis)))
			})
		}
		var fused bool
		y, fused = InternalFusedOpCaller(func() *Node { return BackendFusedSoftmax(x, axis) }, gradient, true)
		if fused {
			return y
		}
	}
	m := StopGradient(ReduceAndKeep(x, ReduceMax, axis))
	num := expNode(Sub(x, m))
	return Div(num, ReduceAndKeep(num, ReduceSum, axis))
}

// useFusedSoftmax lets tests compare softmaxNode's fused route with the
// decomposition.
var useFusedSoftmax = true

// fusedSoftmaxValue is softmax(x) along axis from the backend's fused op,
// without gradient, or nil where the backend has none (or x is not
// float32, or a test turned the route off).
func fusedSoftmaxValue(x *Node, axis int) *Node {
	if x.DType() != dtypes.Float32 || !useExpm1(x.Graph()) || !useFusedSoftmax {
		return nil
	}
	x = StopGradient(x)
	y, fused := InternalFusedOpCaller(func() *Node { return BackendFusedSoftmax(x, axis) }, func() *Node { return x }, false)
	if !fused {
		return nil
	}
	return y
}
