package train

import (
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dpo-go/dpo/pkg/engine"
)

// maxPackedRow bounds the row length packing may choose for a
// micro-batch (attention grows with its square).
const maxPackedRow = 1024

// microInputs returns the first inputs of the gradient graph for micro-batch
// m: the padded rows toks [R, T], lengths and prompts [R] on the plain path,
// else a layout of its pairs (engine.NewLayout: prompt|chosen|rejected
// segments unless NoSharedPrompt, several per row unless NoPacking, the head
// on completion positions only) and the completion lengths [R]. Output slot
// j is pair j's chosen completion, B+j its rejected one.
func (r *runner) microInputs(m micro, toks, lengths, prompts []int32, R, T int) []any {
	if r.c.Layout.Plain {
		return []any{
			tensors.FromFlatDataAndDimensions(toks, R, T),
			tensors.FromFlatDataAndDimensions(lengths, R),
			tensors.FromFlatDataAndDimensions(prompts, R)}
	}
	B := len(m.rows)
	groups := make([]engine.Group, B)
	compLen := make([]int32, R)
	for j, i := range m.rows {
		p := r.train.pair(i)
		g := engine.Group{Prompt: p.prompt, Completions: [][]int32{p.chosen}, Out: []int{j}}
		compLen[j] = int32(len(p.chosen))
		if R > B {
			g.Completions, g.Out = append(g.Completions, p.rejected), append(g.Out, B+j)
			compLen[B+j] = int32(len(p.rejected))
		}
		groups[j] = g
	}
	o := r.c.layoutOptions()
	if r.cfg.HasMoE() {
		// The router's load-balancing loss counts a pair's prompt once
		// per completion, as TRL's concatenated forward (and aux_loss is
		// logged whatever the coefficient): no shared prompt.
		o.SharedPrompt = false
	}
	l := engine.NewLayout(groups, R, microRowLen(groups, o), 1, o)
	out := make([]any, 0, 8)
	for _, t := range l.Tensors() {
		out = append(out, t)
	}
	return append(out, tensors.FromFlatDataAndDimensions(compLen, R))
}

// microRowLen is the row length of a micro-batch's layout: the bucket of
// its longest segment, or with packing the length (up to maxPackedRow, or
// that bucket when longer) that needs the fewest padded tokens.
func microRowLen(groups []engine.Group, o engine.LayoutOptions) int {
	var lens []int
	for _, g := range groups {
		if o.SharedPrompt {
			n := len(g.Prompt)
			for _, c := range g.Completions {
				n += len(c)
			}
			lens = append(lens, n)
			continue
		}
		for _, c := range g.Completions {
			lens = append(lens, len(g.Prompt)+len(c))
		}
	}
	if !o.Pack {
		longest := 0
		for _, l := range lens {
			longest = max(longest, l)
		}
		return engine.BucketLen(longest)
	}
	return engine.PackedLen(lens, maxPackedRow)
}

// layoutOptions are the layouts the switches leave on. With --bf16 the
// shared prompt is off: a prompt position's gradient would be the sum of
// its chosen and rejected parts before the bf16 rounding of the products
// that use it, where the concatenated forward of TRL (and torch autocast)
// rounds each part and sums afterwards. Both are bf16 roundings of the
// same sum, but only the second matches TRL's step (TestTrainStepBF16AgainstTorch).
func (c *Config) layoutOptions() engine.LayoutOptions {
	return engine.LayoutOptions{SharedPrompt: !c.Layout.NoSharedPrompt && !c.BF16, Pack: !c.Layout.NoPacking}
}
