package train_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/dpo-go/dpo/pkg/train"
	"github.com/gomlx/gomlx/core/graph"
)

// TestLoRADropoutStateFormula: the RNG state of micro-batch u of step k is
// the documented formula (loraDropoutState's comment: the first
// RNGStateShape.Size() draws of PCG(seed ^ 0xd50b0a7, k<<20 | u)), so step
// and micro-batch are not interchangeable: (k=1, u=0) and (k=0, u=1) are
// other states, and each is the formula's value for its own (k, u).
func TestLoRADropoutStateFormula(t *testing.T) {
	formula := func(seed int64, k, u int) []uint64 {
		rng := rand.New(rand.NewPCG(uint64(seed)^0xd50b0a7, uint64(k)<<20|uint64(u)))
		st := make([]uint64, graph.RNGStateShape.Size())
		for i := range st {
			st[i] = rng.Uint64()
		}
		return st
	}
	for _, c := range []struct {
		seed int64
		k, u int
	}{{0, 0, 0}, {42, 1, 0}, {42, 0, 1}, {42, 3, 2}, {42, 2, 3}, {-7, 1000, 5}, {42, 5, 1000}} {
		if got, want := train.LoRADropoutState(c.seed, c.k, c.u), formula(c.seed, c.k, c.u); !slices.Equal(got, want) {
			t.Errorf("seed %d step %d micro %d: state %v, formula %v", c.seed, c.k, c.u, got, want)
		}
	}
	if slices.Equal(train.LoRADropoutState(42, 1, 0), train.LoRADropoutState(42, 0, 1)) {
		t.Errorf("(step 1, micro 0) and (step 0, micro 1) have one state")
	}
	if slices.Equal(train.LoRADropoutState(42, 1, 0), train.LoRADropoutState(43, 1, 0)) {
		t.Errorf("seeds 42 and 43 have one state")
	}
}

// adapterCopies writes a tiny Llama base, an all-linear LoRA adapter with
// non-zero B (so the adapter, and dropout on its inputs, change the
// forward) and a stream of eight copies of one pair; it returns their
// paths.
func adapterCopies(t *testing.T) (base, adDir, in string) {
	t.Helper()
	dir := t.TempDir()
	base = newBase(t, dir, 32, 1, 5)
	cfg, err := model.LoadConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	a, err := adapter.New(cfg, adapter.Config{R: 4, Alpha: 16, TargetRegex: adapter.AllLinear}, rng)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range a.Modules {
		for j := range a.Weights[m.Name].B {
			a.Weights[m.Name].B[j] = float32(0.2 * rng.NormFloat64())
		}
	}
	adDir = filepath.Join(dir, "adapter")
	if err := adapter.Save(adDir, a, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	one := synthPairs(1, 6)[0]
	var ps []synthPair
	var refs [][2]float64
	for i := range 8 {
		p := one
		p.id = fmt.Sprint("copy", i)
		ps = append(ps, p)
		refs = append(refs, [2]float64{-20, -21})
	}
	in = filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, refs, "")
	return base, adDir, in
}

// TestLoRADropoutReseeded: a LoRA run with dropout 0.5 (an adapter with
// non-zero B, so the masks change the forward) on eight copies of one pair,
// two micro-batches of two pairs per step: with no optimizer update, the
// per-pair rewards of a micro-batch are a function of its masks only. They
// differ between the micro-batches of a step and between steps (the masks
// are reseeded before every micro-batch), are the same in a second run
// (reproducible from the seed), and are all equal with dropout 0 (so it is
// the masks that differ). After each step the dropout state is the
// formula's for (seed, step, last micro-batch).
func TestLoRADropoutReseeded(t *testing.T) {
	base, adDir, in := adapterCopies(t)
	dir := t.TempDir()
	const seed, steps = 11, 3
	run := func(p float64) []train.AccumulatedStep {
		t.Helper()
		c := testConfig(base, in, filepath.Join(dir, fmt.Sprint("out", p)))
		c.LoRA.Adapter, c.LoRA.Dropout = adDir, p
		c.BatchSize, c.GradAccum, c.Epochs, c.Seed = 2, 2, 2, seed
		got, err := train.AccumulateSteps(c, steps)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// micro returns micro-batch u of a step's rewards.
	micro := func(s train.AccumulatedStep, u int) []float64 {
		off := 0
		for _, n := range s.MicroPairs[:u] {
			off += n
		}
		return s.ChosenRewards[off : off+s.MicroPairs[u]]
	}
	first, again, none := run(0.5), run(0.5), run(0)
	type key struct{ k, u int }
	seen := map[string]key{}
	for k, s := range first {
		if s.Micros != 2 || !slices.Equal(s.MicroPairs, []int{2, 2}) {
			t.Fatalf("step %d: micro-batches of %v pairs, want [2 2]", k, s.MicroPairs)
		}
		if want := train.LoRADropoutState(seed, k, s.Micros-1); !slices.Equal(s.DropoutState, want) {
			t.Errorf("step %d: the dropout state after the step is not the formula's for (seed %d, step %d, micro-batch %d)", k, seed, k, s.Micros-1)
		}
		if !slices.Equal(s.ChosenRewards, again[k].ChosenRewards) {
			t.Errorf("step %d: rewards %v, then %v in a second run", k, s.ChosenRewards, again[k].ChosenRewards)
		}
		for u := range s.Micros {
			r := fmt.Sprint(micro(s, u))
			if prev, ok := seen[r]; ok {
				t.Errorf("step %d micro-batch %d drew the masks of step %d micro-batch %d (rewards %s)", k, u, prev.k, prev.u, r)
			}
			seen[r] = key{k, u}
			if w := fmt.Sprint(micro(none[k], u)); w != fmt.Sprint(micro(none[0], 0)) {
				t.Fatalf("without dropout, step %d micro-batch %d has rewards %s, step 0 micro-batch 0 %s: the micro-batches are not copies", k, u, w, fmt.Sprint(micro(none[0], 0)))
			}
		}
	}
}
