package dpo

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// Evaluation's statistics against hand-computed values: ties count half in
// the accuracy and nothing in the strict one; the reference's preference
// only when known; the worst pairs lowest margin first.
func TestEvaluation(t *testing.T) {
	e := NewEvaluation(2)
	pairs := []ScoredPair{
		{ID: "a", PolicyChosen: -1, PolicyRejected: -2, RewardChosen: 0.3, RewardRejected: 0.1, HasRef: true, RefChosen: -1, RefRejected: -3, Prompt: []int32{1}},
		{ID: "b", PolicyChosen: -2, PolicyRejected: -1, RewardChosen: 0.1, RewardRejected: 0.1, HasRef: true, RefChosen: -2, RefRejected: -1},
		{ID: "c", PolicyChosen: -3, PolicyRejected: -1, RewardChosen: -0.5, RewardRejected: 0.2, HasRef: true, RefChosen: -3, RefRejected: -1},
		{ID: "d", PolicyChosen: -1, PolicyRejected: -4, RewardChosen: 0.0, RewardRejected: -0.4, HasRef: true, RefChosen: 0, RefRejected: -9},
	}
	for _, p := range pairs {
		e.Add(p)
	}
	pairs[0].Prompt[0] = 99 // the worst pairs keep their own copies
	dec := func(ids []int32) string { return fmt.Sprint(ids) }
	s := e.Summary(0.1, false, true, 1, dec)
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if s.Pairs != 4 || !near(s.Accuracy, 2.5/4) || !near(s.StrictAccuracy, 0.5) || s.Ties != 1 ||
		!near(s.RewardChosen, -0.1/4) || !near(s.RewardRejected, 0) || !near(s.Margin, (0.2+0+(-0.7)+0.4)/4) ||
		!near(s.PolicyPrefersChosen, 0.5) || s.ReferencePrefersChosen == nil || !near(*s.ReferencePrefersChosen, 0.5) {
		t.Errorf("summary %+v", s)
	}
	if len(s.Worst) != 2 || s.Worst[0].ID != "c" || s.Worst[1].ID != "b" || !near(s.Worst[0].Margin, -0.7) {
		t.Errorf("worst %+v", s.Worst)
	}
	if lo, hi := s.AccuracyCI95[0], s.AccuracyCI95[1]; !(lo <= s.Accuracy && s.Accuracy <= hi && lo >= 0 && hi <= 1 && lo < hi) {
		t.Errorf("CI %v around %v", s.AccuracyCI95, s.Accuracy)
	}
	if again := e.Summary(0.1, false, true, 1, dec); again.AccuracyCI95 != s.AccuracyCI95 {
		t.Errorf("same seed, CI %v then %v", s.AccuracyCI95, again.AccuracyCI95)
	}
	if noRef := e.Summary(0.1, false, false, 1, dec); noRef.ReferencePrefersChosen != nil {
		t.Error("reference preference reported without a reference")
	}
	var b strings.Builder
	s.Format(&b)
	for _, w := range []string{"pairs 4, β 0.1", "reward accuracy 0.625", "ties count half: 1 ties; strict 0.500", "(reference: 0.500)", `id "c" margin -0.7000`} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("Format lacks %q:\n%s", w, b.String())
		}
	}
	// Every pair right: the interval collapses on 1.
	all := NewEvaluation(0)
	for range 50 {
		all.Add(ScoredPair{RewardChosen: 1})
	}
	if s := all.Summary(0.1, false, false, 7, dec); s.AccuracyCI95 != [2]float64{1, 1} || len(s.Worst) != 0 {
		t.Errorf("all right: CI %v, worst %v", s.AccuracyCI95, s.Worst)
	}
}
