package train

import "math"

// warmupSteps returns the number of warmup steps for total steps
// (transformers' get_warmup_steps: ceil(total·ratio) when a ratio is given).
func (c *Config) warmupSteps(total int) int {
	if c.WarmupSteps > 0 {
		return c.WarmupSteps
	}
	return int(math.Ceil(float64(total) * c.WarmupRatio))
}

// learningRate returns the learning rate of optimizer step k (0-based) of
// total, as transformers' LambdaLR schedules compute it: a linear warmup
// k/W over W steps, then constant, linear decay to 0 at total, or a half
// cosine to 0.
func learningRate(sched string, base float64, k, warmup, total int) float64 {
	if k < warmup {
		return base * float64(k) / float64(max(1, warmup))
	}
	switch sched {
	case SchedLinear:
		return base * max(0, float64(total-k)/float64(max(1, total-warmup)))
	case SchedCosine:
		progress := float64(k-warmup) / float64(max(1, total-warmup))
		return base * max(0, 0.5*(1+math.Cos(math.Pi*progress)))
	default:
		return base
	}
}
