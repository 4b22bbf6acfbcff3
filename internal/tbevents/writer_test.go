package tbevents

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dpo-go/dpo/internal/testrefs"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.tfevents")

func fixedClock() func() time.Time {
	t := time.Unix(1_700_000_000, 250_000_000)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func writeRun(t *testing.T, dir string) string {
	t.Helper()
	w, err := create(dir, fixedClock())
	if err != nil {
		t.Fatal(err)
	}
	for step := int64(1); step <= 3; step++ {
		if err := w.Scalars(step, map[string]float64{
			"train/loss":               0.6931 / float64(step),
			"train/rewards/accuracies": float64(step) / 4,
			"train/learning_rate":      1e-6 * float64(step),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Scalars(300, map[string]float64{"eval/loss": -1.5e-3}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Path()
}

// TestGolden pins the bytes of an event file written with a fixed clock.
func TestGolden(t *testing.T) {
	path := writeRun(t, t.TempDir())
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden.tfevents")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("event file differs from %s (rerun with -update if intended)", golden)
	}
}

// TestTensorBoardReads reads the file back with the tensorboard package's
// own event loader (the oracle) and checks every scalar, step and wall time.
func TestTensorBoardReads(t *testing.T) {
	py := testrefs.Python(t, "tensorboard")
	dir := t.TempDir()
	writeRun(t, dir)
	script := `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
out = {}
for tag in acc.Tags()["scalars"]:
    out[tag] = [[e.step, e.wall_time, e.value] for e in acc.Scalars(tag)]
json.dump(out, sys.stdout)
`
	cmd := exec.Command(py, "-c", script, dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string][][3]float64
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string][][3]float64{
		"train/loss":               {{1, 1700000002.25, 0.6931}, {2, 1700000003.25, 0.6931 / 2}, {3, 1700000004.25, 0.6931 / 3}},
		"train/rewards/accuracies": {{1, 1700000002.25, 0.25}, {2, 1700000003.25, 0.5}, {3, 1700000004.25, 0.75}},
		"train/learning_rate":      {{1, 1700000002.25, 1e-6}, {2, 1700000003.25, 2e-6}, {3, 1700000004.25, 3e-6}},
		"eval/loss":                {{300, 1700000005.25, -1.5e-3}},
	}
	if len(got) != len(want) {
		t.Fatalf("tags: got %v, want %d tags", got, len(want))
	}
	for tag, ws := range want {
		gs := got[tag]
		if len(gs) != len(ws) {
			t.Fatalf("%s: got %v, want %v", tag, gs, ws)
		}
		for i := range ws {
			if gs[i][0] != ws[i][0] || math.Abs(gs[i][1]-ws[i][1]) > 1e-6 || float32(gs[i][2]) != float32(ws[i][2]) {
				t.Errorf("%s[%d]: got %v, want %v (value as float32)", tag, i, gs[i], ws[i])
			}
		}
	}
}

func TestCreateErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := Create(filepath.Join(f, "runs")); err == nil {
		t.Fatal("want an error when the directory cannot be made")
	}
}

func BenchmarkScalars(b *testing.B) {
	w, err := Create(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	m := map[string]float64{"train/loss": 0.5, "train/grad_norm": 1, "train/learning_rate": 1e-6, "train/rewards/margins": 0.1}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Scalars(int64(i), m)
	}
}
