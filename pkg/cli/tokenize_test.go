package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
// goldens that hold TRL 1.16's own ids (written by
// `go test ./pkg/cli -run TestTokenizeMatchesTRL -update`, which runs TRL;
// this test needs no Python).
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

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenizeErrors(t *testing.T) {
	good := `{"prompt":"a","chosen":"b","rejected":"c"}` + "\n"
	bad := good + `{"prompt":"a","chosen":5,"rejected":"c"}` + "\n" + good
	tests := []struct {
		name     string
		args     func(t *testing.T) []string
		wantCode int
		wantErr  string
	}{
		{"no tokenizer", func(t *testing.T) []string { return []string{writeFile(t, "x.jsonl", good)} }, 2, "--tokenizer is required"},
		{"bad truncation", func(t *testing.T) []string {
			return []string{"--tokenizer", "builtin:bytes", "--truncation-mode", "middle", writeFile(t, "x.jsonl", good)}
		}, 2, "truncation mode"},
		{"skip without rejects", func(t *testing.T) []string {
			return []string{"--tokenizer", "builtin:bytes", "--on-error", "skip", writeFile(t, "x.jsonl", good)}
		}, 2, "--rejects"},
		{"unknown builtin", func(t *testing.T) []string {
			return []string{"--tokenizer", "builtin:nope", writeFile(t, "x.jsonl", good)}
		}, 2, "nope"},
		{"missing input", func(t *testing.T) []string { return []string{"--tokenizer", "builtin:bytes", "/nonexistent/x.jsonl"} }, 1, "/nonexistent/x.jsonl"},
		{"bad row names file, line and field", func(t *testing.T) []string {
			return []string{"--tokenizer", "builtin:bytes", writeFile(t, "bad.jsonl", bad)}
		}, 1, "bad.jsonl:2"},
		{"empty input", func(t *testing.T) []string {
			return []string{"--tokenizer", "builtin:bytes", writeFile(t, "e.jsonl", "")}
		}, 1, "no pairs written"},
		// --columns naming a column the input does not have: an error
		// listing the columns there are (it used to give empty prompts).
		{"--columns prompt to an absent field", func(t *testing.T) []string {
			return []string{"--tokenizer", "builtin:bytes", "--columns", "prompt=question", writeFile(t, "x.jsonl", good)}
		}, 1, `x.jsonl:1: field "question": missing column "question" (--columns prompt=question) (the record's fields: chosen, prompt, rejected)`},
		{"--columns system to an absent field", func(t *testing.T) []string {
			return []string{"--tokenizer", "builtin:bytes", "--columns", "system=sys", writeFile(t, "x.jsonl", good)}
		}, 1, `missing column "sys" (--columns system=sys) (fields of the first record: chosen, prompt, rejected): no record has it`},
		{"strict fails on a pair that cannot fit", func(t *testing.T) []string {
			return []string{"--tokenizer", "builtin:bytes", "--strict", "--max-length", "1", writeFile(t, "x.jsonl", good)}
		}, 1, "strict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.arrow")
			_, _, err := runTokenize(t, append([]string{"-o", out}, tt.args(t)...)...)
			if code := ExitCode(err); code != tt.wantCode {
				t.Fatalf("exit code %d (err %v), want %d", code, err, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if _, statErr := os.Stat(out); statErr == nil {
				t.Errorf("output file left behind after a failed run")
			}
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".out.arrow.tmp-*")); len(m) > 0 {
				t.Errorf("temp files left behind: %v", m)
			}
		})
	}
}

func TestTokenizeSkipAndDrop(t *testing.T) {
	in := `{"id":"a","prompt":"p","chosen":"c","rejected":"r"}
{"id":"b","prompt":"p","chosen":["x"],"rejected":"r"}
{"id":"c","prompt":"pppppppppp","chosen":"c","rejected":"r"}
not json
{"id":"e","prompt":"p","chosen":"cc","rejected":"r"}
`
	dir := t.TempDir()
	rejects := filepath.Join(dir, "rejects.jsonl")
	summary := filepath.Join(dir, "summary.json")
	stdout, stderr, err := runTokenize(t, "--tokenizer", "builtin:bytes", "--on-error", "skip", "--rejects", rejects,
		"--summary", summary, "--max-length", "8", "--truncation-mode", "keep_start", writeFile(t, "in.jsonl", in))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows, _ := readPairsStream(t, stdout.Bytes())
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"a", "e"}) {
		t.Errorf("written ids %v, want [a e]", ids)
	}
	var sum struct {
		Read, Written, Rejected int64
		Dropped                 map[string]int64
	}
	b, _ := os.ReadFile(summary)
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Read != 5 || sum.Written != 2 || sum.Rejected != 2 || sum.Dropped["prompt_fills_max_length"] != 1 {
		t.Errorf("summary %+v", sum)
	}
	rej, _ := os.ReadFile(rejects)
	if n := strings.Count(string(rej), "\n"); n != 3 {
		t.Errorf("rejects file has %d lines, want 3 (2 bad rows + 1 dropped):\n%s", n, rej)
	}
	if !strings.Contains(string(rej), `"field":"chosen`) || !strings.Contains(string(rej), "not json") {
		t.Errorf("rejects lack the field or the raw line:\n%s", rej)
	}
}

// Output order equals input order whatever the number of workers, and the
// stream read from stdin equals the one read from a file.
func TestTokenizeOrderAndStdin(t *testing.T) {
	var sb strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&sb, `{"id":"r%d","prompt":"p%d","chosen":"c%d","rejected":"r"}`+"\n", i, i%97, i)
	}
	path := writeFile(t, "in.jsonl", sb.String())
	out1, _, err := runTokenize(t, "--tokenizer", "builtin:bytes", "--workers", "1", path)
	if err != nil {
		t.Fatal(err)
	}
	out8 := &bytes.Buffer{}
	if err := Tokenize(context.Background(), []string{"--tokenizer", "builtin:bytes", "--workers", "8", "-"}, strings.NewReader(sb.String()), out8, io.Discard); err != nil {
		t.Fatal(err)
	}
	a, _ := readPairsStream(t, out1.Bytes())
	b, _ := readPairsStream(t, out8.Bytes())
	if len(a) != 3000 || len(b) != 3000 {
		t.Fatalf("rows %d and %d, want 3000", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != fmt.Sprintf("r%d", i) || b[i].ID != a[i].ID || !slices.Equal(a[i].Chosen, b[i].Chosen) {
			t.Fatalf("row %d: %s vs %s", i, a[i].ID, b[i].ID)
		}
	}
}
