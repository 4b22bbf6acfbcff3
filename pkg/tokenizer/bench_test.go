package tokenizer_test

import (
	"testing"
)

// benchMinBytes is the size of the benchmark text.
const benchMinBytes = 1 << 20

// benchDocs is the fixed benchmark text: the golden corpus strings, in
// order, repeated until they total at least 1 MiB of UTF-8. Each string is
// one document, encoded on its own, as dpo-tokenize encodes one field at a
// time. bench/tokenizer/bench.js builds the same list for the Rust
// reference; bench/tokenizer/run.sh compares the two.
func benchDocs(tb testing.TB) (docs []string, size int64) {
	tb.Helper()
	lines := readGolden(tb, "gpt2")
	for size < benchMinBytes {
		for _, g := range lines {
			docs = append(docs, g.Text)
			size += int64(len(g.Text))
		}
	}
	return docs, size
}

// BenchmarkEncode measures single-goroutine Encode throughput (bytes of
// input text per second) over benchDocs.
//
//	go test ./pkg/tokenizer -run '^$' -bench Encode -benchtime 3x
func BenchmarkEncode(b *testing.B) {
	docs, size := benchDocs(b)
	for _, name := range []string{"qwen3", "mistral"} {
		b.Run(name, func(b *testing.B) {
			tok := loadRef(b, name)
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, d := range docs {
					_ = tok.Encode(d, false)
				}
			}
		})
	}
}

// BenchmarkDecode measures Decode over the ids of benchDocs; SetBytes
// counts the bytes of text produced.
func BenchmarkDecode(b *testing.B) {
	docs, size := benchDocs(b)
	for _, name := range []string{"qwen3", "mistral"} {
		b.Run(name, func(b *testing.B) {
			tok := loadRef(b, name)
			ids := make([][]int32, len(docs))
			for i, d := range docs {
				ids[i] = tok.Encode(d, false)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, x := range ids {
					_ = tok.Decode(x, false)
				}
			}
		})
	}
}
