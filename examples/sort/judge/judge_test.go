package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestScore(t *testing.T) {
	for _, tc := range []struct {
		prompt, completion string
		want               float64
	}{
		{"sort: tegliv\n", "egiltv", 1},
		{"sort: tegliv\n", "egiltv<|eos|>", 1},
		{"sort: tegliv\n", " egiltv\n", 1},
		{"sort: tegliv\n", "egiltv</s>", 1},
		{"sort: tegliv\n", "egitlv", 4.0 / 6},  // swap: positions 3 and 4 wrong
		{"sort: tegliv\n", "egiltz", 5.0 / 6},  // replace the last
		{"sort: tegliv\n", "egilt", 5.0 / 6},   // drop the last
		{"sort: tegliv\n", "eegiltv", 1.0 / 7}, // double the first: only e at 0
		{"sort: tegliv\n", "giltv", 0},         // drop the first: everything shifts
		{"sort: tegliv\n", "", 0},              // nothing
		{"sort: tegliv\n", "<|eos|>", 0},       // nothing but EOS
		{"sort: aab\n", "aab", 1},              // repeated letters
		{"sort: aab\n", "abb", 2.0 / 3},        // wrong multiset
		{"sort: a\n", "a a", 1.0 / 3},          // inner white space counts
		{"sort:\n", "", 1},                     // no letters: the empty answer
	} {
		got, err := Score(tc.prompt, tc.completion)
		if err != nil || got != tc.want {
			t.Errorf("Score(%q, %q) = %v, %v; want %v", tc.prompt, tc.completion, got, err, tc.want)
		}
	}
	if _, err := Score("sort these: abc", "abc"); err == nil {
		t.Error("a prompt without \"sort:\" is accepted")
	}
}

// TestScoreHeldout checks on every near miss of the bundled held-out set
// (rejected completions are never the sorted answer) that the score is
// below 1, and that every chosen one scores 1.
func TestScoreHeldout(t *testing.T) {
	data, err := readFile("../heldout.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(data), "\n") {
		var p struct{ Prompt, Chosen, Rejected string }
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		c, err1 := Score(p.Prompt, p.Chosen)
		r, err2 := Score(p.Prompt, p.Rejected)
		if err1 != nil || err2 != nil || c != 1 || r >= 1 || r < 0 {
			t.Fatalf("line %d: chosen %v (%v), rejected %v (%v)", i+1, c, err1, r, err2)
		}
	}
}

func TestRunProtocol(t *testing.T) {
	in := strings.Join([]string{
		`{"id":"a","sample_index":0,"prompt":"sort: cba\n","completion":"abc","logp":-1.5,"extra":{"k":[1,2]}}`,
		``,
		`{"completion":"acb","prompt":[{"role":"system","content":"x"},{"role":"user","content":"sort: cba\n"}],"id":"b","score":7}`,
		`{"id":"c","prompt":"[{\"role\":\"user\",\"content\":\"sort: ba\"}]","completion":"ab"}`,
	}, "\n")
	var out bytes.Buffer
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`{"id":"a","sample_index":0,"prompt":"sort: cba\n","completion":"abc","logp":-1.5,"extra":{"k":[1,2]},"score":1}`,
		`{"completion":"acb","prompt":[{"role":"system","content":"x"},{"role":"user","content":"sort: cba\n"}],"id":"b","score":0.3333333333333333}`,
		`{"id":"c","prompt":"[{\"role\":\"user\",\"content\":\"sort: ba\"}]","completion":"ab","score":1}`,
	}, "\n") + "\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	for _, tc := range []struct{ in, err string }{
		{`{"id":"a","prompt":"sort: ab"}` + "\n", "line 1: field completion"},
		{"{}\n" + `[1]`, "line 1: field prompt: missing"},
		{`{"prompt":"sort: a","completion":"a"}` + "\n" + `[1]`, "line 2: not a JSON object"},
		{`{"prompt":"hello","completion":"a"}`, `line 1: field prompt: prompt "hello" is not`},
		{`{"prompt":"sort: a","completion":"a"} {}`, "line 1: data after the JSON object"},
		{`{"prompt":"sort: a","completion":"a"`, "line 1: malformed JSON"},
	} {
		err := run(strings.NewReader(tc.in), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
		}
	}
}

func FuzzJudgeLine(f *testing.F) {
	f.Add([]byte(`{"id":"a","prompt":"sort: cba\n","completion":"abc"}`))
	f.Add([]byte(`{"prompt":[{"role":"user","content":"sort: ba"}],"completion":"ab","score":null}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		out, err := judgeLine(line)
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("output %s is not JSON: %v", out, err)
		}
		s, ok := m["score"].(float64)
		if !ok || s < 0 || s > 1 {
			t.Fatalf("score %v not in [0, 1]: %s", m["score"], out)
		}
	})
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
