package train

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
)

// Before step 1, dpo-train refuses a row whose forward and backward alone
// cannot fit (naming the row and --max-length) and a run whose estimated
// peak exceeds the limit (naming the largest component and the flag that
// shrinks it), instead of dying asking for a 12 GiB block.
func TestCheckMemory(t *testing.T) {
	cfg, err := model.LoadConfig(filepath.Join("..", "..", "examples", "sort", "model", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxPositions = 1 << 16
	newRunner := func(c Config, lens []int) *runner {
		d := (&dataset{name: "ref.arrow"}).withLens(lens)
		return &runner{c: &c, cfg: cfg, train: d, plan: planSteps(d, &c)}
	}
	base := DefaultConfig()
	base.BatchSize = 4
	short := []int{20, 30, 40, 20, 30, 40, 20, 30}
	fixed := estimateMemory(cfg, &base, nil)
	fixedBytes := fixed.weights + fixed.gradients + fixed.optimizer
	shortRun := estimateMemory(cfg, &base, newRunner(base, short).plan)

	// A 40k-token row among short ones: refused by index.
	withLong := append(append([]int(nil), short...), 40000)
	err = newRunner(base, withLong).checkMemory(int64(2*shortRun.total()), "as given")
	for _, w := range []string{"ref.arrow: row 8", "40000 tokens", "--max-length", "--gradient-checkpointing", "--max-memory"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("long row: error %v does not name %q", err, w)
		}
	}
	// The short rows alone pass under the same limit, and with no limit.
	if err := newRunner(base, short).checkMemory(int64(2*shortRun.total()), "as given"); err != nil {
		t.Errorf("short rows: %v", err)
	}
	if err := newRunner(base, withLong).checkMemory(0, "off"); err != nil {
		t.Errorf("no limit: %v", err)
	}
	// Each row fits but a batch of them does not: the activations, with
	// --gradient-checkpointing as the remedy.
	long := []int{2000, 2000, 2000, 2000}
	one, _ := microMemory(cfg, &base, 2, 2048)
	err = newRunner(base, long).checkMemory(int64(fixedBytes+2*one), "as given")
	for _, w := range []string{"activations", "--gradient-checkpointing", "weights", "optimizer state"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("batch: error %v does not name %q", err, w)
		}
	}
	// Checkpointing shrinks the estimate.
	gc := base
	gc.GradCheckpointing = true
	if a, b := estimateMemory(cfg, &gc, newRunner(gc, long).plan).activations, estimateMemory(cfg, &base, newRunner(base, long).plan).activations; a >= b {
		t.Errorf("activations with checkpointing %g, without %g", a, b)
	}
	// Weights over the limit: named, with the optimizer and LoRA.
	one1 := base
	one1.BatchSize = 1
	err = newRunner(one1, []int{8, 8}).checkMemory(int64(fixed.weights/2), "as given")
	if err == nil || !strings.Contains(err.Error(), "the largest part is the optimizer state") || !strings.Contains(err.Error(), "--lora-r") {
		t.Errorf("tiny limit: %v", err)
	}
	lora := base
	lora.LoRA.R = 4
	if l := estimateMemory(cfg, &lora, nil); l.optimizer >= fixed.optimizer/2 {
		t.Errorf("LoRA optimizer state %g, full %g", l.optimizer, fixed.optimizer)
	}
}
