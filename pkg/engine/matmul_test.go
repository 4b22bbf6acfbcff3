package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads better unqualified.
	"github.com/gomlx/gomlx/core/tensors"
)

// TestMatmulGradient checks matmulNode's value and gradients against
// float64 loops, for both weight layouts, with and without a batch axis,
// and with shapes that take each of the two layouts of w̄ (transposing v,
// or transposing x and the result): y = x·wᵀ or x·w, loss Σ u ⊙ y, so
// x̄ = u·w (or u·wᵀ) and w̄ = uᵀ·x (or xᵀ·u).
func TestMatmulGradient(t *testing.T) {
	e := newTestEngine(t, Options{})
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ B, N, M, K, wAxis int }{
		{0, 3, 2, 4, 1}, // |v| = 6 <= |x|+|w|: w̄ = vᵀ·x
		{0, 5, 6, 1, 1}, // |v| = 30 > 11: w̄ = (xᵀ·v)ᵀ
		{0, 3, 2, 4, 0}, // |x| = 12 <= |v|+|w| = 14: w̄ = xᵀ·v
		{0, 5, 1, 6, 0}, // |x| = 30 > 11: w̄ = (vᵀ·x)ᵀ
		{2, 3, 2, 4, 1},
		{2, 5, 6, 1, 1},
		{2, 3, 2, 4, 0},
		{2, 5, 1, 6, 0},
	} {
		t.Run(fmt.Sprintf("B%d_N%d_M%d_K%d_axis%d", c.B, c.N, c.M, c.K, c.wAxis), func(t *testing.T) {
			nb := max(c.B, 1)
			x := make([]float32, nb*c.N*c.K)
			w := make([]float32, nb*c.M*c.K)
			u := make([]float32, nb*c.N*c.M)
			for _, s := range [][]float32{x, w, u} {
				for i := range s {
					s[i] = float32(rng.NormFloat64())
				}
			}
			dims := func(d ...int) []int {
				if c.B > 0 {
					return append([]int{c.B}, d...)
				}
				return d
			}
			wDims := dims(c.M, c.K)
			if c.wAxis == 0 {
				wDims = dims(c.K, c.M)
			}
			// W(b, m, k) reads w in either layout.
			W := func(b, m, k int) float64 {
				if c.wAxis == 1 {
					return float64(w[(b*c.M+m)*c.K+k])
				}
				return float64(w[(b*c.K+k)*c.M+m])
			}
			exec, err := NewExec(e.backend, func(xn, wn, un *Node) []*Node {
				y := matmulNode(xn, wn, c.wAxis)
				g := Gradient(ReduceAllSum(Mul(y, un)), xn, wn)
				return []*Node{y, g[0], g[1]}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, dims(c.N, c.K)...),
				tensors.FromFlatDataAndDimensions(w, wDims...), tensors.FromFlatDataAndDimensions(u, dims(c.N, c.M)...))
			if err != nil {
				t.Fatal(err)
			}
			y, gx, gw := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
			near := func(name string, got float32, want float64) {
				t.Helper()
				if math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
					t.Errorf("%s = %g, want %g", name, got, want)
				}
			}
			for b := range nb {
				for n := range c.N {
					for m := range c.M {
						var s float64
						for k := range c.K {
							s += float64(x[(b*c.N+n)*c.K+k]) * W(b, m, k)
						}
						near(fmt.Sprintf("y[%d,%d,%d]", b, n, m), y[(b*c.N+n)*c.M+m], s)
					}
					for k := range c.K {
						var s float64
						for m := range c.M {
							s += float64(u[(b*c.N+n)*c.M+m]) * W(b, m, k)
						}
						near(fmt.Sprintf("x̄[%d,%d,%d]", b, n, k), gx[(b*c.N+n)*c.K+k], s)
					}
				}
				for m := range c.M {
					for k := range c.K {
						var s float64
						for n := range c.N {
							s += float64(u[(b*c.N+n)*c.M+m]) * float64(x[(b*c.N+n)*c.K+k])
						}
						i := (b*c.M+m)*c.K + k
						if c.wAxis == 0 {
							i = (b*c.K+k)*c.M + m
						}
						near(fmt.Sprintf("w̄[%d,%d,%d]", b, m, k), gw[i], s)
					}
				}
			}
		})
	}
}
