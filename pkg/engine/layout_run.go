package engine

import (
	"context"
	"fmt"
)

// seqGroups gathers sequences into groups: with shared prompts, the
// sequences whose prompts are the same tokens form one group (in order of
// first appearance), else one group per sequence.
func seqGroups(seqs []Sequence, shared bool) []Group {
	var groups []Group
	byPrompt := map[string]int{}
	for i, s := range seqs {
		prompt, comp := s.Tokens[:s.PromptLen], s.Tokens[s.PromptLen:]
		if shared {
			k := string(int32Bytes(prompt))
			if g, ok := byPrompt[k]; ok {
				groups[g].Completions = append(groups[g].Completions, comp)
				groups[g].Out = append(groups[g].Out, i)
				continue
			}
			byPrompt[k] = len(groups)
		}
		groups = append(groups, Group{Prompt: prompt, Completions: [][]int32{comp}, Out: []int{i}})
	}
	return groups
}

// runLayouts is run over layouts (layout.go): completion-only head, and
// shared prompts and packing unless switched off.
func (m *Model) runLayouts(ctx context.Context, seqs []Sequence, progress func(done, total int), emit func(i int, lp []float32)) error {
	o := m.eng.opts.Layout.layoutOptions()
	groups := seqGroups(seqs, o.SharedPrompt)
	done := 0
	for _, b := range plan(groups, m.eng.opts.BatchTokens, o) {
		if err := ctx.Err(); err != nil {
			return err
		}
		gs := make([]Group, len(b.groups))
		n := 0
		for j, gi := range b.groups {
			gs[j] = groups[gi]
			n += len(gs[j].Out)
		}
		l := NewLayout(gs, 0, b.T, b.rows, o)
		lp, err := m.runLayout(l)
		if err != nil {
			return fmt.Errorf("%w (first sequence %d)", err, gs[0].Out[0])
		}
		per := map[int][]float32{}
		for _, g := range gs {
			for c, i := range g.Out {
				per[i] = make([]float32, len(g.Completions[c]))
			}
		}
		for k, s := range l.Seq {
			if s >= 0 {
				per[int(s)][l.Index[k]] = lp[k]
			}
		}
		for _, g := range gs {
			for _, i := range g.Out {
				emit(i, per[i])
			}
		}
		done += n
		if progress != nil {
			progress(done, len(seqs))
		}
	}
	return nil
}

// runLayout executes one layout and returns the log-probability of each
// scored position [N].
func (m *Model) runLayout(l *Layout) ([]float32, error) {
	l = m.eng.padRows(l) // rows split over the devices (devices.go)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []float32
	err := catch(func() error {
		var err error
		out, err = m.callFlat(m.engineGraphs().layout, l.Inputs().Flat()...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: layout of %d rows x %d tokens, %d scored positions: %w", l.Rows, l.Len, l.N, err)
	}
	return out, nil
}
