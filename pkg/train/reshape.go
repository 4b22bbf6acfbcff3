package train

import (
	"fmt"
	"slices"
)

// This file lets --resume continue a checkpoint with another batch shape
// (issue #26: "a checkpoint written with N devices resumes on M"): the
// device count, the per-device --batch-size, --grad-accum and
// --batch-tokens may change as long as every step still takes the same
// pairs (the data plan by global batch is the same), so that the run goes
// on as the one that wrote the checkpoint would have.

// batchShape is the part of a run's configuration that splits a step's
// pairs over micro-batches and devices.
type batchShape struct {
	BatchSize, BatchTokens, GradAccum, Devices int
}

func (c *Config) batchShape() batchShape {
	return batchShape{c.BatchSize, c.BatchTokens, c.GradAccum, c.devices()}
}

// global is the number of pairs in a full step: the global batch.
func (s batchShape) global() int { return s.BatchSize * s.Devices * s.GradAccum }

func (s batchShape) String() string {
	str := fmt.Sprintf("global batch %d pairs (--batch-size %d × --devices %d × --grad-accum %d", s.global(), s.BatchSize, s.Devices, s.GradAccum)
	if s.BatchTokens > 0 {
		str += fmt.Sprintf(", --batch-tokens %d per device", s.BatchTokens)
	}
	return str + ")"
}

// withoutShape is d with the batch shape's fields cleared: what a resumed
// run must share whatever its batch shape.
func (d determinism) withoutShape() determinism {
	d.BatchSize, d.BatchTokens, d.GradAccum, d.Devices = 0, 0, 0, 0
	return d
}

// checkReshape is called when a resumed run's options differ from the
// checkpoint's only in the batch shape: it refuses another global batch,
// naming both shapes. The plans are compared once the data are open
// (checkReshapePlan).
func checkReshape(dir string, then, now *Config) error {
	a, b := then.batchShape(), now.batchShape()
	if a.global() != b.global() {
		return &ConfigError{Err: fmt.Errorf("--resume: %s was trained with a %s; now %s: a resumed run may change the devices, --batch-size and --grad-accum only when the global batch stays the same", dir, a, b)}
	}
	return nil
}

// checkReshapePlan compares the plan of the run that wrote the checkpoint
// (then's options on the same data) with the plan now: every step must
// take the same pairs (with the same global batch only --batch-tokens can
// cut them otherwise), else the resumed run would not continue the same
// run. It returns the note the log gets: the same micro-batches (the
// continuation is the uninterrupted run's up to the order of the devices'
// partial sums), or only the same steps (the step's pairs and their loss
// weights are the same; sums run in another order, so the last bits
// differ, and LoRA dropout's masks, drawn per micro-batch, are others; the
// epoch logged, counted in micro-batches as transformers counts it in
// dataloader batches, too).
func checkReshapePlan(d *dataset, dir string, then, now *Config, plan []stepPlan) (string, error) {
	old := planSteps(d, then)
	sameMicros := true
	for k := range min(len(old), len(plan)) {
		a, b := old[k], plan[k]
		if a.epoch != b.epoch || a.start != b.start || a.end != b.end {
			return "", &ConfigError{Err: fmt.Errorf("--resume: %s: step %d takes other pairs with a %s than with the checkpoint's %s (--batch-tokens cuts the steps differently); resume with the checkpoint's batch shape", dir, k+1, now.batchShape(), then.batchShape())}
		}
		if len(a.micros) != len(b.micros) {
			sameMicros = false
			continue
		}
		for u := range a.micros {
			if !slices.Equal(a.micros[u].rows, b.micros[u].rows) {
				sameMicros = false
			}
		}
	}
	if len(old) != len(plan) {
		return "", &ConfigError{Err: fmt.Errorf("--resume: %s was planned as %d steps with a %s; %d steps now with a %s", dir, len(old), then.batchShape(), len(plan), now.batchShape())}
	}
	if sameMicros {
		return fmt.Sprintf("note: --resume: %s was trained with a %s and continues with a %s: the same micro-batches (only the devices' partial sums differ)", dir, then.batchShape(), now.batchShape()), nil
	}
	return fmt.Sprintf("note: --resume: %s was trained with a %s and continues with a %s: every step takes the same pairs, but their micro-batches differ, so the last bits (and LoRA dropout's masks) differ from an uninterrupted run", dir, then.batchShape(), now.batchShape()), nil
}
