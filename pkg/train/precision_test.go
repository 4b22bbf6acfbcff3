package train_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/dpo-go/dpo/pkg/train"
)

// TestGradientCheckpointingSameWeights: six optimizer steps (two epochs,
// gradient accumulation, cosine schedule) with --gradient-checkpointing
// end with weights bit-identical to the same run without it, and a run
// may be resumed with the option switched (it changes no value).
func TestGradientCheckpointingSameWeights(t *testing.T) {
	base, in := resumeSetup(t)
	dir := t.TempDir()
	plain := resumeConfig(base, in, filepath.Join(dir, "plain"), "sigmoid")
	if _, err := train.Run(context.Background(), plain, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	ck := resumeConfig(base, in, filepath.Join(dir, "ckpt"), "sigmoid")
	ck.GradCheckpointing = true
	if _, err := train.Run(context.Background(), ck, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	sameWeights(t, plain.Out, ck.Out)

	mixed := resumeConfig(base, in, filepath.Join(dir, "mixed"), "sigmoid")
	mixed.StopAfterSteps = 3
	if _, err := train.Run(context.Background(), mixed, "test", nil, nil); !errors.Is(err, train.ErrStopped) {
		t.Fatalf("stop at 3: %v", err)
	}
	mixed.StopAfterSteps, mixed.Resume, mixed.Model, mixed.GradCheckpointing = 0, true, "", true
	if _, err := train.Run(context.Background(), mixed, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	sameWeights(t, plain.Out, mixed.Out)
}

// TestBF16Training: --bf16 keeps float32 master weights (the saved
// float32 checkpoint holds values no bf16 number equals, and the updates
// are smaller than a bf16 step), follows the float32 run closely, resumes
// bit-identically, and refuses to resume a float32 run.
func TestBF16Training(t *testing.T) {
	base, in := resumeSetup(t)
	dir := t.TempDir()
	f32 := resumeConfig(base, in, filepath.Join(dir, "f32"), "sigmoid")
	resF32, err := train.Run(context.Background(), f32, "test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bf := resumeConfig(base, in, filepath.Join(dir, "bf16"), "sigmoid")
	bf.BF16 = true
	resBF, err := train.Run(context.Background(), bf, "test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Loss and gradient norm of the last step: close to float32, not equal.
	for _, k := range []string{"loss", "grad_norm"} {
		a, b := resF32.Final[k], resBF.Final[k]
		if d := math.Abs(a - b); d > 0.02*math.Abs(a) || d == 0 {
			t.Errorf("%s: float32 %.7g, bf16 %.7g", k, a, b)
		}
	}
	wf, wb, w0 := weightsBytes(t, f32.Out), weightsBytes(t, bf.Out), weightsBytes(t, base)
	notBF16, moved := 0, 0
	for name, raw := range wb {
		got, start := f32s(raw), f32s(w0[name])
		for i, v := range got {
			if safetensors.Float32FromBF16(safetensors.BF16FromFloat32(v)) != v {
				notBF16++
			}
			if v != start[i] {
				moved++
			}
		}
		if len(wf[name]) != len(raw) {
			t.Fatalf("%s: %d bytes in float32 run, %d in bf16 run", name, len(wf[name]), len(raw))
		}
	}
	if moved == 0 || notBF16 < moved/2 {
		t.Errorf("%d weights moved, %d of all are not bf16 numbers: master weights are not float32", moved, notBF16)
	}

	// Resume: bit-identical to the uninterrupted bf16 run.
	res := resumeConfig(base, in, filepath.Join(dir, "bf16-resumed"), "sigmoid")
	res.BF16, res.StopAfterSteps = true, 4
	if _, err := train.Run(context.Background(), res, "test", nil, nil); !errors.Is(err, train.ErrStopped) {
		t.Fatalf("stop at 4: %v", err)
	}
	res.StopAfterSteps, res.Resume, res.Model = 0, true, ""
	if _, err := train.Run(context.Background(), res, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	sameWeights(t, bf.Out, res.Out)

	// A float32 run cannot be resumed with --bf16: the results would differ.
	sw := resumeConfig(base, in, filepath.Join(dir, "switch"), "sigmoid")
	sw.StopAfterSteps = 2
	if _, err := train.Run(context.Background(), sw, "test", nil, nil); !errors.Is(err, train.ErrStopped) {
		t.Fatalf("stop at 2: %v", err)
	}
	sw.StopAfterSteps, sw.Resume, sw.Model, sw.BF16 = 0, true, "", true
	_, err = train.Run(context.Background(), sw, "test", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "BF16") && !strings.Contains(err.Error(), "bf16") {
		t.Errorf("resuming a float32 run with --bf16: %v, want an error naming bf16", err)
	}
}
