package train_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/dpo-go/dpo/pkg/train"
)

// benchPairs: 16 pairs, prompt 12, chosen 6, rejected 6 tokens (as
// bench/train/torch_step.py builds them).
func benchPairs() []synthPair {
	var ps []synthPair
	x := uint32(12345)
	next := func() int32 { x = x*1664525 + 1013904223; return int32(x>>8) % 256 }
	for i := 0; i < 16; i++ {
		p := synthPair{id: "b"}
		for j := 0; j < 12; j++ {
			p.prompt = append(p.prompt, next())
		}
		for j := 0; j < 6; j++ {
			p.chosen = append(p.chosen, next())
			p.rejected = append(p.rejected, next())
		}
		ps = append(ps, p)
	}
	return ps
}

// BenchmarkTrainStep times one sigmoid-DPO optimizer step (forward of 16
// chosen + 16 rejected sequences, backward, clipping, AdamW) of the sort
// example's model (Llama, hidden 64, 2 layers, 4 heads, 2 KV heads,
// intermediate 172, vocab 259) on the pure-Go backend, in float32, with
// --bf16 and with --gradient-checkpointing.
func BenchmarkTrainStep(b *testing.B) {
	for _, v := range []struct {
		name       string
		bf16, ckpt bool
	}{{"f32", false, false}, {"bf16", true, false}, {"checkpointing", false, true}} {
		b.Run(v.name, func(b *testing.B) { benchTrainStep(b, v.bf16, v.ckpt) })
	}
}

func benchTrainStep(b *testing.B, bf16, ckpt bool) {
	dir := b.TempDir()
	cfg, err := model.LoadConfig(filepath.Join("..", "..", "examples", "sort", "model", "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	base := filepath.Join(dir, "base")
	if err := model.Save(base, model.RandomInit(cfg, 1), safetensors.F32); err != nil {
		b.Fatal(err)
	}
	ps := benchPairs()
	in := filepath.Join(dir, "ref.arrow")
	refs := make([][2]float64, len(ps))
	for i := range refs {
		refs[i] = [2]float64{-33, -34}
	}
	writeStream(b, in, ps, refs, "")
	c := testConfig(base, in, filepath.Join(dir, "out"))
	c.BatchSize, c.LR = 16, 1e-4
	c.BF16, c.GradCheckpointing = bf16, ckpt
	step, tokens, steps, closeFn, err := train.Stepper(c)
	if err != nil {
		b.Fatal(err)
	}
	defer closeFn()
	if err := step(); err != nil { // compile
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tokens/steps)*float64(b.N)/time.Since(start).Seconds(), "tok/s")
}
