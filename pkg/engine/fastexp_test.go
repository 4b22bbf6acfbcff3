package engine

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads better unqualified.
	"github.com/gomlx/gomlx/core/tensors"
)

// TestExpSigmoidRoutes checks expNode and sigmoidNode (values and
// gradients) and softmaxNode (values), on both routes (backend Exp/Logistic and the Expm1 route)
// against float64 math.Exp.
func TestExpSigmoidRoutes(t *testing.T) {
	xs := []float32{-120, -87, -30, -20, -5.5, -1, -1e-3, -1e-20, 0, 1e-20, 1e-3, 0.7, 3, 17, 30, 80, 88}
	e := newTestEngine(t, Options{})
	saved := useExpm1
	t.Cleanup(func() { useExpm1 = saved })
	for _, route := range []struct {
		name  string
		expm1 bool
	}{{"backend", false}, {"expm1", true}} {
		t.Run(route.name, func(t *testing.T) {
			useExpm1 = func(*Graph) bool { return route.expm1 }
			exec, err := NewExec(e.backend, func(x *Node) []*Node {
				ex, sg := expNode(x), sigmoidNode(x)
				grads := Gradient(ReduceAllSum(Add(ex, MulScalar(sg, 3))), x)
				return []*Node{ex, sg, grads[0], softmaxNode(x, -1)}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(append([]float32(nil), xs...), len(xs)))
			if err != nil {
				t.Fatal(err)
			}
			got := [4][]float32{}
			for i := range got {
				got[i] = tensors.MustCopyFlatData[float32](out[i])
			}
			var z float64
			for _, x := range xs {
				z += math.Exp(float64(x) - 88)
			}
			for i, x32 := range xs {
				x := float64(x32)
				ex := math.Exp(x)
				sg := 1 / (1 + math.Exp(-x))
				want := [4]float64{ex, sg, ex + 3*sg*(1-sg), math.Exp(x-88) / z}
				for k, name := range []string{"exp", "sigmoid", "grad", "softmax"} {
					w := float64(float32(want[k]))
					if d := math.Abs(float64(got[k][i]) - w); d > 1e-6*math.Abs(w) && d > 1e-37 {
						t.Errorf("%s(%g) = %g, want %g", name, x32, got[k][i], w)
					}
				}
			}
		})
	}
}

// TestSoftmaxRoutes checks softmaxNode's values and gradient on its fused
// route and on the decomposition, along the last axis and along axis 0 of
// a [3, 5] input, against float64: y = softmax(x), and for the loss
// Σ w ⊙ y the gradient x̄ᵢ = yᵢ (wᵢ − Σⱼ wⱼ yⱼ) along the softmax axis.
func TestSoftmaxRoutes(t *testing.T) {
	const R, C = 3, 5
	xs := []float32{-3, 0.5, 2, -1e3, 7, 1, 1, 1, 1, 1, 30, -30, 0.25, 4, -0.125}
	ws := []float32{1, -2, 0.5, 3, -1, 0.25, 2, -3, 1, 0, -1, 1, 2, -0.5, 4}
	e := newTestEngine(t, Options{})
	saved := useFusedSoftmax
	t.Cleanup(func() { useFusedSoftmax = saved })
	for _, fused := range []bool{true, false} {
		for _, axis := range []int{-1, 0} {
			useFusedSoftmax = fused
			exec, err := NewExec(e.backend, func(x, w *Node) []*Node {
				y := softmaxNode(x, axis)
				return []*Node{y, Gradient(ReduceAllSum(Mul(y, w)), x)[0]}
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(xs, R, C), tensors.FromFlatDataAndDimensions(ws, R, C))
			exec.Finalize()
			if err != nil {
				t.Fatal(err)
			}
			y, g := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
			// Index of element k of line l along the softmax axis.
			at := func(l, k int) int {
				if axis == 0 {
					return k*C + l
				}
				return l*C + k
			}
			lines, n := R, C
			if axis == 0 {
				lines, n = C, R
			}
			for l := range lines {
				var m, z, wy float64 = math.Inf(-1), 0, 0
				for k := range n {
					m = math.Max(m, float64(xs[at(l, k)]))
				}
				for k := range n {
					z += math.Exp(float64(xs[at(l, k)]) - m)
				}
				for k := range n {
					wy += float64(ws[at(l, k)]) * math.Exp(float64(xs[at(l, k)])-m) / z
				}
				for k := range n {
					i := at(l, k)
					wantY := math.Exp(float64(xs[i])-m) / z
					wantG := wantY * (float64(ws[i]) - wy)
					if d := math.Abs(float64(y[i]) - wantY); d > 2e-7*wantY && d > 1e-37 {
						t.Errorf("fused=%v axis=%d: y[%d] = %g, want %g", fused, axis, i, y[i], wantY)
					}
					if d := math.Abs(float64(g[i]) - wantG); d > 1e-6*math.Abs(wantG)+1e-7 {
						t.Errorf("fused=%v axis=%d: grad[%d] = %g, want %g", fused, axis, i, g[i], wantG)
					}
				}
			}
		}
	}
}
