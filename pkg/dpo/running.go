package dpo

import "math"

// RunningMoments is the running mean and variance of a stream of scalars,
// with TRL's RunningMoments update rule (a parallel-variance merge seeded
// with count 1e-24, mean 0, variance 1). The bco_pair loss uses Mean, after
// updating it with the batch's mean reward, as its reward shift δ. A
// trainer carries one RunningMoments across steps (and checkpoints it); TRL
// keeps it in float32, this keeps float64.
type RunningMoments struct {
	Mean, Var, Std, Count float64
}

// NewRunningMoments returns the initial state of TRL's RunningMoments.
func NewRunningMoments() RunningMoments {
	return RunningMoments{Mean: 0, Var: 1, Std: 1, Count: 1e-24}
}

// Update merges one observation x (a batch mean, counted once, as TRL's
// bco_pair does with a 0-dimensional tensor).
func (r *RunningMoments) Update(x float64) {
	const xsCount = 1.0
	const xsVar = 0.0
	delta := x - r.Mean
	tot := r.Count + xsCount
	newSum := xsVar * xsCount
	oldSum := r.Var*r.Count + delta*delta*r.Count*xsCount/tot
	r.Mean += delta * xsCount / tot
	newVar := (oldSum + newSum) / tot
	r.Std = math.Sqrt(newVar * tot / (tot - 1))
	r.Var = newVar
	r.Count = tot
}
