package pairs

import (
	"strings"
	"testing"
)

// TestParseJudgeScores reads scores (string and integer ids, blank lines),
// joins them with Take, reports the first unused line, and names the line
// and field of every bad one.
func TestParseJudgeScores(t *testing.T) {
	in := `{"id":"a","sample_index":0,"score":1}

{"id":7,"sample_index":1,"score":-0.5}
{"id":"a","sample_index":2,"score":0.25}
`
	js, err := ParseJudgeScores(strings.NewReader(in), "j.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if js.Len() != 3 {
		t.Fatalf("Len %d, want 3", js.Len())
	}
	if s, ok := js.Take("7", 1); !ok || s != -0.5 {
		t.Errorf(`Take("7", 1) = %v, %v`, s, ok)
	}
	if _, ok := js.Take("a", 1); ok {
		t.Error(`Take("a", 1): a score for a completion the judge did not score`)
	}
	if s, ok := js.Take("a", 0); !ok || s != 1 {
		t.Errorf(`Take("a", 0) = %v, %v`, s, ok)
	}
	if err := js.Unused("c.arrow"); err == nil || err.Error() != `j.jsonl:4: id "a" sample 2: no such completion in c.arrow (the judge scored other samples)` {
		t.Errorf("Unused: %v", err)
	}
	js.Take("a", 2)
	if err := js.Unused("c.arrow"); err != nil {
		t.Errorf("Unused after every Take: %v", err)
	}

	for _, c := range []struct{ in, want string }{
		{`{"id":"a","sample_index":0}`, "j.jsonl:1: field score: missing or null"},
		{`{"id":"a","sample_index":0,"score":null}`, "j.jsonl:1: field score: missing or null"},
		{`{"id":"a","score":1}`, "j.jsonl:1: field sample_index: missing"},
		{`{"sample_index":0,"score":1}`, "j.jsonl:1: field id: missing or null"},
		{`{"id":1.5,"sample_index":0,"score":1}`, `j.jsonl:1: field "id"`},
		{`{"id":"a","sample_index":"0","score":1}`, "j.jsonl:1: json: cannot unmarshal"},
		{"{\"id\":\"a\",\"sample_index\":0,\"score\":1}\n{\"id\":\"a\",\"sample_index\":0,\"score\":2}", `j.jsonl:2: id "a" sample 0 scored twice (also on line 1)`},
		{"[1]", "j.jsonl:1: json: cannot unmarshal"},
	} {
		_, err := ParseJudgeScores(strings.NewReader(c.in), "j.jsonl")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.in, err, c.want)
		}
	}
}

// FuzzParseJudgeScores: any input gives scores or an error naming the
// input, never a panic; a score is found again under its key.
func FuzzParseJudgeScores(f *testing.F) {
	f.Add(`{"id":"a","sample_index":0,"score":1}` + "\n" + `{"id":3,"sample_index":1,"score":0.5}`)
	f.Add(`{"id":"a","sample_index":0,"score":1}` + "\n" + `{"id":"a","sample_index":0,"score":1}`)
	f.Add(`{"id":123456789012345678901234567890,"sample_index":-1,"score":1e308}`)
	f.Add("\n\n{}\n")
	f.Fuzz(func(t *testing.T, in string) {
		js, err := ParseJudgeScores(strings.NewReader(in), "fuzz.jsonl")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.jsonl") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		for k, s := range js.m {
			if got, ok := js.Take(k.id, k.sample); !ok || got != s.score {
				t.Fatalf("Take(%q, %d) = %v, %v; want %v", k.id, k.sample, got, ok, s.score)
			}
		}
		if err := js.Unused("x"); err != nil {
			t.Fatalf("Unused after taking every score: %v", err)
		}
	})
}
