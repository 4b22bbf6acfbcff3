package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestOldStreamWarns: dpo-train and dpo-sample, like the other readers of
// pairs streams, warn that a stream written before format version 3 has
// no batch order to check (whatever they then make of its rows).
func TestOldStreamWarns(t *testing.T) {
	old := filepath.Join("..", "..", "pkg", "arrowio", "testdata", "pairs_v2_zstd.arrows")
	const want = "pairs_v2_zstd.arrows: written by an older dpo (format version 2): batch order is not checked"
	base := randomModel(t, 4)
	stderr, err := runTrain("--model", base, "--reference-free", "--ignore-tokenizer-mismatch", "--out", filepath.Join(t.TempDir(), "out"), old)
	if !strings.Contains(stderr, want) {
		t.Errorf("dpo-train on a version-2 stream (err %v): no warning in\n%s", err, stderr)
	}
	var out, errb bytes.Buffer
	err = Sample(context.Background(), []string{"--model", base, "--max-new-tokens", "2", old}, strings.NewReader(""), &out, &errb)
	if !strings.Contains(errb.String(), want) {
		t.Errorf("dpo-sample on a version-2 stream (err %v): no warning in\n%s", err, errb.String())
	}
}
