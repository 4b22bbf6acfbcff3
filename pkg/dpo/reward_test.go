package dpo

import "testing"

func TestImplicitReward(t *testing.T) {
	if got := ImplicitReward(0.1, -12, -10, 4, false); got != 0.1*(-12+10) {
		t.Errorf("reference reward %v", got)
	}
	if got := ImplicitReward(2, -12, -10, 4, true); got != 2*-12.0/4 {
		t.Errorf("reference-free reward %v", got)
	}
}
