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
			useExpm1 = func() bool { return route.expm1 }
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
