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
	res, _, err := r.accumulate(0)
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
