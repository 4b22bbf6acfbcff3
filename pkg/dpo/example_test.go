package dpo_test

import (
	"fmt"
	"log"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/graph"

	"github.com/dpo-go/dpo/pkg/dpo"
)

func ExampleParse() {
	o, err := dpo.Parse("sigmoid=1,sft=0.2", dpo.DefaultConfig()) // RPO with α = 0.2
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o, o.NeedsReference(), o.NeedsLengths())

	_, err = dpo.Parse("sigmoid,dpo", dpo.DefaultConfig())
	fmt.Println(err != nil)
	// Output:
	// sigmoid=1,sft=0.2 true true
	// true
}

// Pair 1 has z = 2, so -log σ(0.2) = 0.5981; pair 2 has z = 0, so ln 2.
func ExampleObjective_LossFloat64() {
	o, err := dpo.Parse("sigmoid", dpo.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	r, err := o.LossFloat64(dpo.InputsF64{
		PolicyChosen:   []float64{-10, -20},
		PolicyRejected: []float64{-12, -20},
		RefChosen:      []float64{-11, -20},
		RefRejected:    []float64{-11, -20},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range dpo.MetricNames {
		fmt.Printf("%s %.4f\n", name, r.Metrics.Map()[name])
	}
	// Output:
	// loss 0.6456
	// rewards/chosen 0.0500
	// rewards/rejected -0.0500
	// rewards/accuracies 0.5000
	// rewards/margins 0.1000
	// logps/chosen -15.0000
	// logps/rejected -16.0000
}

// Pair 1: 2·(-4/4 + 6/3) - 0.5 = 1.5, pair 2: -0.5; loss = (log(1+e^-1.5) + log(1+e^0.5))/2.
func ExampleObjective_Loss() {
	backend, err := compute.NewWithConfig("go:ops_sequential")
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Finalize()
	o, err := dpo.Parse("simpo", dpo.Config{Beta: 2, SimPOGamma: 0.5})
	if err != nil {
		log.Fatal(err)
	}
	// The trainer builds this inside its train step; here the policy
	// log-probs are the graph's parameters and we ask for their gradient.
	fn := func(pc, pr, lc, lr *graph.Node) (*graph.Node, *graph.Node) {
		out, err := o.Loss(dpo.Inputs{PolicyChosen: pc, PolicyRejected: pr, ChosenLengths: lc, RejectedLengths: lr})
		if err != nil {
			panic(err)
		}
		return out.Loss, graph.Gradient(out.Loss, pc)[0]
	}
	e, err := graph.NewExec(backend, fn)
	if err != nil {
		log.Fatal(err)
	}
	res, err := e.Call([]float64{-4, -9}, []float64{-6, -9}, []int32{4, 3}, []int32{3, 3})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("loss %.4f grad %.4f\n", res[0].Value(), res[1].Value())
	// Output:
	// loss 0.5877 grad [-0.0456 -0.2075]
}
