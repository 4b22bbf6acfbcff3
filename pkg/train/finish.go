package train

import (
	"errors"
	"fmt"
)

// faultHook, when set (tests), is called before the big writes of a save
// with the path about to be written; an error it returns is the write's
// error, as a full disk would give. It may write a partial file first.
var faultHook func(path string) error

func checkFault(path string) error {
	if faultHook == nil {
		return nil
	}
	return faultHook(path)
}

// finish writes the end of a run: the final model at the top of --out
// first (the smallest write, so a nearly full disk keeps the weights), then,
// when needed, the final checkpoint with the optimizer state (about 3x
// the model). Each is tried even when the other failed; a failure names
// what was and was not written.
func (r *runner) finish(step int, needCheckpoint bool) error {
	finalErr := r.saveFinal(step)
	var ckErr error
	if needCheckpoint {
		ckErr = r.save(step)
	}
	ck := checkpointDir(r.c.Out, step)
	switch {
	case finalErr == nil && ckErr == nil:
		return nil
	case finalErr == nil:
		return fmt.Errorf("the final model is in %s, but the final checkpoint %s (optimizer state, for --resume) could not be written (partial files removed): %w", r.c.Out, ck, ckErr)
	case ckErr == nil && needCheckpoint:
		return fmt.Errorf("%w; the final weights are in the checkpoint %s (load it as a model, or free space and resume there)", finalErr, ck)
	default:
		last := "no checkpoint"
		if steps, err := checkpoints(r.c.Out); err == nil && len(steps) > 0 {
			last = "the last checkpoint is " + checkpointDir(r.c.Out, steps[len(steps)-1])
		}
		if ckErr != nil {
			finalErr = errors.Join(finalErr, fmt.Errorf("writing the final checkpoint %s: %w", ck, ckErr))
		}
		return fmt.Errorf("%w; the final weights are lost (%s)", finalErr, last)
	}
}
