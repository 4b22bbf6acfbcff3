package refbench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
)

// Sequences turns each record batch of a pairs stream into the engine
// sequences dpo-reflogp scores: prompt+chosen at even, prompt+rejected at
// odd indices, one slice per record batch (dpo-reflogp plans the batches
// of each record on its own).
func Sequences(r io.Reader, name string, mem memory.Allocator) ([][]engine.Sequence, error) {
	rd, err := arrowio.NewReader(r, name, mem)
	if err != nil {
		return nil, err
	}
	defer rd.Release()
	var out [][]engine.Sequence
	for rd.Next() {
		p, err := rd.Pairs()
		if err != nil {
			return nil, err
		}
		seqs := make([]engine.Sequence, 0, 2*p.Rows)
		for i := range p.Rows {
			pr := p.Prompt.Row(i)
			for _, c := range [][]int32{p.Chosen.Row(i), p.Rejected.Row(i)} {
				t := append(append(make([]int32, 0, len(pr)+len(c)), pr...), c...)
				seqs = append(seqs, engine.Sequence{Tokens: t, PromptLen: len(pr)})
			}
		}
		out = append(out, seqs)
	}
	return out, rd.Err()
}

// Profile times the engine forward of dpo-reflogp on a pairs stream, after
// a first pass that compiles the graphs, and optionally writes a CPU
// profile of the timed passes.
func Profile(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("model", "", "checkpoint `DIR`")
	pairs := fs.String("pairs", "", "pairs stream `FILE`")
	backend := fs.String("backend", "", "GoMLX backend (default: the engine's)")
	batchTokens := fs.Int("batch-tokens", 4096, "padded tokens per forward batch (dpo-reflogp's default)")
	vocabChunk := fs.Int("vocab-chunk", 0, "vocabulary chunk (0: engine default)")
	repeat := fs.Int("repeat", 1, "timed passes over the input")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the timed passes to `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *pairs == "" || fs.NArg() != 0 || *repeat < 1 {
		return errors.New("profile: --model DIR and --pairs FILE are required, --repeat >= 1")
	}
	f, err := os.Open(*pairs)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	recs, err := Sequences(f, *pairs, memory.DefaultAllocator)
	f.Close()
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	ck, err := model.Load(*dir)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	eng, err := engine.New(engine.Options{Backend: *backend, BatchTokens: *batchTokens, VocabChunk: *vocabChunk})
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer eng.Close()
	m, err := eng.LoadModel(ck)
	if err != nil {
		return fmt.Errorf("profile: loading %s: %w", *dir, err)
	}
	defer m.Close()
	tokens := 0
	pass := func() error {
		for _, seqs := range recs {
			if _, err := m.SequenceLogProbs(ctx, seqs, nil); err != nil {
				return err
			}
		}
		return nil
	}
	for _, seqs := range recs {
		for _, s := range seqs {
			tokens += len(s.Tokens)
		}
	}
	t0 := time.Now()
	if err := pass(); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	first := time.Since(t0).Seconds()
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	t0 = time.Now()
	for range *repeat {
		if err := pass(); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	el := time.Since(t0).Seconds() / float64(*repeat)
	cs := m.CompileStats()
	fmt.Fprintf(stdout, "{\"backend\": %q, \"tokens\": %d, \"graphs\": %d, \"compile_seconds\": %.3f, \"first_pass_seconds\": %.3f, \"pass_seconds\": %.3f, \"tokens_per_second\": %.1f}\n",
		eng.BackendName(), tokens, cs.Count, cs.Seconds, first, el, float64(tokens)/el)
	return nil
}
