package pairs_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/dpo-go/dpo/pkg/pairs"
)

func ExampleBinarize_Pairs() {
	scores := []float64{0.5, 1, 0, 1}
	for _, mode := range []string{pairs.BestWorst, pairs.AllPairs} {
		idx, skip, err := pairs.Binarize{Mode: mode, MinScoreGap: 0.25}.Pairs("q1", scores)
		fmt.Println(mode, idx, skip, err)
	}
	_, skip, _ := pairs.Binarize{}.Pairs("q2", []float64{1, 1})
	fmt.Println("tied:", skip)
	// Output:
	// best-worst [[1 2]]  <nil>
	// all [[0 2] [1 0] [1 2] [3 0] [3 2]]  <nil>
	// tied: tied_scores
}

func ExampleOpen_rated() {
	judged := `{"id":"q1","sample_index":0,"prompt":"sort: ba","completion":"ba","score":0}
{"id":"q1","sample_index":1,"prompt":"sort: ba","completion":"ab","score":1}
{"id":"q2","sample_index":0,"prompt":"sort: c","completion":"c","score":1}
`
	r, err := pairs.Open("-", strings.NewReader(judged), pairs.Options{Rated: &pairs.Binarize{}})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	for {
		ex, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s: %q > %q\n", ex.ID, ex.Chosen.Str, ex.Rejected.Str)
	}
	// Output:
	// q1/1-0: "ab" > "ba"
	// <stdin>: row 2 (id "q2"): skipped (single_completion): 1 completion(s), scores [1]
}
