package train_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/train"
)

// TestReportToTensorBoard trains with --report-to tensorboard, evaluating
// as it goes, and reads the event files back with the tensorboard package's
// EventAccumulator (the oracle): every numeric field of every metrics.jsonl
// line is there at its step, as float32, under transformers'
// TensorBoardCallback tags (train/x, eval/x).
func TestReportToTensorBoard(t *testing.T) {
	py := testrefs.Python(t, "tensorboard")
	_, in, cfg := smallRun(t)
	out := filepath.Join(t.TempDir(), "out")
	c := cfg(out)
	c.ReportTo = "jsonl,tensorboard"
	c.Eval, c.EvalSteps = in, 1
	if _, err := train.Run(context.Background(), c, "test", nil, nil); err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
json.dump({tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}, sys.stdout)
`
	cmd := exec.Command(py, "-c", script, filepath.Join(out, train.RunsDir))
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string][][2]float64
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(out, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lines, checked := 0, 0
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		lines++
		step := rec["step"].(float64)
		for k, v := range rec {
			x, ok := v.(float64)
			if !ok || k == "step" {
				continue
			}
			tag := "train/" + k
			if len(k) > 5 && k[:5] == "eval_" {
				tag = "eval/" + k[5:]
			}
			found := false
			for _, e := range got[tag] {
				if e[0] == step {
					found = true
					if float32(e[1]) != float32(x) {
						t.Errorf("%s at step %v: tensorboard %v, metrics.jsonl %v", tag, step, e[1], x)
					}
				}
			}
			if !found {
				t.Errorf("%s at step %v: missing from the event file", tag, step)
			}
			checked++
		}
	}
	if lines < 2 || checked < 20 || len(got["eval/loss"]) != lines || len(got["train/loss"]) != lines {
		t.Fatalf("%d lines, %d values checked, tags %d (eval/loss %d)", lines, checked, len(got), len(got["eval/loss"]))
	}
}

func TestReportToRefusesUnknown(t *testing.T) {
	_, _, cfg := smallRun(t)
	c := cfg(filepath.Join(t.TempDir(), "out"))
	c.ReportTo = "wandb"
	_, err := train.Run(context.Background(), c, "test", nil, nil)
	var ce *train.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want a ConfigError, got %v", err)
	}
}
