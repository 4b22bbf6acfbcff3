package gputool

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/bench/internal/streamdump"
	"github.com/dpo-go/dpo/internal/cli"
	"github.com/dpo-go/dpo/pkg/model"
)

func TestModelConfig(t *testing.T) {
	tests := []struct {
		name                              string
		layers, hidden, heads, kv, inter  int
		vocab                             int
		wantLayers, wantHidden, wantVocab int
		wantHeadDim                       int
	}{
		{"preset", 0, 0, 0, 0, 0, 0, 24, 896, 151936, 64},
		{"two layers real vocab", 2, 0, 0, 0, 0, 0, 2, 896, 151936, 64},
		{"tiny", 2, 32, 4, 2, 40, 300, 2, 32, 300, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js, err := ModelConfig(tc.layers, tc.hidden, tc.heads, tc.kv, tc.inter, tc.vocab, 0)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := model.ParseConfig(js)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Arch != "Qwen2ForCausalLM" || cfg.NumLayers != tc.wantLayers || cfg.HiddenSize != tc.wantHidden ||
				cfg.VocabSize != tc.wantVocab || cfg.HeadDim != tc.wantHeadDim || !cfg.TieWordEmbeddings || !cfg.AttentionBias {
				t.Errorf("got %+v", cfg)
			}
		})
	}
}

func TestRandomPairs(t *testing.T) {
	a := RandomPairs(3, 5, 6, 7, 9, "x")
	b := RandomPairs(3, 5, 6, 7, 9, "x")
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("not deterministic: %+v vs %+v", a[i], b[i])
		}
		if len(a[i].Prompt) != 5 || len(a[i].Chosen) != 6 || len(a[i].Rejected) != 7 || !strings.HasPrefix(a[i].ID, "x") {
			t.Errorf("pair %d: %+v", i, a[i])
		}
	}
}

// TestPipeline runs mkpairs | tokenize | (mkmodel) reflogp | dump in
// process and checks the dump carries the stream's ids and log-probs.
func TestPipeline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var pairs, tok, ref, dump, errb bytes.Buffer
	if err := MkPairs(ctx, []string{"--n", "3", "--prompt-len", "4", "--chosen-len", "2", "--rejected-len", "3"}, nil, &pairs, &errb); err != nil {
		t.Fatal(err)
	}
	if err := cli.Tokenize(ctx, []string{"-q", "--tokenizer", "builtin:bytes"}, &pairs, &tok, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	m := filepath.Join(dir, "m")
	if err := MkModel(ctx, []string{"--out", m, "--layers", "1", "--hidden", "16", "--heads", "2", "--kv-heads", "1", "--intermediate", "24", "--vocab", "260"}, nil, &errb, &errb); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := cli.Reflogp(ctx, []string{"-q", "--model", m, "--ignore-tokenizer-mismatch"}, &tok, &ref, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows, err := streamdump.ReadRows(bytes.NewReader(ref.Bytes()), "ref", mem, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		// builtin:bytes: one id per byte, EOS appended to completions.
		if len(r.Prompt) != 4 || len(r.Chosen) != 3 || len(r.Rejected) != 4 || r.RefChosen == nil || *r.RefChosen >= 0 {
			t.Errorf("row %+v", r)
		}
	}
	if err := streamdump.Command(false)(ctx, nil, bytes.NewReader(ref.Bytes()), &dump, &errb); err != nil {
		t.Fatal(err)
	}
	var got struct{ Rows []streamdump.Row }
	if err := json.Unmarshal(dump.Bytes(), &got); err != nil || len(got.Rows) != 3 || *got.Rows[0].RefChosen != *rows[0].RefChosen {
		t.Errorf("dump: %v %s", err, dump.String())
	}
}
