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

// useExpm1 reports whether expNode/sigmoidNode take the Expm1 route (a
// variable so tests can force either route). The slowdown is intermittent
// (a 4096-value timing at start-up found math.Exp fast on the same machine
// where sustained use ran at ~0.7 µs per call), so the route is not chosen
// by timing: it is always taken for float32.
var useExpm1 = func() bool { return true }

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
	if x.DType() != dtypes.Float32 || !useExpm1() {
		return Exp(x)
	}
	x64, e := expAbs64(x)
	nonNeg := GreaterOrEqual(x64, ScalarZero(x.Graph(), dtypes.Float64))
	y := ConvertDType(Where(nonNeg, e, Reciprocal(e)), dtypes.Float32)
	return withGradient(x, y, StopGradient(y))
}

// sigmoidNode is Sigmoid(x); see the comment at the top of the file.
func sigmoidNode(x *Node) *Node {
	if x.DType() != dtypes.Float32 || !useExpm1() {
		return Sigmoid(x)
	}
	x64, e := expAbs64(x)
	nonNeg := GreaterOrEqual(x64, ScalarZero(x.Graph(), dtypes.Float64))
	s := Where(nonNeg, Reciprocal(OnePlus(Reciprocal(e))), Reciprocal(OnePlus(e)))
	y := ConvertDType(s, dtypes.Float32)
	return withGradient(x, y, StopGradient(ConvertDType(Mul(s, OneMinus(s)), dtypes.Float32)))
}

// softmaxNode is Softmax(x, axis) built on expNode. GoMLX's Softmax runs
// the backend's fused softmax (fast float32 exp) only where no gradient is
// needed; training graphs get its decomposition, whose Exp op is the slow
// one. Inputs must be finite (masked scores use -MaxFloat32): a -Inf input
// gives NaN on the Expm1 route.
func softmaxNode(x *Node, axis int) *Node {
	if x.DType() != dtypes.Float32 || !useExpm1() {
		return Softmax(x, axis)
	}
	m := StopGradient(ReduceAndKeep(x, ReduceMax, axis))
	num := expNode(Sub(x, m))
	return Div(num, ReduceAndKeep(num, ReduceSum, axis))
}
