package train_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/train"
)

// TestTrainDevicesEqualOne: 10 steps with micro-batches of 2 pairs on each
// of 2 devices equal 10 steps of 4-pair micro-batches on one device (the
// same global batch): loss and grad_norm within 1e-4 relative, weights
// within 1e-5. The gradient's reduction over the devices is XLA's
// partitioner's (engine/devices.go). With $DPO_DEVICES_TIMING set it also
// times 4 devices against one (same work) and logs both.
func TestTrainDevicesEqualOne(t *testing.T) {
	if !onXLA(t) {
		t.Skip("needs a -tags xla build and GOMLX_BACKEND=xla:cpu (make test-xla)")
	}
	dir := t.TempDir()
	base := newBase(t, dir, 32, 2, 5)
	ps := synthPairs(8, 3)
	refs := engineRefs(t, base, ps)
	for i := range refs {
		refs[i][0] -= 0.3 * float64(i%3)
		refs[i][1] += 0.2 * float64(i%4)
	}
	in := filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, refs, "")
	run := func(name string, bs, devices int) (*train.Result, map[string][]byte, time.Duration) {
		c := testConfig(base, in, filepath.Join(dir, name))
		c.Backend = ""                                                                // $GOMLX_BACKEND
		c.BatchSize, c.Devices, c.GradAccum, c.LR, c.Epochs = bs, devices, 1, 1e-3, 5 // 2 steps an epoch
		start := time.Now()
		res, err := train.Run(context.Background(), c, "test", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res, weightsBytes(t, c.Out), time.Since(start)
	}
	one, w1, t1 := run("one", 4, 1)
	two, w2, t2 := run("two", 2, 2)
	if one.Steps != 10 || two.Steps != 10 {
		t.Fatalf("steps: %d on one device, %d on two; want 10", one.Steps, two.Steps)
	}
	for _, k := range []string{"loss", "grad_norm"} {
		if a, b := two.Final[k], one.Final[k]; math.Abs(a-b) > 1e-4*math.Abs(b) {
			t.Errorf("%s after 10 steps: 2 devices %.8g, one %.8g", k, a, b)
		}
	}
	for name, b := range w1 {
		x, y := f32s(b), f32s(w2[name])
		for i := range x {
			if d := math.Abs(float64(x[i] - y[i])); d > 1e-5*math.Max(1, math.Abs(float64(x[i]))) {
				t.Fatalf("%s[%d]: 2 devices %g, one %g", name, i, y[i], x[i])
			}
		}
	}
	t.Logf("10 steps, global batch 4 pairs (compilation included): one device %v, two %v; last step %.0f and %.0f tok/s", t1, t2, one.Final["tokens_per_second"], two.Final["tokens_per_second"])
	if os.Getenv("DPO_DEVICES_TIMING") != "" {
		four, _, t4 := run("four", 1, 4)
		t.Logf("10 steps, global batch 4 pairs (compilation included): four devices %v; last step %.0f tok/s", t4, four.Final["tokens_per_second"])
	}
}

// TestTrainDevicesRefused: dpo-train --devices 2 on the pure-Go backend
// stops with the reason before training.
func TestTrainDevicesRefused(t *testing.T) {
	dir := t.TempDir()
	base := newBase(t, dir, 32, 1, 5)
	ps := synthPairs(4, 3)
	in := filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, engineRefs(t, base, ps), "")
	c := testConfig(base, in, filepath.Join(dir, "out"))
	c.Backend, c.Devices = engine.DefaultGoBackend, 2
	if _, err := train.Run(context.Background(), c, "test", nil, nil); err == nil || !strings.Contains(err.Error(), "--devices needs an XLA backend") {
		t.Errorf("pure Go, 2 devices: error %v, want the XLA backend reason", err)
	}
}
