package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/arrowio"
)

type goldenPair struct {
	ID       string  `json:"id"`
	Prompt   []int32 `json:"prompt_input_ids"`
	Chosen   []int32 `json:"chosen_input_ids"`
	Rejected []int32 `json:"rejected_input_ids"`
	Error    string  `json:"error"`
}

// readPairsStream reads a dpo stream into golden-shaped rows.
func readPairsStream(t *testing.T, data []byte) ([]goldenPair, arrowio.Metadata) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := arrowio.NewReader(bytes.NewReader(data), "out", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var rows []goldenPair
	for r.Next() {
		p, err := arrowio.ReadPairs(r.Record())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < p.Rows; i++ {
			rows = append(rows, goldenPair{ID: p.ID.Value(i), Prompt: slices.Clone(p.Prompt.Row(i)), Chosen: slices.Clone(p.Chosen.Row(i)), Rejected: slices.Clone(p.Rejected.Row(i))})
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, r.Metadata()
}

func runTokenize(t *testing.T, args ...string) (stdout, stderr *bytes.Buffer, err error) {
	t.Helper()
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	err = Tokenize(context.Background(), args, strings.NewReader(""), stdout, stderr)
	return stdout, stderr, err
}

// TestTokenizeMatchesReference runs dpo-tokenize on standard, conversational
// and implicit-prompt pairs with real tokenizers and compares every id with
// tools/refs/pairs_golden.js (HF Rust tokenizers + Python jinja2 + TRL's split
// rule written independently in JavaScript).
func TestTokenizeMatchesReference(t *testing.T) {
	for _, name := range []string{"qwen3", "llama3", "gemma3", "mistral"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Dir(testrefs.Tokenizer(t, name))
			rejects := filepath.Join(t.TempDir(), "rejects.jsonl")
			stdout, stderr, err := runTokenize(t, "--tokenizer", dir, "--workers", "3", "--on-error", "skip", "--rejects", rejects, "--batch-rows", "5", filepath.Join("..", "tokenize", "testdata", "pairs.jsonl"))
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			got, meta := readPairsStream(t, stdout.Bytes())
			want := readGolden(t, filepath.Join("..", "tokenize", "testdata", "golden_"+name+".jsonl"))
			rej := readRejectIDs(t, rejects)
			gi := 0
			for _, w := range want {
				if w.Error != "" {
					if !rej[w.ID] {
						t.Errorf("%s: reference rejects it (%s) but it is not in the rejects file", w.ID, w.Error)
					}
					continue
				}
				if gi >= len(got) {
					t.Fatalf("output has %d rows, reference has more", len(got))
				}
				g := got[gi]
				gi++
				if g.ID != w.ID || !slices.Equal(g.Prompt, w.Prompt) || !slices.Equal(g.Chosen, w.Chosen) || !slices.Equal(g.Rejected, w.Rejected) {
					t.Errorf("%s: got\n  id %s prompt %v\n  chosen %v\n  rejected %v\nwant\n  id %s prompt %v\n  chosen %v\n  rejected %v", w.ID, g.ID, g.Prompt, g.Chosen, g.Rejected, w.ID, w.Prompt, w.Chosen, w.Rejected)
				}
			}
			if gi != len(got) {
				t.Errorf("output has %d rows, reference %d", len(got), gi)
			}
			if n, sha := meta.Tokenizer(); n == "" || len(sha) != 64 {
				t.Errorf("tokenizer identity not recorded: %q %q", n, sha)
			}
		})
	}
}

func readGolden(t *testing.T, path string) []goldenPair {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenPair
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var g goldenPair
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			t.Fatal(err)
		}
		out = append(out, g)
	}
	return out
}

func readRejectIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var r struct{ ID string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		ids[r.ID] = true
	}
	return ids
}
