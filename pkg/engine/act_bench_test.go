package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads better unqualified.
	"github.com/gomlx/gomlx/core/tensors"
)

// actBenchInput returns n float32 values drawn uniformly from [lo, hi).
func actBenchInput(n int, lo, hi float32) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n)
	for i := range x {
		x[i] = lo + (hi-lo)*rng.Float32()
	}
	return x
}

// BenchmarkUnaryActivations measures the backend's element-wise Exp,
// Sigmoid and Tanh on float32 vectors of 16k..1M elements, and the same
// through the engine's expNode/sigmoidNode and activation functions (SiLU,
// tanh-GELU), one compiled graph per case. The "neg" input range [-110, -80) makes Exp
// produce float32 subnormals (the denormal hypothesis).
func BenchmarkUnaryActivations(b *testing.B) {
	silu, err := activation("silu", "silu")
	if err != nil {
		b.Fatal(err)
	}
	gelu, err := activation("gelu_pytorch_tanh", "silu")
	if err != nil {
		b.Fatal(err)
	}
	ops := []struct {
		name string
		fn   func(*Node) *Node
	}{
		{"Exp", Exp},
		{"Sigmoid", Sigmoid},
		{"Tanh", Tanh},
		{"expNode", expNode},
		{"sigmoidNode", sigmoidNode},
		{"SiLU", silu},
		{"GELUTanh", gelu},
	}
	inputs := []struct {
		name   string
		lo, hi float32
	}{
		{"std", -8, 8},
		{"neg", -110, -80},
	}
	e := newTestEngine(b, Options{})
	for _, op := range ops {
		for _, in := range inputs {
			if in.name == "neg" && op.name != "Exp" && op.name != "expNode" {
				continue
			}
			for _, n := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
				b.Run(fmt.Sprintf("%s/%s/n=%d", op.name, in.name, n), func(b *testing.B) {
					exec, err := NewExec(e.backend, func(x *Node) *Node { return op.fn(x) })
					if err != nil {
						b.Fatal(err)
					}
					defer exec.Finalize()
					x := tensors.FromFlatDataAndDimensions(actBenchInput(n, in.lo, in.hi), n)
					run := func() {
						out, err := exec.Exec(x)
						if err != nil {
							b.Fatal(err)
						}
						out[0].FinalizeAll()
					}
					run() // compile
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						run()
					}
					b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
				})
			}
		}
	}
}
