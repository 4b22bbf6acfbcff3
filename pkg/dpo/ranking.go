package dpo

import (
	"fmt"
	"io"
	"math"
	"slices"
)

// Candidate is one completion of a prompt, as ranking sees it: dpo-score
// --rank's row of a completions stream.
type Candidate struct {
	ID          string  // the prompt's id
	SampleIndex int32   // the completion's index among the prompt's samples
	Reward      float64 // the implicit reward (ImplicitReward)
	Score       float64 // the judge's score, when known
}

// Rank returns each candidate's rank within its prompt id: 1 for the
// highest reward, equal rewards ordered by sample index. Two candidates
// with the same id and sample index are an error.
func Rank(cands []Candidate) ([]int32, error) {
	groups := map[string][]int{}
	var order []string
	for i, c := range cands {
		if _, ok := groups[c.ID]; !ok {
			order = append(order, c.ID)
		}
		groups[c.ID] = append(groups[c.ID], i)
	}
	ranks := make([]int32, len(cands))
	for _, id := range order {
		g := groups[id]
		slices.SortStableFunc(g, func(a, b int) int {
			ca, cb := cands[a], cands[b]
			switch {
			case ca.Reward > cb.Reward:
				return -1
			case ca.Reward < cb.Reward:
				return 1
			}
			return int(ca.SampleIndex) - int(cb.SampleIndex)
		})
		for k, i := range g {
			if k > 0 && cands[g[k-1]].SampleIndex == cands[i].SampleIndex {
				return nil, fmt.Errorf("id %q has sample_index %d twice", id, cands[i].SampleIndex)
			}
			ranks[i] = int32(k + 1)
		}
	}
	return ranks, nil
}

// RankSummary is what dpo-score --rank reports.
type RankSummary struct {
	Prompts        int64   `json:"prompts"`
	Candidates     int64   `json:"candidates"`
	MeanCandidates float64 `json:"mean_candidates"`
	Beta           float64 `json:"beta"`
	ReferenceFree  bool    `json:"reference_free"`
	// The rest needs the judge's scores.
	Judged *RankJudged `json:"judged,omitempty"`
}

// RankJudged compares the ranking by implicit reward with the judge.
type RankJudged struct {
	// TopIsBest is the fraction of prompts whose rank-1 candidate has the
	// judge's best score of that prompt (a candidate tied for best counts
	// as a hit); TopIsBestRandom is the same for a uniformly random
	// candidate (the mean over prompts of #best/#candidates), the chance
	// level.
	TopIsBest       float64 `json:"top_is_best"`
	TopIsBestRandom float64 `json:"top_is_best_random"`
	// Mean judge scores: of the rank-1 candidates, of a uniformly random
	// candidate (the mean over prompts of the prompt's mean score), and of
	// the best candidate of each prompt.
	TopScore    float64 `json:"mean_score_top"`
	RandomScore float64 `json:"mean_score_random"`
	BestScore   float64 `json:"mean_score_best"`
}

// Format writes the human summary.
func (s *RankSummary) Format(w io.Writer) {
	kind := "β·(log π − log π_ref)"
	if s.ReferenceFree {
		kind = "β·log π/|y| (reference-free)"
	}
	fmt.Fprintf(w, "prompts %d, candidates %d (%.2f per prompt), β %g, reward %s\n", s.Prompts, s.Candidates, s.MeanCandidates, s.Beta, kind)
	if j := s.Judged; j != nil {
		fmt.Fprintf(w, "top-ranked candidate is the judge's best in %.3f of prompts (ties for best count as hits; a random candidate: %.3f)\n", j.TopIsBest, j.TopIsBestRandom)
		fmt.Fprintf(w, "mean judge score: top-ranked %.4f, random candidate %.4f, best candidate %.4f\n", j.TopScore, j.RandomScore, j.BestScore)
	}
}

// SummarizeRanking summarizes ranked candidates (ranks from Rank); judged
// says whether the candidates carry the judge's scores. β and refFree are
// recorded as given.
func SummarizeRanking(cands []Candidate, ranks []int32, beta float64, refFree, judged bool) *RankSummary {
	type agg struct {
		n, nBest      int
		top, max, sum float64
	}
	groups := map[string]*agg{}
	var order []string
	for i, c := range cands {
		g := groups[c.ID]
		if g == nil {
			g = &agg{max: math.Inf(-1)}
			groups[c.ID] = g
			order = append(order, c.ID)
		}
		g.n++
		if judged {
			g.sum += c.Score
			g.max = max(g.max, c.Score)
			if ranks[i] == 1 {
				g.top = c.Score
			}
		}
	}
	s := &RankSummary{Prompts: int64(len(order)), Candidates: int64(len(cands)), Beta: beta, ReferenceFree: refFree}
	if len(order) > 0 {
		s.MeanCandidates = float64(len(cands)) / float64(len(order))
	}
	if !judged || len(order) == 0 {
		return s
	}
	for _, c := range cands {
		if g := groups[c.ID]; c.Score == g.max {
			g.nBest++
		}
	}
	j := &RankJudged{}
	for _, id := range order {
		g := groups[id]
		if g.top == g.max {
			j.TopIsBest++
		}
		j.TopIsBestRandom += float64(g.nBest) / float64(g.n)
		j.TopScore += g.top
		j.RandomScore += g.sum / float64(g.n)
		j.BestScore += g.max
	}
	n := float64(len(order))
	j.TopIsBest /= n
	j.TopIsBestRandom /= n
	j.TopScore /= n
	j.RandomScore /= n
	j.BestScore /= n
	s.Judged = j
	return s
}
