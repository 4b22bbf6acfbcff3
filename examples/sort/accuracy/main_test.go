package main

import (
	"strings"
	"testing"
)

// TestRun summarises judged lines (a blank line, an extra field) and
// names the line without a score.
func TestRun(t *testing.T) {
	var out strings.Builder
	err := run("gen: ", strings.NewReader(`{"id":"a","score":1}
{"id":"b","score":0.5}

{"id":"c","score":1,"x":[1,2]}
{"id":"d","score":0}
`), &out)
	if err != nil || out.String() != "gen: exact 2/4 = 0.500, mean score 0.625\n" {
		t.Errorf("got %q, %v", out.String(), err)
	}
	if err := run("", strings.NewReader("{\"id\":\"a\"}\n"), &out); err == nil || !strings.Contains(err.Error(), "stdin line 1") {
		t.Errorf("a row without score: %v, want an error naming line 1", err)
	}
}
