package train_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/dpo-go/dpo/pkg/train"
)

// cancelAfter is a context whose Err turns to context.Canceled after n
// calls: a SIGTERM arriving at a chosen point of the run.
type cancelAfter struct {
	context.Context
	calls, n atomic.Int32
}

func (c *cancelAfter) Err() error {
	if c.calls.Add(1) > c.n.Load() {
		return context.Canceled
	}
	return nil
}

// An interruption is seen between the micro-batches of a step (a step of
// many micro-batches at real size takes minutes): the step is dropped, the
// steps before it are saved, and the run stops with ErrStopped.
func TestInterruptBetweenMicroBatches(t *testing.T) {
	_, _, cfg := smallRun(t)
	out := filepath.Join(t.TempDir(), "out")
	c := cfg(out)
	c.BatchSize, c.GradAccum = 1, 3 // 6 pairs: 2 steps of 3 micro-batches
	ctx := &cancelAfter{Context: context.Background()}
	// Err is asked before each step and before each micro-batch after the
	// first: 3 times in step 1, then before step 2 and its 2nd micro-batch.
	ctx.n.Store(4)
	_, err := train.Run(ctx, c, "test", nil, nil)
	if !errors.Is(err, train.ErrStopped) {
		t.Fatalf("err %v, want ErrStopped", err)
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoint-1", train.TrainerFile)); err != nil {
		t.Errorf("checkpoint-1: %v", err)
	}
	for _, p := range []string{"checkpoint-2", "model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, p)); err == nil {
			t.Errorf("%s written by an interrupted step", p)
		}
	}
}

// Config.Saving brackets every checkpoint write: true before the
// checkpoint is complete, false once it is, in pairs.
func TestSavingHook(t *testing.T) {
	_, _, cfg := smallRun(t)
	out := filepath.Join(t.TempDir(), "out")
	c := cfg(out)
	c.SaveSteps = 1
	var calls []bool
	c.Saving = func(on bool) {
		ck, _ := filepath.Glob(filepath.Join(out, "checkpoint-*", train.TrainerFile))
		if want := len(calls) / 2; on && len(ck) != want || !on && len(ck) != want+1 {
			t.Errorf("Saving(%v) after %d calls: %d complete checkpoints", on, len(calls), len(ck))
		}
		calls = append(calls, on)
	}
	if _, err := train.Run(context.Background(), c, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	ck, _ := filepath.Glob(filepath.Join(out, "checkpoint-*", train.TrainerFile))
	if len(calls) == 0 || len(calls) != 2*len(ck) {
		t.Fatalf("Saving calls %v for %d checkpoints", calls, len(ck))
	}
	for i, on := range calls {
		if on != (i%2 == 0) {
			t.Fatalf("Saving calls %v: want true, false pairs", calls)
		}
	}
}
