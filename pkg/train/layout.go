package train

import (
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dpo-go/dpo/pkg/engine"
)

// microInputs returns the rows of the gradient graph's inputs for
// micro-batch m (the rest are set by the caller): the padded rows toks
// [R, T], lengths and prompts [R] on the plain path, else a layout of its
// pairs (engine.NewLayout: prompt|chosen|rejected segments unless
// NoSharedPrompt, several per row unless NoPacking, the head on completion
// positions only) and the completion lengths [R]. Output slot j is pair
// j's chosen completion, B+j its rejected one.
func (r *runner) microInputs(m micro, toks, lengths, prompts []int32, R, T int) gradIn[*tensors.Tensor] {
	if r.c.Layout.Plain {
		return gradIn[*tensors.Tensor]{plain: true, Rows: plainRows[*tensors.Tensor]{
			Tokens:  tensors.FromFlatDataAndDimensions(toks, R, T),
			Lengths: tensors.FromFlatDataAndDimensions(lengths, R),
			Prompts: tensors.FromFlatDataAndDimensions(prompts, R)}}
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
	l := r.eng.PadRows(engine.NewLayout(groups, R, engine.RowLen(groups, o), 1, o)) // rows split over the devices
	return gradIn[*tensors.Tensor]{Layout: l.Inputs(), CompLen: tensors.FromFlatDataAndDimensions(compLen, R)}
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
