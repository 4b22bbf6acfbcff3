package dpo

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

func benchInputs(n int) InputsF64 {
	rnd := rand.New(rand.NewSource(1))
	in := InputsF64{}
	for i := 0; i < n; i++ {
		in.RefChosen = append(in.RefChosen, -100*rnd.Float64())
		in.RefRejected = append(in.RefRejected, -100*rnd.Float64())
		in.PolicyChosen = append(in.PolicyChosen, in.RefChosen[i]+rnd.NormFloat64())
		in.PolicyRejected = append(in.PolicyRejected, in.RefRejected[i]+rnd.NormFloat64())
		in.ChosenLengths = append(in.ChosenLengths, 1+rnd.Intn(200))
		in.RejectedLengths = append(in.RejectedLengths, 1+rnd.Intn(200))
	}
	return in
}

func BenchmarkLossFloat64(b *testing.B) {
	o, err := Parse("sigmoid=1,sft=0.2,aot=0.5", DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{8, 64, 512} {
		in := benchInputs(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n * 4 * 8))
			for i := 0; i < b.N; i++ {
				if _, err := o.LossFloat64(in, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLossGraph runs the compiled loss and its gradient on the
// pure-Go backend (compilation excluded).
func BenchmarkLossGraph(b *testing.B) {
	o, err := Parse("sigmoid=1,sft=0.2", DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{8, 64, 512} {
		in := benchInputs(n)
		gb := goldenBatch{PolicyChosen: in.PolicyChosen, PolicyRejected: in.PolicyRejected,
			RefChosen: in.RefChosen, RefRejected: in.RefRejected,
			ChosenLengths: in.ChosenLengths, RejectedLengths: in.RejectedLengths}
		fn := func(pc, pr, rc, rr, lc, lr *graph.Node) (*graph.Node, *graph.Node) {
			out, err := o.Loss(Inputs{PolicyChosen: pc, PolicyRejected: pr, RefChosen: rc, RefRejected: rr, ChosenLengths: lc, RejectedLengths: lr})
			if err != nil {
				panic(err)
			}
			return out.Loss, graph.Gradient(out.Loss, pc)[0]
		}
		e, err := graph.NewExec(testBackend(b), fn)
		if err != nil {
			b.Fatal(err)
		}
		args := []any{gb.PolicyChosen, gb.PolicyRejected, gb.RefChosen, gb.RefRejected, gb.ChosenLengths, gb.RejectedLengths}
		if _, err := e.Call(args...); err != nil { // compile
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%s/%d", dtypes.Float64, n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n * 4 * 8))
			for i := 0; i < b.N; i++ {
				res, err := e.Call(args...)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					r.FinalizeAll()
				}
			}
		})
		e.Finalize()
	}
}
