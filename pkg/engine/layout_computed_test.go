package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestLayoutStatistics: a layout's throughput statistics against counts
// made independently of NewLayout. Computed is the positions a forward
// runs on, the non-padding positions of the rows (Doc >= 0), and equals
// Σ over groups of (prompt + Σ completions) with a shared prompt, Σ over
// completions of (prompt + completion) without; packing changes the rows,
// never Computed. Real is Σ over completions of (prompt + completion)
// whatever the options; Duplicate is the prompt positions computed again
// (without a shared prompt: every prompt after its first occurrence).
func TestLayoutStatistics(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 8))
	toks := func(n int) []int32 {
		s := make([]int32, n)
		for i := range s {
			s[i] = int32(1 + rng.IntN(50))
		}
		return s
	}
	hand := []Group{
		{Prompt: []int32{1, 2}, Completions: [][]int32{{3, 4}, {5}}, Out: []int{0, 2}},
		{Prompt: []int32{6}, Completions: [][]int32{{7}, {8, 9}}, Out: []int{1, 3}},
	}
	var random []Group
	shared := toks(5) // a prompt two groups share
	for i := range 7 {
		p := toks(1 + rng.IntN(9))
		if i == 2 || i == 5 {
			p = shared
		}
		g := Group{Prompt: p}
		for range 1 + rng.IntN(3) { // 1 to 3 completions
			g.Out = append(g.Out, len(g.Out)+10*i)
			g.Completions = append(g.Completions, toks(1+rng.IntN(6)))
		}
		random = append(random, g)
	}
	for _, tc := range []struct {
		name   string
		groups []Group
		// hand-counted Computed with and without a shared prompt (0: not
		// given), and Real
		shared, split, real int
	}{
		{"hand", hand, 2 + 2 + 1 + 1 + 1 + 2, (2 + 2) + (2 + 1) + (1 + 1) + (1 + 2), 12},
		{"random", random, 0, 0, 0},
	} {
		var wantShared, wantSplit, wantDup int
		seen := map[string]bool{}
		longest := 0
		for _, g := range tc.groups {
			P := len(g.Prompt)
			seg := P
			for _, c := range g.Completions {
				seg += len(c)
				wantSplit += P + len(c)
				longest = max(longest, P+len(c))
				if k := fmt.Sprint(g.Prompt); seen[k] {
					wantDup += P
				} else {
					seen[k] = true
				}
			}
			wantShared += seg
			longest = max(longest, seg)
		}
		if tc.shared != 0 && (tc.shared != wantShared || tc.split != wantSplit || tc.real != wantSplit) {
			t.Fatalf("%s: the test's own counts disagree: %d %d, hand %d %d %d", tc.name, wantShared, wantSplit, tc.shared, tc.split, tc.real)
		}
		for _, o := range []LayoutOptions{{}, {Pack: true}, {SharedPrompt: true}, {SharedPrompt: true, Pack: true}} {
			t.Run(fmt.Sprintf("%s/shared=%v/pack=%v", tc.name, o.SharedPrompt, o.Pack), func(t *testing.T) {
				T := bucketLen(longest)
				if o.Pack {
					T *= 2 // room for several segments per row
				}
				l := NewLayout(tc.groups, 0, T, 3, o)
				nonPad := 0
				for _, d := range l.Doc {
					if d >= 0 {
						nonPad++
					}
				}
				want, dup := wantSplit, wantDup
				if o.SharedPrompt {
					want, dup = wantShared, 0
				}
				if l.Computed != nonPad {
					t.Errorf("Computed %d, but the rows hold %d non-padding positions", l.Computed, nonPad)
				}
				if l.Computed != want {
					t.Errorf("Computed %d, want %d", l.Computed, want)
				}
				if l.Real != wantSplit {
					t.Errorf("Real %d, want %d", l.Real, wantSplit)
				}
				if l.Duplicate != dup {
					t.Errorf("Duplicate %d, want %d", l.Duplicate, dup)
				}
				if l.Rows < 3 || l.Rows*l.Len < l.Computed {
					t.Errorf("%d rows of %d for %d computed positions", l.Rows, l.Len, l.Computed)
				}
				// The scored positions are the completion tokens, whatever
				// the layout.
				scored := 0
				for _, s := range l.Seq {
					if s >= 0 {
						scored++
					}
				}
				if comp := wantSplit - promptTotal(tc.groups); scored != comp {
					t.Errorf("%d scored positions, want %d completion tokens", scored, comp)
				}
			})
		}
	}
}

// promptTotal is Σ over completions of the prompt's length.
func promptTotal(groups []Group) int {
	n := 0
	for _, g := range groups {
		n += len(g.Prompt) * len(g.Completions)
	}
	return n
}
