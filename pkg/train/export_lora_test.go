package train

// StepsGradients runs the first n optimizer steps of c and returns, per
// step, the accumulated gradient of every trained parameter (by name, as
// the optimizer sees it before clipping) and the gradient norm.
func StepsGradients(c Config, n int) (grads []map[string][]float32, norms []float64, err error) {
	r, _, err := setup(c, "test", nil, nil)
	if err != nil {
		return nil, nil, err
	}
	defer r.close()
	for k := range n {
		if _, _, _, err := r.accumulate(k); err != nil {
			return nil, nil, err
		}
		g := make(map[string][]float32)
		for _, s := range r.opt.specs {
			if g[s.Name], err = r.opt.variableF32(scopeGrad + s.Name); err != nil {
				return nil, nil, err
			}
		}
		norm, err := r.applyStep(k+1, c.LearningRate(k, r.warmup, len(r.plan)))
		if err != nil {
			return nil, nil, err
		}
		grads, norms = append(grads, g), append(norms, norm)
	}
	return grads, norms, nil
}
