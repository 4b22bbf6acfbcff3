package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dpo-train checks sizes before it allocates: an --init-config with a
// hidden_size or num_hidden_layers of 2^40 exits 1 naming the field (it
// panicked in makeslice or allocated until OOM), and a run whose
// estimated peak exceeds --max-memory exits 1 naming the component.
func TestTrainSizeBounds(t *testing.T) {
	dir := t.TempDir()
	base := randomModel(t, 4)
	ref := filepath.Join(dir, "ref.arrow")
	if err := Reflogp(t.Context(), []string{"--model", base, "-q", "-o", ref}, strings.NewReader(string(tokenizeExample(t, 4))), nil, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "sort", "model", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"hidden_size", "num_hidden_layers"} {
		var m map[string]any
		json.Unmarshal(src, &m)
		m[field] = int64(1) << 40
		b, _ := json.Marshal(m)
		cfg := writeBytes(t, dir, field+".json", b)
		stderr, err := runTrain("--init-config", cfg, "--loss", "sft", "-q", "--out", filepath.Join(dir, "out-"+field), ref)
		if err == nil || ExitCode(err) != 1 || !strings.Contains(err.Error(), field) {
			t.Errorf("%s 2^40: err %v (exit %d), want exit 1 naming the field\n%s", field, err, ExitCode(err), stderr)
		}
	}
	stderr, err := runTrain("--model", base, "--max-memory", "1MiB", "-q", "--out", filepath.Join(dir, "out-mem"), ref)
	if err == nil || ExitCode(err) != 1 || !strings.Contains(err.Error(), "--max-memory") || !strings.Contains(err.Error(), "the largest part is the") {
		t.Errorf("--max-memory 1MiB: err %v (exit %d)\n%s", err, ExitCode(err), stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out-mem", "model.safetensors")); err == nil {
		t.Error("a model was written")
	}
	if stderr, err := runTrain("--model", base, "--max-memory", "0", "--max-steps", "1", "-q", "--out", filepath.Join(dir, "out-ok"), ref); err != nil {
		t.Errorf("--max-memory 0: %v\n%s", err, stderr)
	}
}
