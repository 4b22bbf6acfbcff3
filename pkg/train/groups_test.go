package train_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/train"
)

// TestPlanGroups: groups keep the specs' order, cover each once, stay
// within the bound unless one tensor alone exceeds it.
func TestPlanGroups(t *testing.T) {
	specs := []model.ParamSpec{{Name: "a", Shape: []int{10}}, {Name: "b", Shape: []int{20}}, {Name: "c", Shape: []int{5}},
		{Name: "d", Shape: []int{100}}, {Name: "e", Shape: []int{1}}}
	for _, c := range []struct {
		max  int64
		want [][]int
	}{
		{1 << 30, [][]int{{0, 1, 2, 3, 4}}},
		{120, [][]int{{0, 1}, {2}, {3}, {4}}}, // 40+80 bytes fit; d (400 bytes) alone
		{140, [][]int{{0, 1, 2}, {3}, {4}}},
		{1, [][]int{{0}, {1}, {2}, {3}, {4}}},
	} {
		if got := train.PlanGroups(specs, c.max); !reflect.DeepEqual(got, c.want) {
			t.Errorf("max %d bytes: groups %v, want %v", c.max, got, c.want)
		}
	}
}

// TestUpdateGroupsBitIdentical: the optimizer step split into one group
// per tensor gives the same weights, moments and metrics, bit for bit, as
// one group, with gradient accumulation (a step's first micro-batch sets
// the accumulators, the second adds) and clipping.
func TestUpdateGroupsBitIdentical(t *testing.T) {
	dir := t.TempDir()
	base := newBase(t, dir, 32, 2, 7)
	ps := synthPairs(8, 3)
	in := filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, engineRefs(t, base, ps), "")
	run := func(name string) (*train.Result, map[string][]byte, []byte) {
		c := testConfig(base, in, filepath.Join(dir, name))
		if onXLA(t) {
			c.Backend = "" // $GOMLX_BACKEND: make test's XLA pass runs it there too
		}
		c.BatchSize, c.GradAccum, c.LR, c.MaxGradNorm, c.WeightDecay = 2, 2, 1e-3, 0.05, 0.01
		res, err := train.Run(context.Background(), c, "test", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.ReadFile(filepath.Join(c.Out, "checkpoint-2", train.StateFile))
		if err != nil {
			t.Fatal(err)
		}
		return res, weightsBytes(t, c.Out), st
	}
	one, w1, s1 := run("one")
	restore := train.SetUpdateGroupBytes(1)
	many, wm, sm := run("many")
	restore()
	if one.Final["grad_norm"] != many.Final["grad_norm"] || one.Final["loss"] != many.Final["loss"] {
		t.Errorf("final metrics differ: one group %v, one per tensor %v", one.Final, many.Final)
	}
	if many.Compiles.Count <= one.Compiles.Count {
		t.Errorf("one group per tensor compiled %d executables, one group %d: the split did not happen", many.Compiles.Count, one.Compiles.Count)
	}
	for name, b := range w1 {
		if !bytes.Equal(b, wm[name]) {
			t.Errorf("weight %s differs between one update group and one per tensor", name)
		}
	}
	if !bytes.Equal(s1, sm) {
		t.Error("the training state (weights and moments) differs between one update group and one per tensor")
	}
}
