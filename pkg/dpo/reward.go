package dpo

// ImplicitReward is DPO's implicit reward of one completion:
// β·(log π(y|x) − log π_ref(y|x)), or, for a reference-free policy (SimPO,
// ORPO-style: referenceFree), β·log π(y|x)/|y| with |y| the completion's
// token count. dpo-score reports it for pairs and ranked completions.
func ImplicitReward(beta, policyLogp, refLogp float64, tokens int, referenceFree bool) float64 {
	if referenceFree {
		return beta * policyLogp / float64(tokens)
	}
	return beta * (policyLogp - refLogp)
}
