package arrowio

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkWriteRead writes and reads 4096 pairs per iteration. SetBytes
// counts the token ids (4 bytes each), the payload that matters.
func BenchmarkWriteRead(b *testing.B) {
	rows := genRows(4096, 1)
	var tokens int64
	for _, r := range rows {
		tokens += int64(len(r.prompt) + len(r.chosen) + len(r.rejected))
	}
	schema := PairsSchema(testMeta())
	rec := buildRecord(b, memory.DefaultAllocator, schema, rows)
	defer rec.Release()
	for _, codec := range []string{CodecZstd, CodecLZ4, CodecNone} {
		b.Run(fmt.Sprintf("codec=%s", codec), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(tokens * 4)
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				w, err := NewWriter(&buf, schema, WriterOptions{Codec: codec})
				if err != nil {
					b.Fatal(err)
				}
				if err := w.Write(rec); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				r, err := NewReader(bytes.NewReader(buf.Bytes()), "bench", nil)
				if err != nil {
					b.Fatal(err)
				}
				for r.Next() {
					if _, err := r.Pairs(); err != nil {
						b.Fatal(err)
					}
				}
				if err := r.Err(); err != nil {
					b.Fatal(err)
				}
				r.Release()
			}
			b.ReportMetric(float64(buf.Len())/float64(tokens*4), "ratio")
		})
	}
}
