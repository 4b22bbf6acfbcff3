package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// streamRows reads the inputs in order (OpenAll) and returns every row as
// a string of its columns' values, float64s as their bits, so that equal
// strings mean equal bytes in every column.
func streamRows(t *testing.T, paths ...string) (cols []string, rows []string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.OpenAll(paths, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	for _, f := range r.Schema().Fields() {
		cols = append(cols, f.Name)
	}
	for r.Next() {
		rec := r.Record()
		for i := 0; i < int(rec.NumRows()); i++ {
			var b strings.Builder
			for _, col := range rec.Columns() {
				if f, ok := col.(*array.Float64); ok {
					fmt.Fprintf(&b, "%016x|", math.Float64bits(f.Value(i)))
					continue
				}
				v, _ := json.Marshal(col.GetOneForMarshal(i))
				b.Write(v)
				b.WriteByte('|')
			}
			rows = append(rows, b.String())
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return cols, rows
}

func sameRows(t *testing.T, what string, gotCols, gotRows, wantCols, wantRows []string) {
	t.Helper()
	if strings.Join(gotCols, ",") != strings.Join(wantCols, ",") {
		t.Fatalf("%s: columns %v, want %v", what, gotCols, wantCols)
	}
	if len(gotRows) != len(wantRows) {
		t.Fatalf("%s: %d rows, want %d", what, len(gotRows), len(wantRows))
	}
	for i := range gotRows {
		if gotRows[i] != wantRows[i] {
			t.Fatalf("%s: row %d differs:\n got %s\nwant %s", what, i, gotRows[i], wantRows[i])
		}
	}
}

// TestShards runs dpo-reflogp and dpo-score unsharded and as 3 shards; the
// shard outputs, read in order as a list of files, equal the unsharded
// output in every column, byte for byte (with --plain-batches: the layouts'
// shapes follow their content, so their last bits do); dpo-score and dpo-train accept the
// shard files (as a glob) as their input.
func TestShards(t *testing.T) {
	model := randomModel(t, 5)
	dir := t.TempDir()
	in := writeBytes(t, dir, "pairs.arrow", tokenizeExample(t, 20)) // batches of 7 rows
	run := func(f RunFunc, args ...string) {
		t.Helper()
		var errb bytes.Buffer
		if err := f(context.Background(), args, nil, io.Discard, &errb); err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
	}
	full := filepath.Join(dir, "ref.arrow")
	run(Reflogp, "--model", model, "--batch-tokens", "512", "--plain-batches", "-q", "-o", full, in)
	var shards []string
	for i := range 3 {
		s := filepath.Join(dir, fmt.Sprintf("ref-%d-of-3.arrow", i))
		run(Reflogp, "--model", model, "--batch-tokens", "512", "--plain-batches", "-q", "--shard", fmt.Sprintf("%d/3", i), "-o", s, in)
		shards = append(shards, s)
	}
	wc, wr := streamRows(t, full)
	gc, gr := streamRows(t, shards...)
	sameRows(t, "reflogp shards", gc, gr, wc, wr)
	if _, r := streamRows(t, shards[0]); len(r) != 6 { // floor(20/3)
		t.Errorf("shard 0/3 of 20 rows has %d rows, want 6", len(r))
	}

	// dpo-score: on the shard list (a glob) and as shards of the full stream.
	scored := filepath.Join(dir, "scored.arrow")
	run(Score, "--policy", model, "--batch-tokens", "512", "--plain-batches", "-q", "-o", scored, full)
	scoredGlob := filepath.Join(dir, "scored-glob.arrow")
	run(Score, "--policy", model, "--batch-tokens", "512", "--plain-batches", "-q", "-o", scoredGlob, filepath.Join(dir, "ref-*-of-3.arrow"))
	wc, wr = streamRows(t, scored)
	gc, gr = streamRows(t, scoredGlob)
	sameRows(t, "score of the shard list", gc, gr, wc, wr)
	var scoredShards []string
	for i := range 3 {
		s := filepath.Join(dir, fmt.Sprintf("scored-%d.arrow", i))
		run(Score, "--policy", model, "--batch-tokens", "512", "--plain-batches", "-q", "--shard", fmt.Sprintf("%d/3", i), "-o", s, full)
		scoredShards = append(scoredShards, s)
	}
	gc, gr = streamRows(t, scoredShards...)
	sameRows(t, "score shards", gc, gr, wc, wr)

	// dpo-train reads the shard list in order: one step over all 20 rows.
	out := filepath.Join(dir, "out")
	if stderr, err := runTrain("--model", model, "--out", out, "--batch-size", "20", "--max-steps", "1", "-q", shards[0], shards[1], shards[2]); err != nil {
		t.Fatalf("train on shards: %v\n%s", err, stderr)
	}
	var cfg struct {
		Input  string   `json:"input"`
		Inputs []string `json:"inputs"`
	}
	if err := json.Unmarshal(mustRead(t, filepath.Join(out, "train_config.json")), &cfg); err != nil || cfg.Input != shards[0] || len(cfg.Inputs) != 2 {
		t.Errorf("train_config.json inputs %+v, %v", cfg, err)
	}
}

func TestShardFlag(t *testing.T) {
	for _, bad := range []string{"3/3", "-1/3", "1", "a/b", "0/0"} {
		var s shardSpec
		if err := s.Set(bad); err == nil {
			t.Errorf("--shard %s accepted", bad)
		}
	}
	// The slices of T rows cover 0..T-1 once, in order.
	for _, total := range []int64{0, 1, 2, 20, 1000003} {
		for _, n := range []int{1, 3, 8} {
			next := int64(0)
			for i := range n {
				lo, hi := (&shardSpec{I: i, N: n}).bounds(total)
				if lo != next || hi < lo {
					t.Fatalf("T=%d N=%d shard %d: [%d,%d) after %d", total, n, i, lo, hi, next)
				}
				next = hi
			}
			if next != total {
				t.Fatalf("T=%d N=%d: shards end at %d", total, n, next)
			}
		}
	}
	// --shard needs files.
	err := Reflogp(context.Background(), []string{"--model", "x", "--shard", "0/2"}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || ExitCode(err) == 0 {
		t.Errorf("--shard on stdin: %v", err)
	}
}

func TestExpandInputs(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"train-00002-of-00003.arrow", "train-00000-of-00003.arrow", "train-00001-of-00003.arrow", "other.arrow"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	got, err := expandInputs([]string{filepath.Join(dir, "train-0000*-of-00003.arrow"), filepath.Join(dir, "other.arrow")})
	if err != nil {
		t.Fatal(err)
	}
	var base []string
	for _, g := range got {
		base = append(base, filepath.Base(g))
	}
	if want := "train-00000-of-00003.arrow,train-00001-of-00003.arrow,train-00002-of-00003.arrow,other.arrow"; strings.Join(base, ",") != want {
		t.Errorf("got %v, want %s", base, want)
	}
	for _, bad := range [][]string{{filepath.Join(dir, "nothing-*.arrow")}, {"-", "a"}, {filepath.Join(dir, "other.arrow"), filepath.Join(dir, "o*.arrow")}} {
		if _, err := expandInputs(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// A shard with no rows (more shards than rows) writes a valid empty stream,
// which dpo-score and dpo-train read as part of the list.
func TestEmptyShard(t *testing.T) {
	model := randomModel(t, 7)
	dir := t.TempDir()
	in := writeBytes(t, dir, "pairs.arrow", tokenizeExample(t, 2))
	var paths []string
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("ref-%d.arrow", i))
		var errb bytes.Buffer
		if err := Reflogp(context.Background(), []string{"--model", model, "-q", "--shard", fmt.Sprintf("%d/3", i), "-o", p, in}, nil, io.Discard, &errb); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, errb.String())
		}
		paths = append(paths, p)
	}
	if _, rows := streamRows(t, paths[0]); len(rows) != 0 {
		t.Errorf("shard 0/3 of 2 rows has %d rows", len(rows))
	}
	if _, rows := streamRows(t, paths...); len(rows) != 2 {
		t.Errorf("the shards hold %d rows, want 2", len(rows))
	}
	var errb bytes.Buffer
	if err := Score(context.Background(), []string{"--policy", model, "-q", "--shard", "0/3", "-o", filepath.Join(dir, "s.arrow"), paths[1]}, nil, io.Discard, &errb); err != nil {
		t.Errorf("empty score shard: %v\n%s", err, errb.String())
	}
}
