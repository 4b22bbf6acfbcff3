// Command matmul times the Go backend's matrix product on the shapes of a
// ~100M Llama's training step (bench/throughput), in the three layouts a
// step uses: NN ([M,K]·[K,N]), NT ([M,K]·[N,K]ᵀ, the forward of a linear
// layer with HF's [out, in] weights) and TN ([K,M]ᵀ·[K,N], a weight
// gradient contracted over the tokens, which the backend transposes
// first). bench/matmul/torch_matmul.py times the same products in PyTorch.
//
//	GOEXPERIMENT=simd go run ./bench/matmul [-backend go:ops_sequential] [-reps 3]
package main

import (
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func main() {
	log.SetFlags(0)
	backend := flag.String("backend", "go:ops_sequential", "GoMLX backend configuration")
	reps := flag.Int("reps", 3, "timed calls per product, after one warm-up call")
	flag.Parse()
	be, err := compute.NewWithConfig(*backend)
	if err != nil {
		log.Fatal(err)
	}
	defer be.Finalize()
	fmt.Printf("backend %s\n", *backend)
	for _, sh := range [][3]int{{1024, 768, 2048}, {1024, 2048, 768}, {1024, 768, 768}, {256, 768, 32000}} {
		M, K, N := sh[0], sh[1], sh[2]
		fill := func(n, mod int) []float32 {
			s := make([]float32, n)
			for i := range s {
				s[i] = float32(i%mod) * 0.01
			}
			return s
		}
		a, b := fill(M*K, 7), fill(K*N, 5)
		for _, layout := range []string{"NN", "NT", "TN"} {
			var x, y *tensors.Tensor
			var lc, rc int
			switch layout {
			case "NN":
				x, y, lc, rc = tensors.FromFlatDataAndDimensions(a, M, K), tensors.FromFlatDataAndDimensions(b, K, N), 1, 0
			case "NT":
				x, y, lc, rc = tensors.FromFlatDataAndDimensions(a, M, K), tensors.FromFlatDataAndDimensions(b, N, K), 1, 1
			default:
				x, y, lc, rc = tensors.FromFlatDataAndDimensions(a, K, M), tensors.FromFlatDataAndDimensions(b, K, N), 0, 0
			}
			exec, err := graph.NewExec(be, func(l, r *graph.Node) *graph.Node {
				return graph.DotGeneral(l, []int{lc}, nil, r, []int{rc}, nil)
			})
			if err != nil {
				log.Fatal(err)
			}
			call := func() {
				out, err := exec.Exec(x, y)
				if err != nil {
					log.Fatal(err)
				}
				out[0].FinalizeAll()
			}
			call()
			start := time.Now()
			for range *reps {
				call()
			}
			sec := time.Since(start).Seconds() / float64(*reps)
			fmt.Printf("%s M=%d K=%d N=%d: %.1f ms, %.1f GFLOP/s\n", layout, M, K, N, sec*1e3, 2*float64(M*K*N)/sec/1e9)
			exec.Finalize()
		}
	}
}
