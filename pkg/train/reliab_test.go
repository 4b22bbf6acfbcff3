package train_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dpo-go/dpo/pkg/train"
)

// smallRun is a 2-step run on 6 pairs.
func smallRun(t *testing.T) (base, in string, c func(out string) train.Config) {
	dir := t.TempDir()
	base = newBase(t, dir, 32, 1, 9)
	ps := synthPairs(6, 4)
	refs := engineRefs(t, base, ps)
	in = filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, refs, "")
	return base, in, func(out string) train.Config {
		cfg := testConfig(base, in, out)
		cfg.BatchSize, cfg.LR = 3, 1e-3
		return cfg
	}
}

// A fresh run refuses an --out holding another run's files; --overwrite
// replaces them (and only files dpo-train writes).
func TestOutMustBeEmpty(t *testing.T) {
	_, _, cfg := smallRun(t)
	out := filepath.Join(t.TempDir(), "out")
	other := filepath.Join(out, "checkpoint-2")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(other, train.TrainerFile), []byte(`{"global_step":2}`), 0o644)
	c := cfg(out)
	_, err := train.Run(context.Background(), c, "test", nil, nil)
	var ce *train.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("fresh run into a used --out: %v", err)
	}
	c.Overwrite = true
	if _, err := train.Run(context.Background(), c, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	// checkpoint-2 is now this run's: it has an identity.
	if _, err := os.Stat(filepath.Join(other, train.IdentityFile)); err != nil {
		t.Errorf("checkpoint-2 is not this run's: %v", err)
	}
	// --overwrite never removes files dpo-train did not write.
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	if _, err := train.Run(context.Background(), c, "test", nil, nil); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("--overwrite with a foreign file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "notes.txt")); err != nil {
		t.Error("foreign file removed")
	}
}

// A second run on a locked --out fails at once, naming the holder.
func TestOutLocked(t *testing.T) {
	_, _, cfg := smallRun(t)
	out := t.TempDir()
	f, err := os.OpenFile(filepath.Join(out, train.LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("pid 4242\n")
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Skip("no flock:", err)
	}
	_, err = train.Run(context.Background(), cfg(out), "test", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "in use by another dpo-train run") || !strings.Contains(err.Error(), "pid 4242") {
		t.Fatalf("run on a locked --out: %v", err)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if _, err := train.Run(context.Background(), cfg(out), "test", nil, nil); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

// --resume with a stream of the same length but other content, or another
// tokenizer, is refused naming what differs.
func TestResumeRefusesOtherStream(t *testing.T) {
	base, _, cfg := smallRun(t)
	dir := t.TempDir()
	ps := synthPairs(6, 4)
	refs := engineRefs(t, base, ps)
	out := filepath.Join(dir, "out")
	c := cfg(out)
	c.StopAfterSteps = 1
	if _, err := train.Run(context.Background(), c, "test", nil, nil); !errors.Is(err, train.ErrStopped) {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tok string
		shift     float64
		want      string
	}{
		{"other reference log-probs", "", -0.5, "content"},
		{"other tokenizer", "builtin:other", 0, "tokenizer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r2 := make([][2]float64, len(refs))
			for i := range refs {
				r2[i] = [2]float64{refs[i][0] + tc.shift, refs[i][1]}
			}
			in2 := filepath.Join(t.TempDir(), "other.arrow")
			writeStream(t, in2, ps, r2, tc.tok)
			c2 := cfg(out)
			c2.Input, c2.Resume, c2.Model = in2, true, ""
			_, err := train.Run(context.Background(), c2, "test", nil, nil)
			if err == nil || !strings.Contains(err.Error(), "different run") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("resume with %s: %v", tc.name, err)
			}
		})
	}
	// The same stream still resumes.
	c.StopAfterSteps, c.Resume, c.Model = 0, true, ""
	if _, err := train.Run(context.Background(), c, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// Disk full at the end: the final model is written first; a failed final
// checkpoint leaves no temp directory, and the error says what exists.
func TestFinalSaveDiskFull(t *testing.T) {
	_, _, cfg := smallRun(t)
	enospc := func(match string) func(string) error {
		return func(path string) error {
			if !strings.Contains(path, match) {
				return nil
			}
			// A half-written file, as a write cut short by ENOSPC leaves.
			os.WriteFile(path, make([]byte, 1000), 0o644)
			return fmt.Errorf("write %s: %w", path, syscall.ENOSPC)
		}
	}
	for _, tc := range []struct {
		name, match string
		wantErr     string
		model, ck   bool // exist afterwards
	}{
		{"checkpoint state", "checkpoint-2.tmp/" + train.StateFile, "the final model is in", true, false},
		{"final model", "out/model.safetensors", "the final weights are in the checkpoint", false, true},
		{"both", "model.safetensors", "the final weights are lost", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			defer train.SetFaultHook(enospc(tc.match))()
			_, err := train.Run(context.Background(), cfg(out), "test", nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("err %v, want %q wrapping ENOSPC", err, tc.wantErr)
			}
			if _, err := os.Stat(filepath.Join(out, "checkpoint-2.tmp")); err == nil {
				t.Error("checkpoint-2.tmp left behind")
			}
			if _, err := os.Stat(filepath.Join(out, "checkpoint-2", train.TrainerFile)); (err == nil) != tc.ck {
				t.Errorf("checkpoint-2 exists: %v, want %v", err == nil, tc.ck)
			}
			if _, err := os.Stat(filepath.Join(out, "config.json")); (err == nil) != tc.model {
				t.Errorf("final model exists: %v, want %v", err == nil, tc.model)
			}
		})
	}
}

// A run that fails before writing anything leaves no --out it created.
func TestFailedRunLeavesNoOut(t *testing.T) {
	_, _, cfg := smallRun(t)
	out := filepath.Join(t.TempDir(), "out")
	c := cfg(out)
	c.Input = filepath.Join(t.TempDir(), "missing.arrow")
	if _, err := train.Run(context.Background(), c, "test", nil, nil); err == nil {
		t.Fatal("no error")
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("--out left behind")
	}
}

// Interrupted before the first step (a SIGTERM while stdin was read): the
// error claims no checkpoint.
func TestInterruptedBeforeFirstStep(t *testing.T) {
	_, _, cfg := smallRun(t)
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := train.Run(ctx, cfg(out), "test", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "before the first step") || strings.Contains(err.Error(), "checkpoint in") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoint-0")); err == nil {
		t.Error("checkpoint-0 exists")
	}
}
