package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
)

// rewriteMeta copies the stream src to dst with its metadata changed by f.
func rewriteMeta(t *testing.T, src, dst string, f func(m *arrowio.Metadata)) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.Open(src, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	meta := r.Metadata().Clone()
	f(&meta)
	var buf bytes.Buffer
	w, err := arrowio.NewWriter(&buf, arrowio.WithMetadata(r.Schema(), meta), arrowio.WriterOptions{Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		if err := w.Write(r.Record()); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// setRefOption changes one field of the reflogp stage options.
func setRefOption(key string, value any) func(m *arrowio.Metadata) {
	return func(m *arrowio.Metadata) {
		raw, _ := m.Get(arrowio.StageOptionsKey(arrowio.StageReflogp))
		var o map[string]any
		json.Unmarshal([]byte(raw), &o)
		o[key] = value
		b, _ := json.Marshal(o)
		m.Set(arrowio.StageOptionsKey(arrowio.StageReflogp), string(b))
	}
}

// TestMixedInputs: every input is checked on its own, not only the first:
// a second input from another tokenizer, reference streams from another
// reference model or options, and incomplete or repeated shard sets are
// refused by dpo-reflogp, dpo-score and dpo-train, naming the file and the
// metadata field with both values; --allow-partial-shards accepts a
// subset (not a repeat).
func TestMixedInputs(t *testing.T) {
	model := randomModel(t, 5)
	dir := t.TempDir()
	pairsA := writeBytes(t, dir, "a.arrow", tokenizeExample(t, 9))
	pairsB := filepath.Join(dir, "b.arrow")
	rewriteMeta(t, pairsA, pairsB, func(m *arrowio.Metadata) { m.SetTokenizer("other/tok", "0123456789abcdef") })
	var shards []string
	for i := range 3 {
		s := filepath.Join(dir, fmt.Sprintf("ref-%d-of-3.arrow", i))
		var errb bytes.Buffer
		if err := Reflogp(context.Background(), []string{"--model", model, "-q", "--shard", fmt.Sprintf("%d/3", i), "-o", s, pairsA}, nil, io.Discard, &errb); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, errb.String())
		}
		shards = append(shards, s)
	}
	otherRef := filepath.Join(dir, "ref-1-other-model.arrow")
	rewriteMeta(t, shards[1], otherRef, setRefOption("weights_sha256", "feedface"))
	otherLD := filepath.Join(dir, "ref-1-ld.arrow")
	rewriteMeta(t, shards[1], otherLD, setRefOption("ld_alpha", 0.5))
	repeat := filepath.Join(dir, "ref-0-again.arrow")
	rewriteMeta(t, shards[0], repeat, func(*arrowio.Metadata) {})

	type tool struct {
		name string
		run  func(args ...string) (string, error)
	}
	reflogp := tool{"dpo-reflogp", func(args ...string) (string, error) {
		var errb bytes.Buffer
		err := Reflogp(context.Background(), append([]string{"--model", model, "-q", "-o", filepath.Join(dir, "out.arrow")}, args...), nil, io.Discard, &errb)
		return errb.String(), err
	}}
	score := tool{"dpo-score", func(args ...string) (string, error) {
		var errb bytes.Buffer
		err := Score(context.Background(), append([]string{"--policy", model, "-q", "-o", filepath.Join(dir, "scored.arrow")}, args...), nil, io.Discard, &errb)
		return errb.String(), err
	}}
	n := 0
	train := tool{"dpo-train", func(args ...string) (string, error) {
		n++
		return runTrain(append([]string{"--model", model, "--max-steps", "1", "-q", "--out", filepath.Join(dir, fmt.Sprintf("train-%d", n))}, args...)...)
	}}
	for _, c := range []struct {
		name   string
		tools  []tool
		inputs []string
		want   []string // in the error; empty: accepted
	}{
		{"second tokenizer", []tool{reflogp}, []string{pairsA, pairsB}, []string{"b.arrow", arrowio.KeyTokenizerSHA256, `"0123456789abcdef"`, `"builtin:bytes"`}},
		{"other reference model", []tool{score, train}, []string{shards[0], otherRef, shards[2]}, []string{"ref-1-other-model.arrow", "weights_sha256", `"feedface"`}},
		{"other reference options", []tool{score, train}, []string{shards[0], otherLD, shards[2]}, []string{"ref-1-ld.arrow", "ld_alpha", "0.5", "absent"}},
		{"incomplete shard set", []tool{score, train}, []string{shards[0], shards[2]}, []string{"1/3", "missing", "dpo.reflogp.options.shard", "--allow-partial-shards"}},
		{"incomplete shard set allowed", []tool{score, train}, []string{"--allow-partial-shards", shards[0], shards[2]}, nil},
		{"repeated shard", []tool{score, train}, []string{shards[0], shards[1], shards[2], repeat}, []string{"ref-0-again.arrow", "repeats", "reflogp 0/3", "ref-0-of-3.arrow"}},
		{"repeated shard, partial allowed", []tool{train}, []string{"--allow-partial-shards", shards[0], repeat}, []string{"ref-0-again.arrow", "repeats"}},
		{"shards mixed with an unsharded stream", []tool{score}, []string{shards[0], shards[1], shards[2], filepath.Join(dir, "whole.arrow")}, []string{"whole.arrow", "has no dpo.reflogp.options.shard"}},
		{"complete set", []tool{score, train}, shards, nil},
	} {
		if c.name == "shards mixed with an unsharded stream" {
			var errb bytes.Buffer
			if err := Reflogp(context.Background(), []string{"--model", model, "-q", "-o", filepath.Join(dir, "whole.arrow"), pairsA}, nil, io.Discard, &errb); err != nil {
				t.Fatal(err, errb.String())
			}
		}
		for _, tl := range c.tools {
			t.Run(c.name+"/"+tl.name, func(t *testing.T) {
				stderr, err := tl.run(c.inputs...)
				if len(c.want) == 0 {
					if err != nil {
						t.Fatalf("refused: %v\n%s", err, stderr)
					}
					return
				}
				if err == nil {
					t.Fatalf("accepted")
				}
				if ExitCode(err) != 1 {
					t.Errorf("exit %d, want 1: %v", ExitCode(err), err)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %q", err, w)
					}
				}
			})
		}
	}
}
