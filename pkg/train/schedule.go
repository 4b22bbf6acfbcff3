package train

import (
	"fmt"
	"math"
)

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

// SchedulerKwargs are the lr_scheduler_kwargs of transformers' schedules
// that dpo-train has: min_lr or min_lr_rate for cosine_with_min_lr, and
// num_cycles (default 0.5, a half cosine) for cosine and
// cosine_with_min_lr.
type SchedulerKwargs struct {
	MinLR     *float64 `json:"min_lr,omitempty"`
	MinLRRate *float64 `json:"min_lr_rate,omitempty"`
	NumCycles *float64 `json:"num_cycles,omitempty"`
}

func (s SchedulerKwargs) validate(sched string, lr float64) error {
	finite := func(p *float64) bool { return p == nil || !math.IsNaN(*p) && !math.IsInf(*p, 0) }
	switch {
	case !finite(s.MinLR) || !finite(s.MinLRRate) || !finite(s.NumCycles):
		return fmt.Errorf("--lr-scheduler-kwargs: values must be finite")
	case (s.MinLR != nil || s.MinLRRate != nil) && sched != SchedCosineMinLR:
		return fmt.Errorf("--lr-scheduler-kwargs min_lr, min_lr_rate: only for --lr-scheduler %s", SchedCosineMinLR)
	case s.NumCycles != nil && sched != SchedCosine && sched != SchedCosineMinLR:
		return fmt.Errorf("--lr-scheduler-kwargs num_cycles: only for --lr-scheduler cosine or %s", SchedCosineMinLR)
	case sched == SchedCosineMinLR && s.MinLR != nil && s.MinLRRate != nil:
		return fmt.Errorf("--lr-scheduler-kwargs: only one of min_lr or min_lr_rate should be set (as transformers)")
	case sched == SchedCosineMinLR && s.MinLR == nil && s.MinLRRate == nil:
		return fmt.Errorf("--lr-scheduler %s needs min_lr or min_lr_rate in --lr-scheduler-kwargs (as transformers)", SchedCosineMinLR)
	case s.MinLR != nil && lr == 0:
		return fmt.Errorf("--lr-scheduler-kwargs min_lr: needs a learning rate > 0 (min_lr_rate = min_lr / lr)")
	}
	return nil
}

// minLRRate is the floor of cosine_with_min_lr as a fraction of the peak
// learning rate (min_lr / lr when min_lr is given, as transformers).
func (s SchedulerKwargs) minLRRate(lr float64) float64 {
	switch {
	case s.MinLRRate != nil:
		return *s.MinLRRate
	case s.MinLR != nil && lr != 0:
		return *s.MinLR / lr
	}
	return 0
}

func (s SchedulerKwargs) numCycles() float64 {
	if s.NumCycles != nil {
		return *s.NumCycles
	}
	return 0
}

// Warmup returns the warmup steps of a run of total steps.
func (c *Config) Warmup(total int) int { return c.warmupSteps(total) }

// LearningRate returns c's learning rate at step k (0-based) of total:
// learningRate's, and transformers' _get_cosine_schedule_with_warmup_lr_lambda
// for cosine with num_cycles and for cosine_with_min_lr.
func (c *Config) LearningRate(k, warmup, total int) float64 {
	kw := c.SchedulerKwargs
	if k < warmup || c.Scheduler != SchedCosineMinLR && (c.Scheduler != SchedCosine || kw.NumCycles == nil) {
		return learningRate(c.Scheduler, c.LR, k, warmup, total)
	}
	cycles := 0.5
	if kw.NumCycles != nil {
		cycles = *kw.NumCycles
	}
	rate := 0.0
	if c.Scheduler == SchedCosineMinLR {
		rate = kw.minLRRate(c.LR)
	}
	progress := float64(k-warmup) / float64(max(1, total-warmup))
	factor := 0.5 * (1 + math.Cos(math.Pi*cycles*2*progress))
	return c.LR * max(0, factor*(1-rate)+rate)
}
