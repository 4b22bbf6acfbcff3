package pairs

import (
	"bytes"
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
