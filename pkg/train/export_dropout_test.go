package train

import (
	"context"
	"fmt"

	"github.com/gomlx/gomlx/core/tensors"
)

// LoRADropoutState is the RNG state the LoRA dropout masks of micro-batch
// u of step k are drawn from, as uint64s.
func LoRADropoutState(seed int64, k, u int) []uint64 {
	return tensors.MustCopyFlatData[uint64](loraDropoutState(seed, k, u))
}

// AccumulatedStep is what AccumulateSteps records of one step.
type AccumulatedStep struct {
	Micros        int       // micro-batches
	MicroPairs    []int     // pairs of each micro-batch
	ChosenRewards []float64 // per pair, micro-batch after micro-batch
	// DropoutState is the LoRA dropout RNG variable after the step (nil
	// without dropout).
	DropoutState []uint64
}

// AccumulateSteps sets c up and runs the forward and backward passes of
// its first steps (no optimizer update, so every step sees the initial
// weights), recording each step's per-pair rewards.
func AccumulateSteps(c Config, steps int) ([]AccumulatedStep, error) {
	r, _, err := setup(c, "test", nil, nil)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if steps > len(r.plan) {
		return nil, fmt.Errorf("%d steps asked, the plan has %d", steps, len(r.plan))
	}
	var out []AccumulatedStep
	for k := range steps {
		res, _, _, err := r.accumulate(k)
		if err != nil {
			return nil, err
		}
		st := AccumulatedStep{Micros: len(r.plan[k].micros), ChosenRewards: res.ChosenRewards}
		for _, m := range r.plan[k].micros {
			st.MicroPairs = append(st.MicroPairs, len(m.rows))
		}
		if v := r.mdl.Store().GetVariable(loraDropoutVar); v != nil {
			err := catch(func() error {
				t, err := v.Value()
				if err != nil {
					return err
				}
				st.DropoutState = tensors.MustCopyFlatData[uint64](t)
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// Evaluate sets c up and evaluates its eval stream with the initial
// weights, as the training loop does at an eval step.
func Evaluate(c Config) (map[string]float64, error) {
	r, _, err := setup(c, "test", nil, nil)
	if err != nil {
		return nil, err
	}
	defer r.close()
	return r.evaluate(context.Background())
}
