package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	in := `{"id":"a","prompt":"sort: cba\n","completion":"abc","logp":-0.1,"score":1}
{"id":"a","prompt":"sort: cba\n","completion":"ab","logp":-2,"score":0.6}
{"id":"a","prompt":"sort: cba\n","completion":"bac","logp":-1,"score":0.3}
{"id":"a","prompt":"sort: cba\n","completion":"bac","logp":-1,"score":0.3}
{"id":"b","prompt":"sort: xy\n","completion":"xy","logp":-0.2,"score":1}
{"id":"c","prompt":"sort: aab\n","completion":"ab","logp":-0.5,"score":0.6}
`
	for _, tc := range []struct {
		all  bool
		want string
		st   stats
	}{
		{false, `{"id":"a","prompt":"sort: cba\n","chosen":"abc","rejected":"bac"}
{"id":"c","prompt":"sort: aab\n","chosen":"aab","rejected":"ab"}
`, stats{prompts: 3, paired: 2, pairs: 2, samples: 6, exact: 2}},
		{true, `{"id":"a","prompt":"sort: cba\n","chosen":"abc","rejected":"bac"}
{"id":"a","prompt":"sort: cba\n","chosen":"abc","rejected":"ab"}
{"id":"c","prompt":"sort: aab\n","chosen":"aab","rejected":"ab"}
`, stats{prompts: 3, paired: 2, pairs: 3, samples: 6, exact: 2}},
	} {
		var out bytes.Buffer
		st, err := run(strings.NewReader(in), &out, tc.all)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.String(); got != tc.want {
			t.Errorf("all=%v: got\n%s\nwant\n%s", tc.all, got, tc.want)
		}
		if st != tc.st {
			t.Errorf("all=%v: stats %+v, want %+v", tc.all, st, tc.st)
		}
	}
}

func TestRunRefusesUnscored(t *testing.T) {
	_, err := run(strings.NewReader(`{"id":"a","prompt":"sort: ba\n","completion":"ab"}`+"\n"), &bytes.Buffer{}, false)
	if err == nil {
		t.Fatal("no error for a line without score and logp")
	}
}
