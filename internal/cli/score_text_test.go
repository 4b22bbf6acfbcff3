package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dpo-score --format jsonl --text adds the decoded texts, which hold the
// dataset's own prompt and completions.
func TestScoreJSONLText(t *testing.T) {
	dir := randomModel(t, 6)
	ref := refStream(t, dir, 6)
	var out bytes.Buffer
	if err := Score(context.Background(), []string{"--policy", dir, "--format", "jsonl", "--text", "-q", "--batch-tokens", "512"}, bytes.NewReader(ref), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "sort", "heldout.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Split(string(data), "\n")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, l := range lines {
		var row, orig map[string]any
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(src[i]), &orig); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"prompt", "chosen", "rejected"} {
			got, _ := row[k].(string)
			if !strings.Contains(got, orig[k].(string)) {
				t.Errorf("row %d: %s %q does not hold the dataset's %q", i, k, got, orig[k])
			}
		}
	}
	if err := Score(context.Background(), []string{"--policy", dir, "--text"}, bytes.NewReader(ref), io.Discard, io.Discard); ExitCode(err) != 2 {
		t.Errorf("--text without --format jsonl: %v", err)
	}
}
