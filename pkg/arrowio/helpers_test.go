package arrowio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// row is one pair as plain Go values, the test's independent representation.
type row struct {
	id                       string
	prompt, chosen, rejected []int32
}

// genRows returns n deterministic rows of varying lengths, including empty
// lists and non-ASCII ids.
func genRows(n int, seed uint64) []row {
	rng := rand.New(rand.NewPCG(seed, 7))
	ids := func(k int) []int32 {
		s := make([]int32, k)
		for i := range s {
			s[i] = rng.Int32N(200000) - 10
		}
		return s
	}
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{
			id:       fmt.Sprintf("pair-%d-é%d", i, rng.IntN(1000)),
			prompt:   ids(rng.IntN(40)),
			chosen:   ids(rng.IntN(20)),
			rejected: ids(rng.IntN(20)),
		}
	}
	return rows
}

func testMeta() Metadata {
	m := NewMetadata("dpo-tokenize", "v0.0.0-test")
	m.SetTokenizer("qwen3", HashString("tokenizer.json bytes"))
	m.SetChatTemplateSHA256(HashString("{{ messages }}"))
	if err := m.SetStage(StageTokenize, "v0.0.0-test", map[string]any{"max_length": 1024, "truncation_mode": "keep_end"}); err != nil {
		panic(err)
	}
	return m
}

// buildRecord builds one record of rows with the PairBuilder.
func buildRecord(tb testing.TB, mem memory.Allocator, schema *arrow.Schema, rows []row) arrow.RecordBatch {
	tb.Helper()
	b, err := NewPairBuilder(mem, schema)
	if err != nil {
		tb.Fatal(err)
	}
	defer b.Release()
	for _, r := range rows {
		b.Append(r.id, r.prompt, r.chosen, r.rejected)
	}
	return b.NewRecordBatch()
}

// writeStream writes rows in chunks of chunk rows and returns the bytes.
func writeStream(tb testing.TB, mem memory.Allocator, meta Metadata, rows []row, chunk int, opts WriterOptions) []byte {
	tb.Helper()
	var buf bytes.Buffer
	schema := PairsSchema(meta)
	opts.Mem = mem
	w, err := NewWriter(&buf, schema, opts)
	if err != nil {
		tb.Fatal(err)
	}
	for off := 0; off < len(rows); off += chunk {
		rec := buildRecord(tb, mem, schema, rows[off:min(off+chunk, len(rows))])
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// readStream reads data with our Reader and returns its rows, the size of
// each batch, the metadata and the error ending iteration.
func readStream(tb testing.TB, data []byte, mem memory.Allocator) (rows []row, sizes []int64, meta Metadata, err error) {
	tb.Helper()
	r, err := NewReader(bytes.NewReader(data), "test.arrows", mem)
	if err != nil {
		return nil, nil, Metadata{}, err
	}
	defer r.Release()
	meta = r.Metadata()
	for r.Next() {
		p, err := r.Pairs()
		if err != nil {
			return rows, sizes, meta, err
		}
		sizes = append(sizes, int64(p.Rows))
		for i := 0; i < p.Rows; i++ {
			rows = append(rows, row{
				id:       p.ID.Value(i),
				prompt:   slices.Clone(p.Prompt.Row(i)),
				chosen:   slices.Clone(p.Chosen.Row(i)),
				rejected: slices.Clone(p.Rejected.Row(i)),
			})
		}
	}
	return rows, sizes, meta, r.Err()
}

func equalRows(a, b []row) bool {
	return slices.EqualFunc(a, b, func(x, y row) bool {
		return x.id == y.id && slices.Equal(x.prompt, y.prompt) && slices.Equal(x.chosen, y.chosen) && slices.Equal(x.rejected, y.rejected)
	})
}

func diffRows(tb testing.TB, got, want []row) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if !equalRows(got[i:i+1], want[i:i+1]) {
			tb.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}
