package sample

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/tokenize"
	"github.com/dpo-go/dpo/pkg/tokenizer"
)

// Request is what Complete generates.
type Request struct {
	N            int    // completions per prompt
	MaxNewTokens int    // most tokens per completion
	Sampling     Config // the decoding rule
	Seed         uint64 // with the prompt id and sample index: one stream per completion (RNG)
	Stop         []string
	EOS          []int32 // end-of-sequence ids (model.GenerationEOS)
}

// completion is one completion being generated.
type completion struct {
	prompt int
	index  int
	ids    []int32
	logp   float64
	finish string
}

// Complete runs m over every (prompt, sample index) of req and returns the
// completions in that order (the N samples of the first prompt, then of
// the second, ...) and the number of tokens generated. tok decodes the
// completions' text (and the stop strings' matches). progress, if not nil,
// is called with the rows done and the total as generation goes.
func Complete(ctx context.Context, m *engine.Model, tok *tokenizer.Tokenizer, prompts []tokenize.Prompt, req Request, progress func(done, total int)) ([]arrowio.Completion, int, error) {
	rows := make([]completion, 0, len(prompts)*req.N)
	ids := make([][]int32, 0, len(prompts)*req.N)
	for i, p := range prompts {
		for j := range req.N {
			rows = append(rows, completion{prompt: i, index: j, finish: arrowio.FinishLength})
			ids = append(ids, p.IDs)
		}
	}
	rngs := make(map[int]*rand.Rand) // streams of the rows being generated
	s := New(req.Sampling)
	total := 0
	// A non-finite log-prob (NaN weights or adapter, an overflow) is an
	// error naming the row, never data: generation stops at the first.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var badErr error
	next := func(row int, logits []float32) (int32, bool) {
		r := &rows[row]
		if badErr != nil {
			return 0, true
		}
		rng, ok := rngs[row]
		if !ok {
			rng = RNG(req.Seed, prompts[r.prompt].ID, r.index)
			rngs[row] = rng
		}
		t := s.Draw(logits, rng)
		lp := LogProb(logits, t)
		if err := arrowio.CheckLogProb(lp); err != nil {
			badErr = fmt.Errorf("prompt %d (id %q), sample %d: completion token %d: logp = %w (are the model's weights finite?)", r.prompt, prompts[r.prompt].ID, r.index, len(r.ids), err)
			delete(rngs, row)
			cancel()
			return 0, true
		}
		r.ids = append(r.ids, t)
		r.logp += lp
		total++
		if slices.Contains(req.EOS, t) {
			r.finish = arrowio.FinishEOS
			delete(rngs, row)
			return t, true
		}
		if len(req.Stop) > 0 {
			text := tok.DecodeText(r.ids)
			for _, stop := range req.Stop {
				if strings.Contains(text, stop) {
					r.finish = arrowio.FinishStop
					delete(rngs, row)
					return t, true
				}
			}
		}
		if len(r.ids) >= req.MaxNewTokens {
			delete(rngs, row)
		}
		return t, false
	}
	if progress == nil {
		progress = func(int, int) {}
	}
	_, err := m.Generate(ctx, ids, req.MaxNewTokens, next, progress)
	if badErr != nil {
		return nil, 0, badErr
	}
	if err != nil {
		return nil, 0, err
	}
	out := make([]arrowio.Completion, len(rows))
	for i, r := range rows {
		p := prompts[r.prompt]
		out[i] = arrowio.Completion{ID: p.ID, SampleIndex: int32(r.index), Prompt: p.Text,
			Completion: tok.DecodeText(r.ids), PromptIDs: p.IDs, CompletionIDs: r.ids, Logp: r.logp, FinishReason: r.finish}
	}
	return out, total, nil
}
