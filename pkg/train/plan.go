package train

import (
	"math"
	"math/rand/v2"

	"github.com/dpo-go/dpo/pkg/engine"
)

// micro is one micro-batch: dataset rows and the padded length of its
// chosen+rejected forward.
type micro struct {
	rows   []int
	length int
}

// stepPlan is one optimizer step.
type stepPlan struct {
	epoch  int
	start  int // index into the epoch's permutation of the first row
	end    int // index after the last row
	micros []micro
	// done counts the epoch's micro-batches up to and including this
	// step's, of perEpoch in the whole epoch (before any truncation).
	done, perEpoch int
}

// epochFloat is the epoch transformers' Trainer logs after this step:
// epoch + (micro-batches done in it) / (micro-batches in it), its
// `epoch + (step + 1) / steps_in_epoch` where steps_in_epoch is the
// dataloader's length (e.g. 0.25 after one micro-batch of 8 of 30 pairs,
// not 8/30).
func (sp stepPlan) epochFloat() float64 {
	return float64(sp.epoch) + float64(sp.done)/float64(sp.perEpoch)
}

// permutation returns epoch's visiting order of n rows: a Fisher-Yates
// shuffle driven by PCG(seed, epoch) outputs, written out here so that the
// order never depends on the Go release.
func permutation(n int, seed int64, epoch int) []int {
	src := rand.NewPCG(uint64(seed), uint64(epoch))
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(src.Uint64() % uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// seqLen is the longer of a pair's two sequences.
func seqLen(p pair) int {
	return len(p.prompt) + max(len(p.chosen), len(p.rejected))
}

// planSteps cuts every epoch's permutation into micro-batches of at most
// BatchSize pairs (and, with BatchTokens, at most that many padded tokens
// in the 2×rows×length forward; a single pair always fits) and groups
// GradAccum of them into a step. An epoch's last step may be short. The
// plan is truncated to MaxSteps, and a fractional Epochs to
// ceil(Epochs × the first epoch's steps), as transformers counts max_steps.
func planSteps(d *dataset, c *Config) []stepPlan {
	n := d.len()
	lens := make([]int, n)
	for i := range lens {
		lens[i] = seqLen(d.pair(i))
	}
	var steps []stepPlan
	epochs := int(math.Ceil(c.Epochs))
	perEpoch := 0
	for e := 0; e < epochs; e++ {
		if e == 1 {
			perEpoch = len(steps)
		}
		perm := permutation(n, c.Seed, e)
		var cur *stepPlan
		first, done := len(steps), 0
		for i := 0; i < n; {
			m := micro{}
			start := i
			for i < n && len(m.rows) < c.BatchSize*c.devices() {
				l := engine.BucketLen(max(m.length, lens[perm[i]]))
				if len(m.rows) > 0 && c.BatchTokens > 0 && 2*(len(m.rows)+1)*l > c.BatchTokens*c.devices() {
					break
				}
				m.rows = append(m.rows, perm[i])
				m.length = l
				i++
			}
			if cur == nil {
				steps = append(steps, stepPlan{epoch: e, start: start})
				cur = &steps[len(steps)-1]
			}
			cur.micros = append(cur.micros, m)
			cur.end = i
			done++
			cur.done = done
			if len(cur.micros) == c.GradAccum {
				cur = nil
			}
		}
		for k := first; k < len(steps); k++ {
			steps[k].perEpoch = done
		}
	}
	if epochs == 1 {
		perEpoch = len(steps)
	}
	if frac := int(math.Ceil(c.Epochs * float64(perEpoch))); float64(epochs) != c.Epochs && len(steps) > frac {
		steps = steps[:frac]
	}
	if c.MaxSteps > 0 && len(steps) > c.MaxSteps {
		steps = steps[:c.MaxSteps]
	}
	return steps
}
