package cli

import (
	"bytes"
	"context"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/arrowio"
)

// TestReflogpLDAlpha: dpo-reflogp --ld-alpha weighs each sequence's
// tokens past the pair's shorter completion by α, as TRL 1.16's
// DPOTrainer does (shared + ld_alpha·tail), on per-token log-probs that
// transformers computes for a checkpoint it made; the value is recorded in
// the stream's options, and dpo-train --ld-alpha accepts the stream only
// with the same α.
func TestReflogpLDAlpha(t *testing.T) {
	if testing.Short() {
		t.Skip("transformers oracle: skipped with -short")
	}
	root := t.TempDir()
	base := filepath.Join(root, "llama")
	in := tokenizeExample(t, 12)
	pairs, _ := readPairsStream(t, in)
	var seqs [][]int32
	var prompts []int
	for _, p := range pairs {
		for _, c := range [][]int32{p.Chosen, p.Rejected} {
			seqs = append(seqs, append(append([]int32{}, p.Prompt...), c...))
			prompts = append(prompts, len(p.Prompt))
		}
	}
	cfg := map[string]any{"model_type": "llama", "vocab_size": 300, "hidden_size": 32, "intermediate_size": 64,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 512}
	hf := runHFOracle(t, map[string]any{"make": []map[string]any{{"name": "llama", "dir": base, "seed": 7,
		"config": cfg, "seqs": seqs, "prompt_lens": prompts}}})["llama"]
	if err := ckpt.Write(base, ckpt.Meta{TokenizerName: "builtin:bytes", TokenizerSHA256: "builtin:bytes"}); err != nil {
		t.Fatal(err)
	}
	const alpha = 0.3
	var out bytes.Buffer
	if err := Reflogp(context.Background(), []string{"--model", base, "-q", "--ld-alpha", "0.3"}, bytes.NewReader(in), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.NewReader(bytes.NewReader(out.Bytes()), "out", mem)
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for r.Next() {
		rc, _ := arrowio.Float64Column(r.Record(), arrowio.ColRefChosenLogps)
		rr, _ := arrowio.Float64Column(r.Record(), arrowio.ColRefRejectedLogps)
		for i := range rc {
			got = append(got, rc[i], rr[i])
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	var opts map[string]any
	if err := r.Metadata().StageOptions(arrowio.StageReflogp, &opts); err != nil {
		t.Fatal(err)
	}
	r.Release()
	if a, ok := opts["ld_alpha"].(float64); !ok || a != alpha {
		t.Errorf("stream options: ld_alpha %v, want %v", opts["ld_alpha"], alpha)
	}
	if len(got) != len(seqs) || len(hf.TokenLogps) != len(seqs) {
		t.Fatalf("%d values, transformers %d, want %d", len(got), len(hf.TokenLogps), len(seqs))
	}
	unequal := 0
	for i := 0; i < len(seqs); i += 2 {
		shared := min(len(hf.TokenLogps[i]), len(hf.TokenLogps[i+1]))
		if len(hf.TokenLogps[i]) != len(hf.TokenLogps[i+1]) {
			unequal++
		}
		for j := i; j <= i+1; j++ {
			var head, tail float64
			for k, v := range hf.TokenLogps[j] {
				if k < shared {
					head += v
				} else {
					tail += v
				}
			}
			want := head + alpha*tail
			if d := math.Abs(got[j] - want); d > 1e-5*math.Abs(want) {
				t.Errorf("sequence %d: %v, transformers with TRL's ld_alpha weighting %v", j, got[j], want)
			}
		}
	}
	if unequal == 0 {
		t.Fatal("every pair has equal completion lengths: ld_alpha is not exercised")
	}
	ref := writeBytes(t, root, "ref.arrow", out.Bytes())
	if stderr, err := runTrain("--model", base, "--out", filepath.Join(root, "ok"), "--batch-size", "4", "--max-steps", "1",
		"--ld-alpha", "0.3", "-q", ref); err != nil {
		t.Fatalf("dpo-train --ld-alpha 0.3 on a 0.3 reference: %v\n%s", err, stderr)
	}
	if stderr, err := runTrain("--model", base, "--out", filepath.Join(root, "bad"), "--batch-size", "4", "--max-steps", "1",
		"--ld-alpha", "0.5", "-q", ref); err == nil || !strings.Contains(stderr+err.Error(), "ld_alpha") {
		t.Fatalf("dpo-train --ld-alpha 0.5 on a 0.3 reference: want an error naming ld_alpha, got %v\n%s", err, stderr)
	}
}
