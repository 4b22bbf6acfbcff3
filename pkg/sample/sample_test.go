package sample

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func BenchmarkDraw(b *testing.B) {
	for _, c := range []Config{{Temperature: 0.7, TopP: 1}, {Temperature: 1, TopP: 0.8}} {
		b.Run("", func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			logits := make([]float32, 320)
			for i := range logits {
				logits[i] = float32(rng.NormFloat64())
			}
			s := New(c)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.Draw(logits, RNG(uint64(i), "x", 0))
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{DefaultConfig(), true},
		{Config{Temperature: 0, TopP: 1}, true},
		{Config{Temperature: 0.7, TopK: 50, TopP: 0.95, MinP: 0.05}, true},
		{Config{Temperature: -1, TopP: 1}, false},
		{Config{Temperature: 1, TopK: -1, TopP: 1}, false},
		{Config{Temperature: 1, TopP: 0}, false},
		{Config{Temperature: 1, TopP: 1.5}, false},
		{Config{Temperature: 1, TopP: 1, MinP: 2}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: Validate() = %v, want ok %v", c.cfg, err, c.ok)
		}
	}
}

// TestDrawReproducible: a completion's stream depends on (seed, id, j)
// only; greedy ignores it and takes the first maximum.
func TestDrawReproducible(t *testing.T) {
	logits := []float32{0.1, 2, 1.5, 2, -1, 0.7}
	s := New(DefaultConfig())
	draw := func(seed uint64, id string, j int) []int32 {
		rng := RNG(seed, id, j)
		var out []int32
		for range 20 {
			out = append(out, s.Draw(logits, rng))
		}
		return out
	}
	a, b := draw(1, "p", 0), draw(1, "p", 0)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, id and index: %v then %v", a, b)
	}
	for _, o := range [][]int32{draw(2, "p", 0), draw(1, "q", 0), draw(1, "p", 1)} {
		if slices.Equal(a, o) {
			t.Errorf("different streams drew the same 20 tokens %v", a)
		}
	}
	if g := New(Config{TopP: 1}).Draw(logits, nil); g != 1 {
		t.Errorf("greedy drew %d, want 1 (the first maximum)", g)
	}
	p := New(Config{Temperature: 1, TopK: 2, TopP: 1}).Probs(logits)
	if p[1] == 0 || p[3] == 0 || p[2] != 0 {
		t.Errorf("top-2 with a tie at the top keeps the tied pair only: %v", p)
	}
}
