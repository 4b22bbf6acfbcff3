package train_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
// partitioner's (engine/devices.go). The same for 4 devices of 1 pair.
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
		var log strings.Builder
		res, err := train.Run(context.Background(), c, "test", nil, &log)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("global batch 4 pairs = %d per device × %d devices × 1 accumulated", bs, devices); devices > 1 && !strings.Contains(log.String(), want) {
			t.Errorf("%d devices: the log does not say %q:\n%s", devices, want, log.String())
		}
		return res, weightsBytes(t, c.Out), time.Since(start)
	}
	one, w1, t1 := run("one", 4, 1)
	two, w2, t2 := run("two", 2, 2)
	four, w4, t4 := run("four", 1, 4)
	for _, c := range []struct {
		n   int
		res *train.Result
		w   map[string][]byte
	}{{2, two, w2}, {4, four, w4}} {
		if one.Steps != 10 || c.res.Steps != 10 {
			t.Fatalf("steps: %d on one device, %d on %d; want 10", one.Steps, c.res.Steps, c.n)
		}
		for _, k := range []string{"loss", "grad_norm"} {
			if a, b := c.res.Final[k], one.Final[k]; math.Abs(a-b) > 1e-4*math.Abs(b) {
				t.Errorf("%s after 10 steps: %d devices %.8g, one %.8g", k, c.n, a, b)
			}
		}
		for name, b := range w1 {
			x, y := f32s(b), f32s(c.w[name])
			for i := range x {
				if d := math.Abs(float64(x[i] - y[i])); d > 1e-5*math.Max(1, math.Abs(float64(x[i]))) {
					t.Fatalf("%s[%d]: %d devices %g, one %g", name, i, c.n, y[i], x[i])
				}
			}
		}
		if c.res.VariableBytes == 0 || c.res.VariableBytesPerDevice != c.res.VariableBytes {
			t.Errorf("replicated over %d devices: %d variable bytes per device of %d, want all", c.n, c.res.VariableBytesPerDevice, c.res.VariableBytes)
		}
	}
	t.Logf("10 steps, global batch 4 pairs (compilation included): one device %v, two %v, four %v; last step %.0f, %.0f and %.0f tok/s",
		t1, t2, t4, one.Final["tokens_per_second"], two.Final["tokens_per_second"], four.Final["tokens_per_second"])
}

// TestTrainDevicesRefused: dpo-train --devices 2 on the pure-Go backend,
// and --shard-params on one device, stop with the reason before training.
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
	c.Devices, c.ShardParams = 1, true
	var ce *train.ConfigError
	if _, err := train.Run(context.Background(), c, "test", nil, nil); !errors.As(err, &ce) || !strings.Contains(err.Error(), "--shard-params splits the weights over several devices") {
		t.Errorf("--shard-params on one device: error %v, want a ConfigError with the reason", err)
	}
}

// TestTrainResumeOtherDevices: a run of 2 pairs on each of 2 devices,
// stopped after step 5 and resumed on 4 devices of 1 pair (the same global
// batch, so the same micro-batches), ends like the uninterrupted 2-device
// run: loss, grad_norm and weights within 1e-4 relative; the log notes the
// change, and trainer_state.json's train_batch_size is the 4 pairs one
// process trains on per micro-batch in both. Another global batch on 4
// devices (2 pairs each) is refused, naming both.
func TestTrainResumeOtherDevices(t *testing.T) {
	if !onXLA(t) {
		t.Skip("needs a -tags xla build and GOMLX_BACKEND=xla:cpu (make test-xla)")
	}
	dir := t.TempDir()
	base := newBase(t, dir, 32, 2, 5)
	ps := synthPairs(8, 3)
	refs := engineRefs(t, base, ps)
	for i := range refs {
		refs[i][0] -= 0.3 * float64(i%3)
	}
	in := filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, refs, "")
	cfg := func(name string, bs, devices int) train.Config {
		c := testConfig(base, in, filepath.Join(dir, name))
		c.Backend = ""                                                                // $GOMLX_BACKEND
		c.BatchSize, c.Devices, c.GradAccum, c.LR, c.Epochs = bs, devices, 1, 1e-3, 5 // 2 steps an epoch
		c.Scheduler, c.WarmupSteps = train.SchedCosine, 2
		return c
	}
	full, err := train.Run(context.Background(), cfg("full", 2, 2), "test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg("stop", 2, 2)
	c.StopAfterSteps = 5
	if _, err := train.Run(context.Background(), c, "test", nil, nil); !errors.Is(err, train.ErrStopped) {
		t.Fatalf("stop at 5: %v", err)
	}
	if n := trainBatchSize(t, filepath.Join(c.Out, "checkpoint-5")); n != 4 {
		t.Errorf("train_batch_size on 2 devices of 2 pairs: %d, want 4", n)
	}
	bad := cfg("stop", 2, 4)
	bad.Resume, bad.Model = true, ""
	if _, err := train.Run(context.Background(), bad, "test", nil, nil); err == nil ||
		!strings.Contains(err.Error(), "global batch 4 pairs (--batch-size 2 × --devices 2 × --grad-accum 1)") ||
		!strings.Contains(err.Error(), "global batch 8 pairs (--batch-size 2 × --devices 4 × --grad-accum 1)") {
		t.Errorf("resume on 4 devices of 2 pairs: error %v, want both global batches named", err)
	}
	r := cfg("stop", 1, 4)
	r.Resume, r.Model = true, ""
	var log bytes.Buffer
	res, err := train.Run(context.Background(), r, "test", nil, &log)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 5 || res.Steps != 10 {
		t.Fatalf("resumed from %d, %d steps; want 5 and 10", res.Resumed, res.Steps)
	}
	if !strings.Contains(log.String(), "continues with a global batch 4 pairs (--batch-size 1 × --devices 4 × --grad-accum 1): the same micro-batches") {
		t.Errorf("the log does not note the other device count:\n%s", log.String())
	}
	if n := trainBatchSize(t, filepath.Join(r.Out, "checkpoint-10")); n != 4 {
		t.Errorf("train_batch_size on 4 devices of 1 pair: %d, want 4", n)
	}
	closeRuns(t, "2 devices resumed on 4", res, full, 1e-4)
}

// TestTrainShardParamsEqualOne: with Config.ShardParams the weights,
// gradient accumulators and AdamW moments are split over 2 devices (each
// variable on its first axis that divides; XLA's partitioner gathers them
// where the graphs need them) and 10 steps equal one device's: loss and
// grad_norm within 1e-4 relative, weights within 1e-5; each device holds
// about half the variables' bytes (logged). The same with a LoRA adapter
// (dropout 0.1): only its matrices and their state are variables of the
// run besides the frozen base, which is sharded too. With
// $DPO_DEVICES_TIMING set it also times the replicated 2-device run.
func TestTrainShardParamsEqualOne(t *testing.T) {
	if !onXLA(t) {
		t.Skip("needs a -tags xla build and GOMLX_BACKEND=xla:cpu (make test-xla)")
	}
	dir := t.TempDir()
	base := newBase(t, dir, 32, 2, 5)
	ps := synthPairs(8, 3)
	refs := engineRefs(t, base, ps)
	for i := range refs {
		refs[i][0] -= 0.3 * float64(i%3)
	}
	in := filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, refs, "")
	for _, lora := range []bool{false, true} {
		run := func(name string, bs, devices int, shard bool) (*train.Result, map[string][]byte) {
			c := testConfig(base, in, filepath.Join(dir, fmt.Sprint(name, lora)))
			c.Backend = "" // $GOMLX_BACKEND
			c.BatchSize, c.Devices, c.GradAccum, c.LR, c.Epochs, c.ShardParams = bs, devices, 1, 1e-3, 5, shard
			if lora {
				c.LoRA = train.LoRAConfig{R: 4, Alpha: 16, Target: "all-linear", Dropout: 0.1, Merge: true}
			}
			res, err := train.Run(context.Background(), c, "test", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if lora {
				return res, safetensorsBytes(t, filepath.Join(c.Out, "adapter_model.safetensors"))
			}
			return res, weightsBytes(t, c.Out)
		}
		start := time.Now()
		one, w1 := run("one", 4, 1, false)
		t1 := time.Since(start)
		start = time.Now()
		two, w2 := run("sharded", 2, 2, true)
		t.Logf("lora=%v, 10 steps (compilation included): one device %v, sharded over 2 %v; last step %.0f and %.0f tok/s", lora, t1, time.Since(start), one.Final["tokens_per_second"], two.Final["tokens_per_second"])
		if os.Getenv("DPO_DEVICES_TIMING") != "" {
			start = time.Now()
			rep, _ := run("replicated", 2, 2, false)
			t.Logf("lora=%v, 10 steps (compilation included): replicated over 2 %v; last step %.0f tok/s", lora, time.Since(start), rep.Final["tokens_per_second"])
		}
		for _, k := range []string{"loss", "grad_norm"} {
			if a, b := two.Final[k], one.Final[k]; math.Abs(a-b) > 1e-4*math.Abs(b) || math.IsNaN(a) {
				t.Errorf("lora=%v %s after 10 steps: sharded over 2 devices %.8g, one %.8g", lora, k, a, b)
			}
		}
		if len(w1) == 0 || len(w1) != len(w2) {
			t.Fatalf("lora=%v: %d tensors on one device, %d sharded", lora, len(w1), len(w2))
		}
		for name, b := range w1 {
			x, y := f32s(b), f32s(w2[name])
			for i := range x {
				if d := math.Abs(float64(x[i] - y[i])); d > 1e-5*math.Max(1, math.Abs(float64(x[i]))) {
					t.Fatalf("lora=%v %s[%d]: sharded over 2 devices %g, one %g", lora, name, i, y[i], x[i])
				}
			}
		}
		per, total := two.VariableBytesPerDevice, two.VariableBytes
		if total == 0 || float64(per) > 0.6*float64(total) {
			t.Errorf("lora=%v: %d variable bytes per device of %d, want about half", lora, per, total)
		}
		t.Logf("lora=%v: variables sharded over 2 devices: %d bytes per device of %d (%.3f)", lora, per, total, float64(per)/float64(total))
	}
}
