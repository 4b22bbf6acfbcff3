package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// maxPackedRow bounds the rows that packing fills (tokens): attention
// costs grow with the square of a row's length.
const maxPackedRow = 1024

// layoutBatch is one forward of [Model.runLayouts]: groups (indices into
// the groups of the call) and the shape they are laid out in.
type layoutBatch struct {
	groups  []int
	T, rows int // row length; at least this many rows
}

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

// planLayouts cuts groups into forward batches of about batchTokens
// tokens. Without packing it is planBatches over the groups' lengths (one
// shape per bucket). With packing, groups longer than the packed row length
// run as in planBatches; the others are packed first-fit decreasing into
// rows of one length (packedLen, at most maxPackedRow and batchTokens),
// batchTokens/length rows a batch.
func planLayouts(groups []Group, batchTokens int, o LayoutOptions) []layoutBatch {
	lens := make([]int, len(groups))
	for i, g := range groups {
		if o.SharedPrompt {
			lens[i] = g.len()
		} else { // the longest of its sequences
			for _, c := range g.Completions {
				lens[i] = max(lens[i], len(g.Prompt)+len(c))
			}
		}
	}
	var out []layoutBatch
	fromPlan := func(idx []int) {
		sub := make([]int, len(idx))
		for j, i := range idx {
			sub[j] = lens[i]
		}
		for _, b := range planBatches(sub, batchTokens) {
			lb := layoutBatch{T: b.length, rows: b.size}
			for _, j := range b.rows {
				lb.groups = append(lb.groups, idx[j])
			}
			out = append(out, lb)
		}
	}
	if !o.Pack {
		all := make([]int, len(groups))
		for i := range all {
			all[i] = i
		}
		fromPlan(all)
		return out
	}
	rowCap := bucketLen(min(maxPackedRow, batchTokens))
	if rowCap > min(maxPackedRow, batchTokens) {
		rowCap = bucketLen(rowCap/2 + 1)
	}
	var long, short []int
	var shortLens []int
	for i, l := range lens {
		if l > rowCap {
			long = append(long, i)
		} else {
			short = append(short, i)
			shortLens = append(shortLens, l)
		}
	}
	if len(short) > 0 {
		T := packedLen(shortLens, rowCap)
		rows := packRows(shortLens, T, true)
		perBatch := max(1, batchTokens/T)
		for s := 0; s < len(rows); s += perBatch {
			lb := layoutBatch{T: T}
			for _, r := range rows[s:min(s+perBatch, len(rows))] {
				for _, j := range r {
					lb.groups = append(lb.groups, short[j])
				}
			}
			sort.Ints(lb.groups)
			out = append(out, lb)
		}
	}
	fromPlan(long)
	return out
}

// runLayouts is run over layouts (layout.go): completion-only head, and
// shared prompts and packing unless switched off.
func (m *Model) runLayouts(ctx context.Context, seqs []Sequence, progress func(done, total int), emit func(i int, lp []float32)) error {
	o := m.eng.opts.Layout.layoutOptions()
	groups := seqGroups(seqs, o.SharedPrompt)
	done := 0
	for _, b := range planLayouts(groups, m.eng.opts.BatchTokens, o) {
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
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.eng.backend == nil {
		return nil, fmt.Errorf("engine: the engine was closed")
	}
	if m.store == nil {
		return nil, fmt.Errorf("engine: the model was closed")
	}
	var out []float32
	err := catch(func() error {
		if m.layoutExec == nil {
			cfg, gopts := m.cfg, m.eng.graphOptions()
			gopts.LoRA = m.lora
			exec, err := gmodel.NewExec(m.eng.backend, m.store,
				func(scope *gmodel.Scope, in []*graph.Node) *graph.Node {
					n := net{w: storeWeights(scope.Store(), in[0].Graph()), opts: gopts}
					return layoutLogProbs(n, &cfg, LayoutInputs{Tokens: in[0], Positions: in[1], Doc: in[2], Branch: in[3], Pred: in[4], Target: in[5]})
				})
			if err != nil {
				return err
			}
			exec.SetMaxCache(256)
			m.layoutExec = exec
		}
		args := make([]any, 6)
		for i, t := range l.Tensors()[:6] {
			args[i] = t
		}
		var err error
		out, err = callFlat(m.layoutExec, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: layout of %d rows x %d tokens, %d scored positions: %w", l.Rows, l.Len, l.N, err)
	}
	m.shapes[[3]int{l.Rows, l.Len, l.N}] = true
	return out, nil
}
