package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestChooseFlips(t *testing.T) {
	for _, tc := range []struct {
		n    int
		rate float64
		want int
	}{{10, 0, 0}, {10, 0.2, 2}, {10, 0.4, 4}, {7, 0.5, 4}, {5, 1, 5}, {0, 0.4, 0}} {
		got := 0
		for _, f := range chooseFlips(tc.n, tc.rate, 1) {
			if f {
				got++
			}
		}
		if got != tc.want {
			t.Errorf("n %d rate %g: %d flipped, want %d", tc.n, tc.rate, got, tc.want)
		}
	}
	// Deterministic, and 40% flips a superset of 20%.
	a, b, c := chooseFlips(100, 0.2, 3), chooseFlips(100, 0.2, 3), chooseFlips(100, 0.4, 3)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("row %d: two draws with seed 3 differ", i)
		}
		if a[i] && !c[i] {
			t.Errorf("row %d flipped at 0.2 but not at 0.4", i)
		}
	}
	if d := chooseFlips(100, 0.2, 4); fmt.Sprint(d) == fmt.Sprint(a) {
		t.Error("seeds 3 and 4 flip the same rows")
	}
}

func TestFlipPairs(t *testing.T) {
	var in strings.Builder
	for i := range 10 {
		fmt.Fprintf(&in, `{"id":"p%d","prompt":"sort: ba\n","chosen":"ab","rejected":"ba","kind":"swap"}`+"\n", i)
	}
	in.WriteString("\n")
	var out bytes.Buffer
	st, err := flipPairs(strings.NewReader(in.String()), &out, 0.3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pairs != 10 || st.Flipped != 3 {
		t.Fatalf("stats %+v, want 10 pairs, 3 flipped", st)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 10 {
		t.Fatalf("%d lines out, want 10", len(lines))
	}
	want := chooseFlips(10, 0.3, 1)
	for i, l := range lines {
		var row struct {
			ID, Prompt, Chosen, Rejected, Kind string
			Flipped                            bool
		}
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if row.ID != fmt.Sprintf("p%d", i) || row.Prompt != "sort: ba\n" || row.Kind != "swap" {
			t.Errorf("line %d: %s: fields not kept in order", i+1, l)
		}
		if want[i] != (row.Chosen == "ba" && row.Rejected == "ab" && row.Flipped) ||
			!want[i] != (row.Chosen == "ab" && row.Rejected == "ba" && !row.Flipped) {
			t.Errorf("line %d: %s, flipped should be %v", i+1, l, want[i])
		}
	}
	if !strings.HasPrefix(lines[0], `{"id":"p0","prompt":"sort: ba\n","chosen":`) {
		t.Errorf("first line %s: want id, prompt, chosen first", lines[0])
	}

	_, err = flipPairs(strings.NewReader(`{"chosen":"a","rejected":"b"}`+"\n"+`{"chosen":1,"rejected":"b"}`+"\n"), &out, 0.5, 1)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a numeric chosen on line 2: %v, want an error naming line 2", err)
	}
	if _, err := flipPairs(strings.NewReader(""), &out, 1.5, 1); err == nil {
		t.Error("rate 1.5 accepted")
	}
}
