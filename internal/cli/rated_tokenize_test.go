package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// TestTokenizeRatedEqualsPairs binarizes a judge's flat output and grouped
// rows, and checks that every pair's ids equal those of the same pair
// written out by hand as an ordinary preference pair (text and
// conversational prompts, the latter through a real chat template); the skips
// are reported on stderr and in --rejects.
func TestTokenizeRatedEqualsPairs(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conv := `[{"role":"user","content":"Sort: 3 1 2"}]`
	convStr, _ := json.Marshal(conv)
	flat := write("judged.jsonl",
		`{"id":"q1","sample_index":0,"prompt":"Sort: 3 1 2","completion":"1 3 2","score":0.33}`,
		`{"id":"q2","sample_index":0,"prompt":`+string(convStr)+`,"completion":"1 2 3","score":1}`,
		`{"id":"q1","sample_index":1,"prompt":"Sort: 3 1 2","completion":"1 2 3","score":1}`,
		`{"id":"q2","sample_index":1,"prompt":`+string(convStr)+`,"completion":"3 2 1","score":0}`,
		`{"id":"q3","sample_index":0,"prompt":"Sort: 1","completion":"1","score":1}`,
		`{"id":"q4","sample_index":0,"prompt":"Sort: 2 1","completion":"1 2","score":1}`,
		`{"id":"q4","sample_index":1,"prompt":"Sort: 2 1","completion":"1 2","score":1}`,
	)
	pairs := write("pairs.jsonl",
		`{"id":"q1/1-0","prompt":"Sort: 3 1 2","chosen":"1 2 3","rejected":"1 3 2"}`,
		`{"id":"q2/0-1","prompt":`+conv+`,"chosen":[{"role":"assistant","content":"1 2 3"}],"rejected":[{"role":"assistant","content":"3 2 1"}]}`,
	)
	grouped := write("grouped.jsonl",
		`{"id":"q1","prompt":"Sort: 3 1 2","completions":["1 3 2","1 2 3"],"scores":[0.33,1]}`,
		`{"id":"q2","prompt":`+conv+`,"completions":["1 2 3","3 2 1"],"scores":[1,0]}`,
		`{"id":"q3","prompt":"Sort: 1","completions":["1"],"scores":[1]}`,
		`{"id":"q4","prompt":"Sort: 2 1","completions":["1 2","1 2"],"scores":[1,1]}`,
	)
	tok := filepath.Dir(testrefs.Tokenizer(t, "qwen3"))
	stdout, stderr, err := runTokenize(t, "--tokenizer", tok, pairs)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want, _ := readPairsStream(t, stdout.Bytes())
	for _, in := range []string{flat, grouped} {
		rejects := filepath.Join(dir, "rejects.jsonl")
		stdout, stderr, err := runTokenize(t, "--tokenizer", tok, "--rejects", rejects, in)
		if err != nil {
			t.Fatalf("%s: %v\n%s", in, err, stderr)
		}
		got, meta := readPairsStream(t, stdout.Bytes())
		if len(got) != len(want) {
			t.Fatalf("%s: %d pairs, want %d", in, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.ID != w.ID || !slices.Equal(g.Prompt, w.Prompt) || !slices.Equal(g.Chosen, w.Chosen) || !slices.Equal(g.Rejected, w.Rejected) {
				t.Errorf("%s: pair %d:\n got  %+v\n want %+v", in, i, g, w)
			}
		}
		for _, s := range []string{"rated completions: 4 prompts, 7 completions, binarized into 2 pairs", "rated prompts skipped (no pair) 2 (single_completion: 1, tied_scores: 1)"} {
			if !strings.Contains(stderr.String(), s) {
				t.Errorf("%s: stderr lacks %q:\n%s", in, s, stderr)
			}
		}
		rej := readRejectIDs(t, rejects)
		if len(rej) != 2 || !rej["q3"] || !rej["q4"] {
			t.Errorf("%s: rejects file ids %v, want q3 and q4", in, rej)
		}
		var st struct {
			Rated struct {
				Pairs string `json:"pairs"`
			} `json:"rated"`
		}
		if err := meta.StageOptions("tokenize", &st); err != nil || st.Rated.Pairs != "best-worst" {
			t.Errorf("%s: tokenize options lack the pairing: %+v %v", in, st, err)
		}
	}
	// A bad score fails the run, naming file, line and field.
	bad := write("bad.jsonl", `{"id":"q","prompt":"p","completions":["a","b"],"scores":[1,"x"]}`)
	if _, _, err := runTokenize(t, "--tokenizer", "builtin:bytes", bad); err == nil || !strings.Contains(err.Error(), `bad.jsonl:1: field "scores[1]"`) {
		t.Errorf("bad score: %v", err)
	}
	if _, _, err := runTokenize(t, "--tokenizer", "builtin:bytes", "--pairs", "worst", bad); err == nil || !strings.Contains(err.Error(), "unknown pairing") {
		t.Errorf("--pairs worst: %v", err)
	} else if _, ok := err.(*UsageError); !ok {
		t.Errorf("--pairs worst: %T, want a usage error", err)
	}
}
