package pairs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

func benchJSONL(n int, chat bool) []byte {
	var buf bytes.Buffer
	for i := range n {
		if chat {
			fmt.Fprintf(&buf, `{"id": %d, "prompt": [{"role": "system", "content": "You sort letters."}, {"role": "user", "content": "Sort the letters of: qwerty %d"}], "chosen": [{"role": "assistant", "content": "eqrtwy"}], "rejected": [{"role": "assistant", "content": "eqrtyw"}]}`+"\n", i, i)
		} else {
			fmt.Fprintf(&buf, `{"id": %d, "chosen": "Question: sort the letters of qwerty %d.\nAnswer: eqrtwy", "rejected": "Question: sort the letters of qwerty %d.\nAnswer: eqrtyw"}`+"\n", i, i, i)
		}
	}
	return buf.Bytes()
}

func BenchmarkJSONL(b *testing.B) {
	for _, bc := range []struct {
		name string
		chat bool
	}{{"standard-implicit", false}, {"conversational", true}} {
		const rows = 1000
		data := benchJSONL(rows, bc.chat)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			n := 0
			for b.Loop() {
				r, err := Open("-", bytes.NewReader(data), Options{})
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				r.Close()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkRated binarizes 1,000 prompts with 4 scored completions each,
// as grouped rows and as a judge's flat rows.
func BenchmarkRated(b *testing.B) {
	var grouped, flat bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&grouped, `{"id": "q%d", "prompt": "sort: qwerty%d\n", "completions": ["eqrtwy", "eqrtyw", "eqrtw", "eeqrtwy"], "scores": [1, 0.67, 0.83, 0.14]}`+"\n", i, i)
		for k, c := range []string{"eqrtwy", "eqrtyw", "eqrtw", "eeqrtwy"} {
			fmt.Fprintf(&flat, `{"id": "q%d", "sample_index": %d, "prompt": "sort: qwerty%d\n", "completion": %q, "score": %d}`+"\n", i, k, i, c, k%3)
		}
	}
	for _, bc := range []struct {
		name string
		data []byte
		mode string
	}{{"grouped/best-worst", grouped.Bytes(), BestWorst}, {"grouped/all", grouped.Bytes(), AllPairs}, {"flat/best-random", flat.Bytes(), BestRandom}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			n := 0
			for b.Loop() {
				r, err := Open("-", bytes.NewReader(bc.data), Options{Rated: &Binarize{Mode: bc.mode}})
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						var se *SkipError
						if !errors.As(err, &se) {
							b.Fatal(err)
						}
					}
					n++
				}
				r.Close()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pairs/s")
		})
	}
}
