package refbench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/bench/internal/streamdump"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/model"
)

func TestShapeConfig(t *testing.T) {
	js, err := Shape{Layers: 2, Hidden: 64, Heads: 4, KVHeads: 2, Intermediate: 96, Vocab: 151936}.Config()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ParseConfig(js)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Arch != model.ArchQwen2 || cfg.VocabSize != 151936 || cfg.NumLayers != 2 || cfg.HeadDim != 16 || !cfg.TieWordEmbeddings {
		t.Errorf("parsed %+v", cfg)
	}
	for _, bad := range []Shape{{}, {Layers: 1, Hidden: 10, Heads: 4, KVHeads: 2, Intermediate: 8, Vocab: 9}, {Layers: 1, Hidden: 12, Heads: 4, KVHeads: 3, Intermediate: 8, Vocab: 9}} {
		if _, err := bad.Config(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// refStream appends constant reference columns to a pairs stream, as
// dpo-reflogp does, so Dump can be tested without a model.
func refStream(t *testing.T, pairs []byte, mem memory.Allocator) []byte {
	t.Helper()
	rd, err := arrowio.NewReader(bytes.NewReader(pairs), "pairs", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	schema, err := arrowio.AppendFields(rd.Schema(),
		arrow.Field{Name: arrowio.ColRefChosenLogps, Type: arrow.PrimitiveTypes.Float64},
		arrow.Field{Name: arrowio.ColRefRejectedLogps, Type: arrow.PrimitiveTypes.Float64})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := arrowio.NewWriter(&out, schema, arrowio.WriterOptions{BatchRows: 3, Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	for rd.Next() {
		rec := rd.Record()
		n := int(rec.NumRows())
		cols := make([]arrow.Array, 2)
		for k := range cols {
			b := array.NewFloat64Builder(mem)
			for i := range n {
				b.Append(-float64(10*rd.Batch() + i + k))
			}
			cols[k] = b.NewArray()
			b.Release()
		}
		r2, err := arrowio.AppendColumns(schema, rec, cols...)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(r2); err != nil {
			t.Fatal(err)
		}
		r2.Release()
		cols[0].Release()
		cols[1].Release()
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestPairsAndDump(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	spec := PairSpec{N: 7, Prompt: 5, Chosen: 3, Rejected: 4, Vocab: 50, Seed: 9}
	var pairs bytes.Buffer
	if err := WritePairs(&pairs, spec, 3, mem); err != nil {
		t.Fatal(err)
	}
	rows, err := streamdump.ReadRows(bytes.NewReader(refStream(t, pairs.Bytes(), mem)), "ref", mem, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != spec.N {
		t.Fatalf("%d rows, want %d", len(rows), spec.N)
	}
	seen := map[int32]bool{}
	for i, r := range rows {
		if r.Batch != i/3 {
			t.Errorf("row %d: batch %d, want %d", i, r.Batch, i/3)
		}
		if len(r.Prompt) != 5 || len(r.Chosen) != 3 || len(r.Rejected) != 4 {
			t.Errorf("row %d: lengths %d %d %d", i, len(r.Prompt), len(r.Chosen), len(r.Rejected))
		}
		for _, v := range append(append(append([]int32(nil), r.Prompt...), r.Chosen...), r.Rejected...) {
			if v < 0 || v >= 50 {
				t.Errorf("row %d: id %d out of [0, 50)", i, v)
			}
			seen[v] = true
		}
		if want := -float64(10*r.Batch + i%3); *r.RefChosen != want || *r.RefRejected != want-1 {
			t.Errorf("row %d: refs %v %v, want %v %v", i, *r.RefChosen, *r.RefRejected, want, want-1)
		}
	}
	if len(seen) < 30 { // 84 draws from 50 values
		t.Errorf("only %d distinct ids: not random", len(seen))
	}
	var again bytes.Buffer
	if err := WritePairs(&again, spec, 3, mem); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), pairs.Bytes()) {
		t.Error("WritePairs is not deterministic in its seed")
	}
}

func TestCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := MkModel(ctx, []string{"--layers", "1", "--hidden", "16", "--heads", "2", "--kv-heads", "1", "--intermediate", "24", "--vocab", "40", "--out", dir}, nil, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.VocabSize != 40 || cfg.HiddenSize != 16 {
		t.Errorf("config %+v", cfg)
	}
	var pairs bytes.Buffer
	if err := MkPairs(ctx, []string{"--n", "2", "--vocab", "40", "--prompt-len", "3"}, nil, &pairs, &errb); err != nil {
		t.Fatal(err)
	}
	rd, err := arrowio.NewReader(&pairs, "p", memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	for rd.Next() {
	}
	if rd.Err() != nil || rd.Rows() != 2 {
		t.Errorf("rows %d, err %v", rd.Rows(), rd.Err())
	}
	rd.Release()
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"mkmodel without out", func() error { return MkModel(ctx, nil, nil, io.Discard, io.Discard) }, "--out"},
		{"mkmodel bad shape", func() error {
			return MkModel(ctx, []string{"--hidden", "10", "--out", t.TempDir()}, nil, io.Discard, io.Discard)
		}, "multiple"},
		{"mkpairs zero n", func() error { return MkPairs(ctx, []string{"--n", "0"}, nil, io.Discard, io.Discard) }, "n, prompt"},
		{"dump pairs stream", func() error {
			var p bytes.Buffer
			if err := WritePairs(&p, PairSpec{N: 1, Prompt: 1, Chosen: 1, Rejected: 1, Vocab: 2}, 0, memory.DefaultAllocator); err != nil {
				return nil
			}
			return streamdump.Command(true)(ctx, nil, &p, io.Discard, io.Discard)
		}, arrowio.ColRefChosenLogps},
		{"dump garbage", func() error {
			return streamdump.Command(true)(ctx, nil, strings.NewReader("nope"), io.Discard, io.Discard)
		}, "dump"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Dump's JSON has the fields torch_forward.py reads.
	mem := memory.DefaultAllocator
	var p bytes.Buffer
	if err := WritePairs(&p, PairSpec{N: 2, Prompt: 2, Chosen: 1, Rejected: 1, Vocab: 5}, 0, mem); err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := streamdump.Command(true)(ctx, nil, bytes.NewReader(refStream(t, p.Bytes(), mem)), &js, io.Discard); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rows []map[string]json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"batch", "prompt", "chosen", "rejected", "ref_chosen_logps", "ref_rejected_logps"} {
		if _, ok := got.Rows[0][k]; !ok {
			t.Errorf("dump has no %q", k)
		}
	}
}

func TestProfile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := MkModel(ctx, []string{"--layers", "1", "--hidden", "16", "--heads", "2", "--kv-heads", "1", "--intermediate", "24", "--vocab", "40", "--out", dir}, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	pairs := dir + "/pairs.arrow"
	var p bytes.Buffer
	if err := WritePairs(&p, PairSpec{N: 3, Prompt: 4, Chosen: 3, Rejected: 5, Vocab: 40}, 2, memory.DefaultAllocator); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pairs, p.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	recs, err := Sequences(bytes.NewReader(p.Bytes()), "pairs", memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || len(recs[0]) != 4 || len(recs[1]) != 2 || len(recs[0][1].Tokens) != 9 || recs[0][1].PromptLen != 4 {
		t.Fatalf("sequences per record %d, first %+v", len(recs), recs[0])
	}
	var out bytes.Buffer
	prof := dir + "/cpu.pprof"
	if err := Profile(ctx, []string{"--model", dir, "--pairs", pairs, "--cpuprofile", prof}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Tokens int     `json:"tokens"`
		TPS    float64 `json:"tokens_per_second"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err, out.String())
	}
	if res.Tokens != 3*(7+9) || res.TPS <= 0 {
		t.Errorf("result %s", out.String())
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Errorf("no profile written: %v", err)
	}
	if err := Profile(ctx, []string{"--model", dir}, nil, io.Discard, io.Discard); err == nil {
		t.Error("profile without --pairs: no error")
	}
}
