package train_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/train"
)

// TestTokenizerFilesCopied: the --model directory's tokenizer files go
// into every checkpoint and the final model when its tokenizer.json is
// the stream's; dpo.json records the stream's tokenizer identity. A
// --tokenizer directory whose tokenizer.json differs is refused.
func TestTokenizerFilesCopied(t *testing.T) {
	dir := t.TempDir()
	base := newBase(t, dir, 32, 1, 3)
	tokJSON := []byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`)
	for name, b := range map[string][]byte{"tokenizer.json": tokJSON, "tokenizer_config.json": []byte(`{"eos_token":"</s>"}`)} {
		if err := os.WriteFile(filepath.Join(base, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sha := arrowio.HashBytes(tokJSON)
	ps := synthPairs(4, 1)
	in := filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, engineRefs(t, base, ps), sha)
	c := testConfig(base, in, filepath.Join(dir, "out"))
	c.BatchSize = 2
	if _, err := train.Run(context.Background(), c, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{c.Out, filepath.Join(c.Out, "checkpoint-2")} {
		for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
			if _, err := os.Stat(filepath.Join(d, f)); err != nil {
				t.Errorf("%s not copied into %s", f, d)
			}
		}
		if m, _, err := ckpt.Read(d); err != nil || m.TokenizerSHA256 != sha {
			t.Errorf("%s/dpo.json: %+v %v", d, m, err)
		}
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "tokenizer.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Out, c.Tokenizer = filepath.Join(dir, "out2"), other
	if _, err := train.Run(context.Background(), c, "test", nil, nil); err == nil || !strings.Contains(err.Error(), "tokenizer") {
		t.Errorf("--tokenizer with another tokenizer.json: %v", err)
	}
}
