package tokenizer_test

import (
	"testing"
)

// benchMinBytes is the size of each benchmark text.
const benchMinBytes = 1 << 20

// benchLongBytes splits the golden corpus into ordinary strings (dataset
// fields, chat turns, code, scripts) and the few pathological ones over
// 2,000 bytes (10,000-character words, runs of one character), which would
// otherwise make up most of the bytes and dominate the timing.
const benchLongBytes = 2000

// benchDocs is a fixed benchmark text: the golden corpus strings of one kind
// (long or not), in order, repeated until they total at least 1 MiB of
// UTF-8. Each string is one document, encoded on its own, as dpo-tokenize
// encodes one field at a time. bench/tokenizer/bench.js builds the same
// lists for the Rust reference; bench/tokenizer/run.sh compares the two.
func benchDocs(tb testing.TB, long bool) (docs []string, size int64) {
	tb.Helper()
	var pick []string
	for _, g := range readGolden(tb, "gpt2") {
		if (len(g.Text) > benchLongBytes) == long {
			pick = append(pick, g.Text)
		}
	}
	for size < benchMinBytes {
		for _, d := range pick {
			docs = append(docs, d)
			size += int64(len(d))
		}
	}
	return docs, size
}

// BenchmarkEncode measures single-goroutine Encode throughput (bytes of
// input text per second) on the ordinary corpus strings;
// BenchmarkEncodeLong on the long ones.
//
//	go test ./pkg/tokenizer -run '^$' -bench Encode -benchtime 3x
func BenchmarkEncode(b *testing.B)     { benchmarkEncode(b, false) }
func BenchmarkEncodeLong(b *testing.B) { benchmarkEncode(b, true) }

func benchmarkEncode(b *testing.B, long bool) {
	docs, size := benchDocs(b, long)
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

// BenchmarkDecode measures Decode over the ids of the ordinary benchmark
// text; SetBytes counts the bytes of text produced.
func BenchmarkDecode(b *testing.B) {
	docs, size := benchDocs(b, false)
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
