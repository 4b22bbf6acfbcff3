package train_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dpo-go/dpo/pkg/train"
)

const childEnv = "DPO_TRAIN_TEST_CHILD"

// TestMain lets the test binary act as a training process (for the
// SIGKILL test): with $DPO_TRAIN_TEST_CHILD set to a JSON Config it runs
// train.Run with Resume and exits.
func TestMain(m *testing.M) {
	if js := os.Getenv(childEnv); js != "" {
		var c train.Config
		if err := json.Unmarshal([]byte(js), &c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		c.Resume = true
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if _, err := train.Run(ctx, c, "test", nil, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func sameWeights(t *testing.T, a, b string) {
	t.Helper()
	wa, wb := weightsBytes(t, a), weightsBytes(t, b)
	if len(wa) != len(wb) || len(wa) == 0 {
		t.Fatalf("%d tensors in %s, %d in %s", len(wa), a, len(wb), b)
	}
	names := make([]string, 0, len(wa))
	for n := range wa {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !bytes.Equal(wa[n], wb[n]) {
			t.Errorf("tensor %s differs between %s and %s", n, a, b)
		}
	}
}

func resumeSetup(t *testing.T) (base, in string) {
	dir := t.TempDir()
	base = newBase(t, dir, 32, 1, 9)
	ps := synthPairs(10, 4)
	refs := engineRefs(t, base, ps)
	for i := range refs {
		refs[i][0] -= 0.1 * float64(i%3)
	}
	in = filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, refs, "")
	return base, in
}

func resumeConfig(base, in, out, loss string) train.Config {
	c := testConfig(base, in, out)
	c.Loss, c.BatchSize, c.GradAccum, c.Epochs = loss, 3, 2, 3 // 2 steps per epoch (3+3, 3+1)
	c.LR, c.WarmupSteps, c.Scheduler, c.WeightDecay = 1e-3, 2, train.SchedCosine, 0.01
	return c
}

// TestResumeBitIdentical: a run stopped after step k (checkpoint saved)
// and resumed ends with exactly the weights of an uninterrupted run, for
// every k, across epoch boundaries, with bco_pair's running moments.
func TestResumeBitIdentical(t *testing.T) {
	base, in := resumeSetup(t)
	for _, loss := range []string{"sigmoid", "bco_pair"} {
		t.Run(loss, func(t *testing.T) {
			dir := t.TempDir()
			full := resumeConfig(base, in, filepath.Join(dir, "full"), loss)
			res, err := train.Run(context.Background(), full, "test", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Steps != 6 {
				t.Fatalf("%d steps, want 6", res.Steps)
			}
			for _, k := range []int{1, 2, 3, 5} {
				c := resumeConfig(base, in, filepath.Join(dir, fmt.Sprint("stop", k)), loss)
				c.StopAfterSteps = k
				if _, err := train.Run(context.Background(), c, "test", nil, nil); !errors.Is(err, train.ErrStopped) {
					t.Fatalf("stop at %d: %v", k, err)
				}
				c.StopAfterSteps, c.Resume, c.Model = 0, true, ""
				res, err := train.Run(context.Background(), c, "test", nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.Resumed != k {
					t.Errorf("resumed from %d, want %d", res.Resumed, k)
				}
				sameWeights(t, full.Out, c.Out)
				sameWeights(t, filepath.Join(full.Out, "checkpoint-6"), filepath.Join(c.Out, "checkpoint-6"))
			}
		})
	}
}

// uninterruptedRun trains the 10-epoch run the process tests compare
// with, in a new directory it returns too.
func uninterruptedRun(t *testing.T) (train.Config, string) {
	base, in := resumeSetup(t)
	dir := t.TempDir()
	full := resumeConfig(base, in, filepath.Join(dir, "full"), "sigmoid")
	full.Epochs = 10
	if _, err := train.Run(context.Background(), full, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	return full, dir
}

// startChild starts this test binary as a training process running c
// (see TestMain) and returns it with its stderr.
func startChild(t *testing.T, c train.Config) (*exec.Cmd, *bytes.Buffer) {
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stderr
}

// TestResumeAfterSIGKILL kills a real training process (this test binary
// re-executed) at varying moments, checkpoints every step, resumes it
// until it finishes, and compares the final weights bit for bit with an
// uninterrupted run.
func TestResumeAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns training processes")
	}
	full, dir := uninterruptedRun(t)
	c := full
	c.Out = filepath.Join(dir, "killed")
	c.SaveSteps, c.SaveTotalLimit = 1, 2
	kills := 0
	newest := func() int {
		ents, _ := filepath.Glob(filepath.Join(c.Out, "checkpoint-*"))
		n := 0
		for _, e := range ents {
			var k int
			if _, err := fmt.Sscanf(filepath.Base(e), "checkpoint-%d", &k); err == nil && !strings.HasSuffix(e, ".tmp") {
				n = max(n, k)
			}
		}
		return n
	}
	for attempt := 0; attempt < 40; attempt++ {
		cmd, stderr := startChild(t, c)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill only after this process saved a new checkpoint (so every
		// attempt makes progress, however loaded the machine), plus a
		// varying delay that lands inside a step or a save.
		before := newest()
		jitter := time.Duration((attempt*37)%60) * time.Millisecond
		var killAt <-chan time.Time
		tick := time.NewTicker(5 * time.Millisecond)
	wait:
		for {
			select {
			case err := <-done:
				tick.Stop()
				if err != nil {
					t.Fatalf("child failed: %v\n%s", err, stderr.String())
				}
				if kills < 3 {
					t.Fatalf("child finished after only %d kills; stderr:\n%s", kills, stderr.String())
				}
				sameWeights(t, full.Out, c.Out)
				t.Logf("finished after %d SIGKILLs", kills)
				return
			case <-tick.C:
				if killAt == nil && newest() > before {
					killAt = time.After(jitter)
				}
			case <-killAt:
				tick.Stop()
				_ = cmd.Process.Kill()
				<-done
				kills++
				break wait
			}
		}
	}
	t.Fatal("training did not finish after 40 attempts")
}

// TestSIGTERMSavesCheckpoint: SIGTERM makes a training process save a
// checkpoint at the next step boundary and exit with an error saying so;
// resuming from it gives the uninterrupted run's weights.
func TestSIGTERMSavesCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a training process")
	}
	full, dir := uninterruptedRun(t)
	c := full
	c.Out = filepath.Join(dir, "term")
	cmd, stderr := startChild(t, c)
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(c.Out, "metrics.jsonl"))
		if strings.Count(string(b), "\n") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no progress; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted at step") {
		t.Fatalf("exit %v; stderr:\n%s", err, stderr.String())
	}
	steps, _ := filepath.Glob(filepath.Join(c.Out, "checkpoint-*"))
	if len(steps) != 1 || strings.HasSuffix(steps[0], ".tmp") {
		t.Fatalf("checkpoints after SIGTERM: %v", steps)
	}
	c.Resume, c.Model = true, ""
	res, err := train.Run(context.Background(), c, "test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed < 2 || res.Resumed >= res.Steps {
		t.Errorf("resumed from step %d of %d", res.Resumed, res.Steps)
	}
	sameWeights(t, full.Out, c.Out)
}

// TestResumeOtherBackend: a checkpoint records the kind of backend that
// wrote it; resuming on another kind goes on, naming both in a note (the
// last bits differ), and the same kind says nothing.
func TestResumeOtherBackend(t *testing.T) {
	base, in := resumeSetup(t)
	c := resumeConfig(base, in, filepath.Join(t.TempDir(), "run"), "sigmoid")
	c.StopAfterSteps = 1
	if _, err := train.Run(context.Background(), c, "test", nil, nil); !errors.Is(err, train.ErrStopped) {
		t.Fatalf("stop at 1: %v", err)
	}
	idPath := filepath.Join(c.Out, "checkpoint-1", train.IdentityFile)
	raw, err := os.ReadFile(idPath)
	if err != nil {
		t.Fatal(err)
	}
	var id map[string]any
	if err := json.Unmarshal(raw, &id); err != nil {
		t.Fatal(err)
	}
	kind, _ := id["backend"].(string)
	if kind == "" {
		t.Fatalf("%s records no backend: %s", idPath, raw)
	}
	resume := func(out string) string {
		var log bytes.Buffer
		r := c
		r.StopAfterSteps, r.Resume, r.Model, r.Out = 0, true, "", out
		if _, err := train.Run(context.Background(), r, "test", nil, &log); err != nil {
			t.Fatal(err)
		}
		return log.String()
	}
	same := c.Out + "-same"
	if err := exec.Command("cp", "-a", c.Out, same).Run(); err != nil {
		t.Fatal(err)
	}
	if log := resume(same); strings.Contains(log, "backend and continues on") {
		t.Errorf("resume on the same backend notes a change:\n%s", log)
	}
	other := "xla:cuda"
	if kind == other {
		other = "go"
	}
	id["backend"] = other
	raw, _ = json.Marshal(id)
	if err := os.WriteFile(idPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if log := resume(c.Out); !strings.Contains(log, "written on the "+other+" backend and continues on "+kind) {
		t.Errorf("resume on another backend: the log does not name both backends:\n%s", log)
	}
}
