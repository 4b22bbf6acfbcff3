package dpo

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestRank compares Rank with a direct count: a row's rank is 1 +
// the rows of its id with a higher reward, or an equal reward and a lower
// sample_index.
func TestRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []Candidate
	for i := range 300 {
		id := fmt.Sprint("p", rng.IntN(40))
		rows = append(rows, Candidate{ID: id, SampleIndex: int32(i), Reward: float64(rng.IntN(5)) / 4})
	}
	ranks, err := Rank(rows)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		want := int32(1)
		for _, o := range rows {
			if o.ID == r.ID && (o.Reward > r.Reward || (o.Reward == r.Reward && o.SampleIndex < r.SampleIndex)) {
				want++
			}
		}
		if ranks[i] != want {
			t.Fatalf("row %d (%+v): rank %d, want %d", i, r, ranks[i], want)
		}
	}
	if _, err := Rank([]Candidate{{ID: "a", SampleIndex: 1}, {ID: "b", SampleIndex: 1}, {ID: "a", SampleIndex: 1}}); err == nil || !strings.Contains(err.Error(), `id "a" has sample_index 1 twice`) {
		t.Errorf("duplicate SampleIndex: %v", err)
	}
}

// TestSummarizeRanking checks the summary on a hand-made set.
func TestSummarizeRanking(t *testing.T) {
	rows := []Candidate{
		// a: the top-ranked (reward 2) has the best score, tied with another: a hit.
		{ID: "a", SampleIndex: 0, Reward: 2, Score: 1}, {ID: "a", SampleIndex: 1, Reward: 1, Score: 1}, {ID: "a", SampleIndex: 2, Reward: 0, Score: 0},
		// b: the top-ranked (sample 1) scores 0.5, the best is 1: a miss.
		{ID: "b", SampleIndex: 0, Reward: -1, Score: 1}, {ID: "b", SampleIndex: 1, Reward: 3, Score: 0.5},
		// c: one candidate: always a hit.
		{ID: "c", SampleIndex: 0, Reward: 0, Score: 0.25},
	}
	ranks, err := Rank(rows)
	if err != nil {
		t.Fatal(err)
	}
	s := SummarizeRanking(rows, ranks, 0.1, false, true)
	want := RankSummary{Prompts: 3, Candidates: 6, MeanCandidates: 2, Beta: 0.1, Judged: &RankJudged{
		TopIsBest:       2.0 / 3,
		TopIsBestRandom: (2.0/3 + 1.0/2 + 1) / 3,
		TopScore:        (1 + 0.5 + 0.25) / 3,
		RandomScore:     (2.0/3 + 0.75 + 0.25) / 3,
		BestScore:       (1 + 1 + 0.25) / 3,
	}}
	if s.Prompts != want.Prompts || s.Candidates != want.Candidates || s.MeanCandidates != want.MeanCandidates || s.Judged == nil {
		t.Fatalf("summary %+v, want %+v", s, want)
	}
	g, w := *s.Judged, *want.Judged
	for _, c := range []struct {
		name string
		g, w float64
	}{{"top_is_best", g.TopIsBest, w.TopIsBest}, {"top_is_best_random", g.TopIsBestRandom, w.TopIsBestRandom}, {"top", g.TopScore, w.TopScore}, {"random", g.RandomScore, w.RandomScore}, {"best", g.BestScore, w.BestScore}} {
		if math.Abs(c.g-c.w) > 1e-12 {
			t.Errorf("%s = %v, want %v", c.name, c.g, c.w)
		}
	}
	var buf bytes.Buffer
	s.Format(&buf)
	if !strings.Contains(buf.String(), "top-ranked candidate is the judge's best in 0.667 of prompts (ties for best count as hits; a random candidate: 0.722)") {
		t.Errorf("summary text:\n%s", buf.String())
	}
	if SummarizeRanking(rows, ranks, 0.1, false, false).Judged != nil {
		t.Error("an unjudged summary has judge numbers")
	}
}
