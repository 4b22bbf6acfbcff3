package main

import (
	"strings"
	"testing"
)

func TestSummarise(t *testing.T) {
	s, err := summarise(strings.NewReader(`{"id":"a","score":1}
{"id":"b","score":0.5}

{"id":"c","score":1,"x":[1,2]}
{"id":"d","score":0}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.n != 4 || s.exact != 2 || s.accuracy() != 0.5 || s.meanScore() != 0.625 {
		t.Errorf("got %+v (accuracy %g, mean %g), want 4 rows, 2 exact, 0.5, 0.625", s, s.accuracy(), s.meanScore())
	}
	if _, err := summarise(strings.NewReader("{\"id\":\"a\"}\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a row without score: %v, want an error naming line 1", err)
	}
}
