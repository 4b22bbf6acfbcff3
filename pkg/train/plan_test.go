package train

import (
	"math"
	"testing"
)

// TestLearningRate checks the schedules against values derived by hand
// from transformers' get_{constant,linear,cosine}_schedule_with_warmup
// lambdas (lr_lambda(current_step), num_cycles 0.5).
func TestLearningRate(t *testing.T) {
	for _, tt := range []struct {
		sched            string
		k, warmup, total int
		want             float64
	}{
		{SchedConstant, 0, 0, 10, 1},
		{SchedConstant, 0, 4, 10, 0},
		{SchedConstant, 1, 4, 10, 0.25},
		{SchedConstant, 4, 4, 10, 1},
		{SchedLinear, 0, 0, 10, 1},
		{SchedLinear, 5, 0, 10, 0.5},
		{SchedLinear, 9, 0, 10, 0.1},
		{SchedLinear, 2, 4, 10, 0.5},
		{SchedLinear, 4, 4, 10, 1},
		{SchedLinear, 7, 4, 10, 0.5},
		{SchedCosine, 0, 0, 10, 1},
		{SchedCosine, 5, 0, 10, 0.5},
		{SchedCosine, 6, 2, 10, 0.5},
		{SchedCosine, 4, 2, 10, 0.5 * (1 + math.Cos(math.Pi*0.25))},
		{SchedCosine, 10, 2, 10, 0},
	} {
		if got := learningRate(tt.sched, 1, tt.k, tt.warmup, tt.total); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s step %d warmup %d total %d: %g, want %g", tt.sched, tt.k, tt.warmup, tt.total, got, tt.want)
		}
	}
	c := Config{WarmupRatio: 0.1}
	if w := c.warmupSteps(75); w != 8 { // ceil(7.5)
		t.Errorf("warmup ratio 0.1 of 75 steps: %d, want 8", w)
	}
}

func testDataset(lens []int) *dataset {
	d := &dataset{name: "test"}
	return d.withLens(lens)
}

// TestPlanSteps: every epoch visits every row once in a seed-dependent
// order, micro-batches respect BatchSize and BatchTokens, and steps group
// GradAccum micro-batches (an epoch's last step may be short).
func TestPlanSteps(t *testing.T) {
	lens := []int{3, 10, 20, 40, 5, 7, 30, 12, 9, 17, 25}
	for _, tt := range []struct {
		bs, tokens, accum, epochs int
	}{{4, 0, 1, 1}, {3, 0, 2, 2}, {4, 96, 1, 2}, {1, 0, 3, 1}, {16, 200, 1, 1}} {
		c := &Config{BatchSize: tt.bs, BatchTokens: tt.tokens, GradAccum: tt.accum, Epochs: float64(tt.epochs), Seed: 7}
		d := testDataset(lens)
		steps := planSteps(d, c)
		seen := make([]int, len(lens))
		for si, sp := range steps {
			if len(sp.micros) > tt.accum || len(sp.micros) == 0 {
				t.Errorf("%+v: step %d has %d micro-batches", tt, si, len(sp.micros))
			}
			if si+1 < len(steps) && steps[si+1].epoch == sp.epoch && len(sp.micros) != tt.accum {
				t.Errorf("%+v: short step %d inside an epoch", tt, si)
			}
			for _, m := range sp.micros {
				if len(m.rows) > tt.bs {
					t.Errorf("%+v: micro-batch of %d rows", tt, len(m.rows))
				}
				if tt.tokens > 0 && len(m.rows) > 1 && 2*len(m.rows)*m.length > tt.tokens {
					t.Errorf("%+v: micro-batch of %d x %d exceeds %d tokens", tt, len(m.rows), m.length, tt.tokens)
				}
				for _, r := range m.rows {
					seen[r]++
					if seqLen(d.pair(r)) > m.length {
						t.Errorf("row %d longer than its micro-batch's length %d", r, m.length)
					}
				}
			}
		}
		for r, n := range seen {
			if n != tt.epochs {
				t.Errorf("%+v: row %d seen %d times in %d epochs", tt, r, n, tt.epochs)
			}
		}
	}
	a, b, c := permutation(50, 1, 0), permutation(50, 1, 1), permutation(50, 2, 0)
	if equalInts(a, b) || equalInts(a, c) {
		t.Errorf("permutations do not depend on the epoch and seed")
	}
	if !equalInts(a, permutation(50, 1, 0)) {
		t.Errorf("permutation is not deterministic")
	}
}

func equalInts(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestPlanFractionalEpochs: num_train_epochs 1.5 runs ceil(1.5 × steps per
// epoch) steps, as transformers sets max_steps; max_steps still caps it.
func TestPlanFractionalEpochs(t *testing.T) {
	lens := []int{3, 10, 20, 40, 5, 7, 30, 12, 9, 17, 25} // 11 rows
	for _, tt := range []struct {
		bs, accum, maxSteps int
		epochs              float64
		want                int
	}{
		{4, 1, 0, 1.5, 5},  // 3 steps per epoch: ceil(4.5)
		{4, 1, 0, 0.5, 2},  // ceil(1.5)
		{2, 2, 0, 2.25, 7}, // 6 micro-batches, 3 steps per epoch: ceil(6.75)
		{4, 1, 0, 2, 6},
		{4, 1, 4, 1.5, 4},
		{1, 1, 0, 0.01, 1},
	} {
		c := &Config{BatchSize: tt.bs, GradAccum: tt.accum, Epochs: tt.epochs, MaxSteps: tt.maxSteps, Seed: 7}
		if got := len(planSteps(testDataset(lens), c)); got != tt.want {
			t.Errorf("%+v: %d steps, want %d", tt, got, tt.want)
		}
	}
}

// TestPlanEpochFloat checks the logged epoch against transformers'
// Trainer, which sets state.epoch = epoch + (step + 1) / steps_in_epoch
// after each optimizer step, step counting micro-batches (dataloader
// batches) from 0 within the epoch and steps_in_epoch being the
// dataloader's length ceil(rows / per_device_train_batch_size): worked
// by hand from that formula.
func TestPlanEpochFloat(t *testing.T) {
	for _, tt := range []struct {
		name             string
		rows, batch, acc int
		epochs           float64
		want             []float64
	}{
		// 30 pairs, batches of 8: 4 batches (8, 8, 8, 6). After the first,
		// 1/4, where rows done / rows would say 8/30 = 0.267.
		{"30/8", 30, 8, 1, 1, []float64{0.25, 0.5, 0.75, 1}},
		// With accumulation 2, a step is 2 batches: (1+1)/4, then the
		// last step ends the epoch.
		{"30/8x2", 30, 8, 2, 2, []float64{0.5, 1, 1.5, 2}},
		// 10 pairs, batches of 4 (4, 4, 2), accumulation 2: steps of 2
		// and 1 batches: 2/3, then 3/3; the second epoch likewise.
		{"10/4x2", 10, 4, 2, 2, []float64{2.0 / 3, 1, 1 + 2.0/3, 2}},
		// 7 pairs one at a time, 3 accumulated: 3/7, 6/7, 7/7.
		{"7/1x3", 7, 1, 3, 1, []float64{3.0 / 7, 6.0 / 7, 1}},
	} {
		c := Config{BatchSize: tt.batch, GradAccum: tt.acc, Epochs: tt.epochs, Seed: 7}
		lens := make([]int, tt.rows)
		for i := range lens {
			lens[i] = 5
		}
		steps := planSteps(testDataset(lens), &c)
		var got []float64
		for _, sp := range steps {
			got = append(got, sp.epochFloat())
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: epochs %v, want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-12 {
				t.Errorf("%s: epochs %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
}
