package train

// StepGradients runs the forward and backward passes of the first step of
// c (no optimizer update) and returns the objective and the step's
// accumulated gradient of every parameter, by HF name.
func StepGradients(c Config) (loss float64, grads map[string][]float32, err error) {
	r, _, err := setup(c, "test", nil, nil)
	if err != nil {
		return 0, nil, err
	}
	defer r.close()
	res, _, _, err := r.accumulate(0)
	if err != nil {
		return 0, nil, err
	}
	grads = make(map[string][]float32)
	for _, s := range r.opt.specs {
		if grads[s.Name], err = r.opt.variableF32(scopeGrad + s.Name); err != nil {
			return 0, nil, err
		}
	}
	return res.Loss, grads, nil
}

// Stepper sets c up and returns a function that runs the next optimizer
// step (cycling through the plan), the number of real tokens per pass over
// the plan and its number of steps, for benchmarks.
func Stepper(c Config) (step func() error, tokensPerPlan, steps int, closeFn func(), err error) {
	r, _, err := setup(c, "bench", nil, nil)
	if err != nil {
		return nil, 0, 0, nil, err
	}
	for _, sp := range r.plan {
		for _, m := range sp.micros {
			for _, i := range m.rows {
				p := r.train.pair(i)
				tokensPerPlan += 2*len(p.prompt) + len(p.chosen) + len(p.rejected)
			}
		}
	}
	k := 0
	step = func() error {
		_, err := r.step(k % len(r.plan))
		k++
		return err
	}
	return step, tokensPerPlan, len(r.plan), r.close, nil
}

// withLens fills d with one synthetic pair per length (prompt 1 token,
// chosen the rest, rejected 1 token), for plan tests.
func (d *dataset) withLens(lens []int) *dataset {
	d.synthetic = make([]pair, len(lens))
	for i, n := range lens {
		d.synthetic[i] = pair{prompt: []int32{1}, chosen: make([]int32, n-1), rejected: []int32{2}}
		d.rows = append(d.rows, rowRef{})
	}
	return d
}

// Permutation is the visiting order of n rows in epoch (0-based) for seed.
func Permutation(n int, seed int64, epoch int) []int { return permutation(n, seed, epoch) }

// SetUpdateGroupBytes sets the update groups' size bound (see
// updateGroupBytes) until the returned function restores it.
func SetUpdateGroupBytes(n int64) (restore func()) {
	old := updateGroupBytes
	updateGroupBytes = n
	return func() { updateGroupBytes = old }
}

// PlanGroups exposes planGroups.
var PlanGroups = planGroups
