package sample

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
)

// Config selects the decoding rule. The warpers apply in the order
// transformers' generate applies them (GenerationMixin._get_logits_processor
// in transformers 5.24): temperature, then top-k, then top-p, then min-p
// (min-p after temperature, as transformers notes), then a draw from the
// softmax of what is left.
type Config struct {
	// Temperature divides the logits; 0 means greedy decoding (the argmax,
	// the first index on ties, as torch.argmax), which ignores the others.
	Temperature float64 `json:"temperature"`
	// TopK keeps the tokens whose warped logit is at least the k-th
	// largest (ties at the k-th value are kept, as TopKLogitsWarper); 0
	// means off.
	TopK int `json:"top_k"`
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches TopP (TopPLogitsWarper: in ascending order, tokens whose
	// cumulative probability is <= 1 - TopP are removed; the most likely
	// token is always kept); 1 means off.
	TopP float64 `json:"top_p"`
	// MinP removes tokens whose probability is below MinP times the most
	// likely token's (MinPLogitsWarper); 0 means off.
	MinP float64 `json:"min_p"`
}

// DefaultConfig is plain sampling at temperature 1 (no filtering).
func DefaultConfig() Config { return Config{Temperature: 1, TopP: 1} }

// Greedy reports whether c decodes greedily.
func (c Config) Greedy() bool { return c.Temperature == 0 }

// Validate checks the ranges.
func (c Config) Validate() error {
	switch {
	case math.IsNaN(c.Temperature) || c.Temperature < 0 || math.IsInf(c.Temperature, 0):
		return fmt.Errorf("sample: temperature %g: want >= 0 (0 = greedy)", c.Temperature)
	case c.TopK < 0:
		return fmt.Errorf("sample: top-k %d: want >= 0 (0 = off)", c.TopK)
	case math.IsNaN(c.TopP) || c.TopP <= 0 || c.TopP > 1:
		return fmt.Errorf("sample: top-p %g: want in (0, 1] (1 = off)", c.TopP)
	case math.IsNaN(c.MinP) || c.MinP < 0 || c.MinP > 1:
		return fmt.Errorf("sample: min-p %g: want in [0, 1] (0 = off)", c.MinP)
	}
	return nil
}

// Sampler applies a Config. It keeps scratch buffers: one per goroutine.
type Sampler struct {
	cfg    Config
	scores []float64
	probs  []float64
	order  []int
}

// New returns a sampler for cfg (which should be valid).
func New(cfg Config) *Sampler { return &Sampler{cfg: cfg} }

// Probs returns the distribution a draw uses for logits (a slice reused by
// the next call): one-hot at the argmax when greedy, else the softmax of
// the warped logits (removed tokens have probability 0).
func (s *Sampler) Probs(logits []float32) []float64 {
	V := len(logits)
	s.scores = grow(s.scores, V)
	s.probs = grow(s.probs, V)
	if s.cfg.Greedy() {
		clear(s.probs)
		s.probs[Argmax(logits)] = 1
		return s.probs
	}
	inf := math.Inf(-1)
	for i, v := range logits {
		s.scores[i] = float64(v) / s.cfg.Temperature
	}
	if k := s.cfg.TopK; k > 0 && k < V {
		s.sortAscending()
		kth := s.scores[s.order[len(s.order)-k]]
		for i, v := range s.scores {
			if v < kth {
				s.scores[i] = inf
			}
		}
	}
	if p := s.cfg.TopP; p < 1 {
		s.sortAscending()
		softmax(s.scores, s.probs)
		var cum float64
		for j, i := range s.order {
			cum += s.probs[i]
			if cum <= 1-p && j < len(s.order)-1 {
				s.scores[i] = inf
			}
		}
	}
	if mp := s.cfg.MinP; mp > 0 {
		softmax(s.scores, s.probs)
		top := 0.0
		for _, q := range s.probs {
			top = math.Max(top, q)
		}
		best := argmax64(s.probs)
		for i, q := range s.probs {
			if q < mp*top && i != best {
				s.scores[i] = inf
			}
		}
	}
	softmax(s.scores, s.probs)
	return s.probs
}

// Draw returns the next token for logits, drawing from rng unless greedy.
func (s *Sampler) Draw(logits []float32, rng *rand.Rand) int32 {
	if s.cfg.Greedy() {
		return int32(Argmax(logits))
	}
	return DrawFrom(s.Probs(logits), rng)
}

// DrawFrom draws an index from the distribution p (inverse CDF of one
// uniform draw, in index order).
func DrawFrom(p []float64, rng *rand.Rand) int32 {
	u := rng.Float64()
	var cum float64
	last := 0
	for i, q := range p {
		if q == 0 {
			continue
		}
		last = i
		cum += q
		if u < cum {
			return int32(i)
		}
	}
	return int32(last) // rounding: u above the float sum
}

// sortAscending fills s.order with the indices of the finite s.scores in
// ascending order (stable: ties in index order). Removed tokens (-Inf)
// are left out: they have probability 0 and change no cumulative sum.
func (s *Sampler) sortAscending() {
	s.order = s.order[:0]
	for i, v := range s.scores {
		if !math.IsInf(v, -1) {
			s.order = append(s.order, i)
		}
	}
	sc := s.scores
	slices.SortStableFunc(s.order, func(a, b int) int { return cmp.Compare(sc[a], sc[b]) })
}

// Argmax returns the index of the largest logit, the first on ties.
func Argmax(logits []float32) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return best
}

func argmax64(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// LogProb returns log_softmax(logits)[tok] in float64: the untempered
// log-probability of tok under the model.
func LogProb(logits []float32, tok int32) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return float64(logits[tok]) - mx - math.Log(s)
}

// softmax writes softmax(scores) into out (-Inf scores get 0).
func softmax(scores, out []float64) {
	mx := math.Inf(-1)
	for _, v := range scores {
		mx = math.Max(mx, v)
	}
	var sum float64
	for i, v := range scores {
		out[i] = math.Exp(v - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
}

func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// RNG returns the random stream of completion j of the prompt with id
// under seed: a PCG seeded with (seed, FNV-1a 64 of id and j). It depends
// on nothing else, so a completion is the same whatever other prompts are
// sampled with it, and in whatever order.
func RNG(seed uint64, id string, j int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(id))
	var b [9]byte
	b[0] = 0xff // separator: ids are UTF-8, never 0xff
	for i := range 8 {
		b[1+i] = byte(uint64(j) >> (8 * i))
	}
	h.Write(b[:])
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}
