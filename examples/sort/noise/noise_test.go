package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/examples/sort/internal/runs"
)

func writeRun(t *testing.T, dir, runJSON string, acc float64, scores []float64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, fileRun), []byte(runJSON), 0o644)
	b, _ := json.Marshal(map[string]any{"pairs": 4, "beta": 0.1, "accuracy": acc, "accuracy_ci95": []float64{acc - 0.1, acc + 0.1},
		"mean_reward_chosen": 0.05, "mean_reward_rejected": -0.2})
	os.WriteFile(filepath.Join(dir, fileSummary), b, 0o644)
	var g strings.Builder
	for _, s := range scores {
		b, _ := json.Marshal(map[string]any{"score": s})
		g.Write(append(b, '\n'))
	}
	os.WriteFile(filepath.Join(dir, fileGreedy), []byte(g.String()), 0o644)
}

func TestRun(t *testing.T) {
	root := t.TempDir()
	var dirs []string
	add := func(name, runJSON string, acc float64, scores ...float64) {
		d := filepath.Join(root, name)
		writeRun(t, d, runJSON, acc, scores)
		dirs = append(dirs, d)
	}
	// Given out of order: the output is by loss (first seen), then rate.
	add("robust-f0.4", `{"loss":"robust","flip_rate":0.4,"args":"--loss robust"}`, 0.8, 1, 0, 0, 0)
	add("sigmoid-f0.4", `{"loss":"sigmoid","flip_rate":0.4}`, 0.6, 0, 0, 0, 0)
	add("sigmoid-f0", `{"loss":"sigmoid","flip_rate":0}`, 0.9, 1, 1, 1, 0.5)
	add("robust-f0", `{"loss":"robust","flip_rate":0}`, 0.85, 1, 1, 0, 0)
	png, genPNG := filepath.Join(root, "n.png"), filepath.Join(root, "g.png")
	var out, table bytes.Buffer
	if err := run(config{out: "-", png: png, genPNG: genPNG, dirs: dirs}, &out, &table); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		loss      string
		rate, acc float64
		gen       float64
	}{{"robust", 0, 0.85, 0.5}, {"robust", 0.4, 0.8, 0.25}, {"sigmoid", 0, 0.9, 0.75}, {"sigmoid", 0.4, 0.6, 0}}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		var r Result
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatal(err)
		}
		if r.Loss != w.loss || r.FlipRate != w.rate || r.RewardAccuracy != w.acc || r.GenerationAccuracy != w.gen ||
			r.ChosenShift != 0.5 || r.RejectedShift != -2 {
			t.Errorf("line %d: %s, want %+v, shifts 0.5, -2", i, lines[i], w)
		}
	}
	if !strings.Contains(table.String(), "| sigmoid | 0.900 | 0.600 | 0.750 | 0.000 |") {
		t.Errorf("table:\n%s", table.String())
	}
	for _, p := range []string{png, genPNG} {
		if fi, err := os.Stat(p); err != nil || fi.Size() < 1000 {
			t.Errorf("plot %s: %v", p, err)
		}
	}
}

func TestResultErrors(t *testing.T) {
	sum := runs.Summary{Pairs: 1, Beta: 0.1, Accuracy: 1}
	g := runs.Judged{N: 1, Exact: 1, Sum: 1}
	loss, rate, bad := "ipo", 0.2, 1.2
	if _, err := result("d", runInfo{Loss: &loss}, sum, g); err == nil || !strings.Contains(err.Error(), fileRun) {
		t.Errorf("no flip_rate: %v", err)
	}
	if _, err := result("d", runInfo{Loss: &loss, FlipRate: &bad}, sum, g); err == nil {
		t.Error("flip_rate 1.2 accepted")
	}
	if _, err := result("d", runInfo{Loss: &loss, FlipRate: &rate}, sum, runs.Judged{}); err == nil {
		t.Error("no generations accepted")
	}
}
