package train_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/train"
)

// closeRuns compares two finished runs: the last step's loss and
// grad_norm within tol relative, every weight within tol (relative above
// 1).
func closeRuns(t *testing.T, what string, a, b *train.Result, tol float64) {
	t.Helper()
	for _, k := range []string{"loss", "grad_norm"} {
		if x, y := a.Final[k], b.Final[k]; math.Abs(x-y) > tol*math.Abs(y) || math.IsNaN(x) {
			t.Errorf("%s: %s %.8g, uninterrupted %.8g", what, k, x, y)
		}
	}
	wa, wb := weightsBytes(t, a.OutDir), weightsBytes(t, b.OutDir)
	if len(wa) == 0 || len(wa) != len(wb) {
		t.Fatalf("%s: %d tensors, uninterrupted %d", what, len(wa), len(wb))
	}
	for name, raw := range wb {
		x, y := f32s(wa[name]), f32s(raw)
		if len(x) != len(y) {
			t.Fatalf("%s: %s has %d values, uninterrupted %d", what, name, len(x), len(y))
		}
		for i := range y {
			if d := math.Abs(float64(x[i] - y[i])); d > tol*math.Max(1, math.Abs(float64(y[i]))) {
				t.Fatalf("%s: %s[%d] = %g, uninterrupted %g", what, name, i, x[i], y[i])
			}
		}
	}
}

// trainBatchSize reads train_batch_size from a checkpoint's trainer_state.json.
func trainBatchSize(t *testing.T, dir string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, train.TrainerFile))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		TrainBatchSize int `json:"train_batch_size"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st.TrainBatchSize
}

// TestResumeOtherBatchShape: a checkpoint of micro-batches of 4 pairs
// resumes as 2 micro-batches of 2 (the same global batch: every step takes
// the same pairs), says so in a note, and ends within 1e-4 of the
// uninterrupted run; resuming with another global batch is refused,
// naming both shapes, before any compute, and so is a --batch-tokens that
// cuts the steps otherwise.
func TestResumeOtherBatchShape(t *testing.T) {
	base, in := resumeSetup(t)
	dir := t.TempDir()
	cfg := func(out string, bs, accum int) train.Config {
		c := resumeConfig(base, in, filepath.Join(dir, out), "sigmoid")
		c.BatchSize, c.GradAccum, c.Epochs = bs, accum, 2 // 10 pairs: steps of 4, 4, 2 an epoch
		return c
	}
	full, err := train.Run(context.Background(), cfg("full", 4, 1), "test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if full.Steps != 6 {
		t.Fatalf("%d steps, want 6", full.Steps)
	}
	c := cfg("stop", 4, 1)
	c.StopAfterSteps = 2
	if _, err := train.Run(context.Background(), c, "test", nil, nil); !errors.Is(err, train.ErrStopped) {
		t.Fatalf("stop at 2: %v", err)
	}
	for _, bad := range []struct{ bs, accum int }{{2, 1}, {4, 2}} {
		r := cfg("stop", bad.bs, bad.accum)
		r.Resume, r.Model = true, ""
		_, err := train.Run(context.Background(), r, "test", nil, nil)
		want := []string{"global batch 4 pairs (--batch-size 4 × --devices 1 × --grad-accum 1)",
			fmt.Sprintf("global batch %d pairs (--batch-size %d × --devices 1 × --grad-accum %d)", bad.bs*bad.accum, bad.bs, bad.accum)}
		var ce *train.ConfigError
		if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), want[0]) || !strings.Contains(err.Error(), want[1]) {
			t.Errorf("resume with batch %d × accum %d: error %v, want a ConfigError naming %q and %q", bad.bs, bad.accum, err, want[0], want[1])
		}
	}
	// The same global batch, but --batch-tokens cuts micro-batches of one
	// pair: steps of 2 pairs, not the checkpoint's 4.
	cut := cfg("stop", 2, 2)
	cut.Resume, cut.Model, cut.BatchTokens = true, "", 40
	if _, err := train.Run(context.Background(), cut, "test", nil, nil); err == nil || !strings.Contains(err.Error(), "step 1 takes other pairs") {
		t.Errorf("resume with --batch-tokens 40: error %v, want the first step whose pairs differ named", err)
	}
	r := cfg("stop", 2, 2)
	r.Resume, r.Model = true, ""
	var log bytes.Buffer
	res, err := train.Run(context.Background(), r, "test", nil, &log)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 2 || res.Steps != 6 {
		t.Fatalf("resumed from %d, %d steps; want 2 and 6", res.Resumed, res.Steps)
	}
	if !strings.Contains(log.String(), "continues with a global batch 4 pairs (--batch-size 2 × --devices 1 × --grad-accum 2): every step takes the same pairs, but their micro-batches differ") {
		t.Errorf("the log does not note the other micro-batches:\n%s", log.String())
	}
	closeRuns(t, "resumed as 2 × 2", res, full, 1e-4)
}
