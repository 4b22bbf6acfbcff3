package cli

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/engine"
)

// Completions streams (dpo-sample's output, dpo.kind=completions) hold one
// completion per row; dpo-reflogp adds ref_logp and dpo-score --rank adds
// policy_logp, reward and rank. The helpers here are the per-row
// counterparts of pairSequences and scoreBatch.

// checkCompletionsInput checks that a completions stream has the columns a
// model needs and not yet the column the stage adds.
func checkCompletionsInput(r *arrowio.Reader, adds string) error {
	if err := r.RequireCompletions(); err != nil {
		return err
	}
	if len(r.Schema().FieldIndices(adds)) > 0 {
		return fmt.Errorf("%s already has a %s column", r.Name(), adds)
	}
	return nil
}

// completionSequences turns a batch of completions into one engine sequence
// per row: prompt_input_ids + completion_input_ids, scored over the
// completion (as pairSequences scores chosen and rejected).
func completionSequences(c arrowio.Completions, vocab int, budget *memBudget, input string, batch int) ([]engine.Sequence, error) {
	seqs := make([]engine.Sequence, 0, c.Rows)
	for i := 0; i < c.Rows; i++ {
		prompt, comp := c.Prompt.Row(i), c.Completion.Row(i)
		where := func() string {
			return fmt.Sprintf("%s: batch %d, row %d (id %q, sample %d)", input, batch, i, c.ID.Value(i), c.SampleIndex[i])
		}
		if err := budget.check(len(prompt) + len(comp)); err != nil {
			return nil, fmt.Errorf("%s: prompt + completion: %w", where(), err)
		}
		if len(comp) == 0 {
			return nil, fmt.Errorf("%s: %s is empty", where(), arrowio.ColCompletionInputIDs)
		}
		toks := make([]int32, 0, len(prompt)+len(comp))
		toks = append(append(toks, prompt...), comp...)
		for j, t := range toks {
			if t < 0 || int(t) >= vocab {
				field := arrowio.ColPromptInputIDs
				if j >= len(prompt) {
					field, j = arrowio.ColCompletionInputIDs, j-len(prompt)
				}
				return nil, fmt.Errorf("%s: %s[%d] = %d is outside the model's vocabulary of %d", where(), field, j, t, vocab)
			}
		}
		seqs = append(seqs, engine.Sequence{Tokens: toks, PromptLen: max(1, len(prompt))})
	}
	return seqs, nil
}

// scoreCompletions returns the summed completion log-prob of every row of a
// completions batch, checked with the log-prob rule, and the tokens scored.
func scoreCompletions(ctx context.Context, m *engine.Model, budget *memBudget, rec arrow.RecordBatch, input string, batch int) ([]float64, int64, error) {
	c, err := arrowio.ReadCompletions(rec)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: batch %d: %w", input, batch, err)
	}
	seqs, err := completionSequences(c, m.Config().VocabSize, budget, input, batch)
	if err != nil {
		return nil, 0, err
	}
	lp, err := m.SequenceLogProbs(ctx, seqs, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: batch %d: %w", input, batch, err)
	}
	var tokens int64
	for _, s := range seqs {
		tokens += int64(len(s.Tokens))
	}
	if err := arrowio.CheckLogProbs(rec, "the model's log-probability of "+arrowio.ColCompletionInputIDs, lp); err != nil {
		return nil, 0, fmt.Errorf("%s: batch %d, %w (are the model's weights finite?)", input, batch, err)
	}
	return lp, tokens, nil
}
