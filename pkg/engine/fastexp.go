package engine

import (
	"math"
	"sync"
	"time"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads better unqualified.
)

// Exp and Sigmoid around a slow math.Exp.
//
// The Go backend evaluates the Exp and Logistic ops with one math.Exp call
// per element. On amd64 math.Exp is assembly whose FMA branch
// (VFNMADD231SD, taken when the CPU reports AVX+FMA) costs ~0.7-1 µs per
// call on some virtual machines, 70-90x the pure-Go cost (see "Backend hot
// spots" in docs/benchmarks.md). The backend's Expm1 op is pure Go
// (math.Expm1 has no amd64 assembly) and unaffected, so where math.Exp is
// measured slow, expNode and sigmoidNode compute float32 values from
// Expm1 in float64:
//
//	e = 1 + expm1(|x|) = exp(|x|)           (exact to float64 rounding)
//	exp(x)     = x ≥ 0 ? e : 1/e
//	sigmoid(x) = x ≥ 0 ? 1/(1 + 1/e) : 1/(1 + e)
//
// and round once to float32, which matches float32(math.Exp(x)) up to
// double rounding (≤ 1 ulp). Gradients are the analytic ones, attached with
// IdentityWithCustomGradient because GoMLX has no gradient for Expm1.

// slowExpRatio: math.Exp counts as slow when it takes this many times
// longer than math.Expm1 on the same inputs (healthy CPUs: ~1x; the
// affected VMs: >50x).
const slowExpRatio = 4

// useExpm1 reports whether expNode/sigmoidNode take the Expm1 route; a
// variable so tests can force either route.
var useExpm1 = sync.OnceValue(mathExpIsSlow)

// mathExpIsSlow times math.Exp against math.Expm1 on 4096 values, best of
// three rounds each (well under a millisecond on healthy CPUs).
func mathExpIsSlow() bool {
	var in [4096]float64
	for i := range in {
		in[i] = float64(i%64)/4 - 8
	}
	var sink float64
	best := func(f func(float64) float64) time.Duration {
		b := time.Duration(math.MaxInt64)
		for range 3 {
			t := time.Now()
			for _, x := range in {
				sink += f(x)
			}
			b = min(b, time.Since(t))
		}
		return b
	}
	te, tm := best(math.Exp), best(math.Expm1)
	_ = sink
	return te > slowExpRatio*tm
}

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
