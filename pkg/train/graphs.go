package train

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/dpo-go/dpo/pkg/dpo"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
)

// Variable scopes of the optimizer state in the model's store.
const (
	scopeGrad = "/train_grad/"
	scopeM    = "/train_adam_m/"
	scopeV    = "/train_adam_v/"
)

// optimizer holds the compiled graphs of one model.
type optimizer struct {
	cfg   *model.Config
	specs []model.ParamSpec
	store *gmodel.Store
	obj   dpo.Objective
	tc    *Config
	// chosenOnly: the objective reads only chosen completions (sft), so
	// micro-batches carry no rejected rows.
	chosenOnly bool
	// The graphs, run by the model's runner (engine.Model.Run), which
	// compiles each once per input shapes.
	mdl *engine.Model
	// grad runs a step's first micro-batch: forward, loss and gradient,
	// which it returns as outputs that become the accumulators' values;
	// gradAdd runs the later ones, adding into the accumulators (donated,
	// so an accumulator is held twice only while gradAdd runs).
	grad, gradAdd *engine.GraphKind
	// shardedGrads (Config.ShardParams): the accumulators keep a value,
	// split over the devices, between steps, and grad writes the first
	// micro-batch's gradient into them in the graph instead of returning
	// it (a returned gradient is whole on every device and would reach
	// its sharded accumulator through the host).
	shardedGrads bool
	norm         *engine.GraphKind // per step: the global gradient norm
	// groups update the weights, in groups of about updateGroupBytes of
	// parameters: clipping and AdamW on each group's weights and moments
	// (donated), after which the group's accumulators are freed. One graph
	// for all would hold every weight and moment twice at its peak.
	groups []updateGroup
	eval   *engine.GraphKind // evaluation with ld_alpha or use_weighting
	// lora is the scale of each adapted module when training a LoRA
	// adapter (specs are then the adapter's A and B; see lora.go).
	lora map[string]float64
	// auxCoef weighs the MoE router's aux loss (0: off; see moe.go).
	auxCoef float64
}

// updateGroup is one graph of the optimizer update: the indices of its
// parameters in optimizer.specs.
type updateGroup struct {
	specs []int
	kind  *engine.GraphKind
}

// updateGroupBytes bounds the float32 parameter bytes of one update group
// (a tensor larger than it is a group of its own). A variable so tests can
// split small models.
var updateGroupBytes int64 = 256 << 20

// planGroups splits specs, in order, into groups of at most maxBytes of
// parameters (and at least one tensor each).
func planGroups(specs []model.ParamSpec, maxBytes int64) [][]int {
	var groups [][]int
	var cur []int
	var size int64
	for i, s := range specs {
		b := int64(4 * numParams([]model.ParamSpec{s}))
		if len(cur) > 0 && size+b > maxBytes {
			groups = append(groups, cur)
			cur, size = nil, 0
		}
		cur = append(cur, i)
		size += b
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// catch turns a GoMLX panic into an error: the one place in this package
// where panics are recovered.
func catch(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("gomlx: %w", e)
			} else {
				err = fmt.Errorf("gomlx: %v", r)
			}
			if os.Getenv("DPO_ENGINE_PANIC_STACK") != "" {
				err = fmt.Errorf("%w\n%s", err, debug.Stack())
			}
		}
	}()
	return fn()
}

func zerosF32(shape []int) *tensors.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return tensors.FromFlatDataAndDimensions(make([]float32, n), shape...)
}

// newOptimizer creates the optimizer variables (zero moments and
// accumulators) next to the model's weights, and the graphs.
func newOptimizer(mdl *engine.Model, obj dpo.Objective, tc *Config) (*optimizer, error) {
	cfg, store := mdl.Config(), mdl.Store()
	o := &optimizer{cfg: cfg, specs: trainableSpecs(mdl), lora: mdl.LoRAScales(), store: store, obj: obj, tc: tc, mdl: mdl, chosenOnly: true,
		shardedGrads: tc.ShardParams && tc.devices() > 1}
	for _, t := range obj.Terms {
		o.chosenOnly = o.chosenOnly && t.Name == dpo.SFT
	}
	var err error
	if o.auxCoef, err = tc.routerAuxCoef(cfg); err != nil {
		return nil, err
	}
	if tc.LDAlpha != nil || tc.UseWeighting { // both pair chosen with rejected rows
		o.chosenOnly = false
	}
	err = catch(func() error {
		for _, s := range o.specs {
			if store.GetVariable("/"+s.Name) == nil {
				return fmt.Errorf("train: weight %q missing from the store", s.Name)
			}
			for _, scope := range []string{scopeGrad, scopeM, scopeV} {
				v := store.GetVariable(scope + s.Name)
				if v == nil {
					var err error
					if v, err = mdl.CreateVariable(scope+s.Name, zerosF32(s.Shape)); err != nil {
						return err
					}
				}
				v.SetTrainable(false)
				if scope == scopeGrad && !o.shardedGrads {
					// The first micro-batch of each step sets it.
					if err := v.Reset(); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("train: building the optimizer: %w", err)
	}
	o.grad = &engine.GraphKind{Name: "train gradient", Build: func(s *gmodel.Scope, in []*graph.Node) []*graph.Node {
		return o.gradGraph(s, in, true)
	}}
	o.gradAdd = &engine.GraphKind{Name: "train gradient (accumulating)", Build: func(s *gmodel.Scope, in []*graph.Node) []*graph.Node {
		return o.gradGraph(s, in, false)
	}}
	o.norm = &engine.GraphKind{Name: "train gradient norm", Build: o.normGraph}
	for k, idx := range planGroups(o.specs, updateGroupBytes) {
		o.groups = append(o.groups, updateGroup{specs: idx, kind: &engine.GraphKind{
			Name:  fmt.Sprintf("train AdamW step (group %d)", k+1),
			Build: func(s *gmodel.Scope, in []*graph.Node) []*graph.Node { return o.updateGraph(s, in, idx) },
		}})
	}
	o.eval = &engine.GraphKind{Name: "train evaluation", Build: o.evalGraph}
	return o, nil
}

// run runs graph g on the typed inputs fs (see gradIn.fields).
func (o *optimizer) run(g *engine.GraphKind, fs []**tensors.Tensor) ([]*tensors.Tensor, error) {
	args := make([]*tensors.Tensor, len(fs))
	for i, f := range fs {
		args[i] = *f
	}
	return o.mdl.Run(g, args...)
}

func (o *optimizer) close() {
	gs := []*engine.GraphKind{o.grad, o.gradAdd, o.norm, o.eval}
	for _, u := range o.groups {
		gs = append(gs, u.kind)
	}
	for _, g := range gs {
		if g != nil {
			o.mdl.Release(g)
		}
	}
}

// plainRows are right-padded rows by name: tokens [R, T], lengths [R] and
// prompt lengths [R] (int32); T is *graph.Node inside a graph,
// *tensors.Tensor outside.
type plainRows[T any] struct {
	Tokens, Lengths, Prompts T
}

func (p *plainRows[T]) fields() []*T { return []*T{&p.Tokens, &p.Lengths, &p.Prompts} }

// gradIn are gradGraph's inputs by name. fields is the one order in which
// they are fed and read.
type gradIn[T any] struct {
	plain bool // Layout.Plain: Rows (engine.PlainLayoutInputs), else Layout and CompLen
	Rows  plainRows[T]
	// Layout is the micro-batch's layout (see layoutMicro) and CompLen
	// [R] int32 the completion lengths of its output slots.
	Layout  engine.LayoutOf[T]
	CompLen T
	// RefC, RefR [B] float32: the reference log-probs.
	RefC, RefR T
	// Scale [] float32: this micro-batch's weight in the step.
	Scale T
	// BCOMean, BCOCount [] float32: bco_pair's running reward mean.
	BCOMean, BCOCount T
}

func (g *gradIn[T]) fields() []*T {
	var f []*T
	if g.plain {
		f = g.Rows.fields()
	} else {
		f = append(g.Layout.Fields(), &g.CompLen)
	}
	return append(f, &g.RefC, &g.RefR, &g.Scale, &g.BCOMean, &g.BCOCount)
}

// take sets fs from in (as many as fs).
func take[T any](fs []*T, in []T) {
	if len(in) != len(fs) {
		panic(fmt.Errorf("train: %d graph inputs, want %d", len(in), len(fs)))
	}
	for i, f := range fs {
		*f = in[i]
	}
}

// gradGraph: inputs gradIn (tokens [2B, T]: chosen rows, then rejected
// rows; [B, T] of chosen rows only when chosenOnly). With first it returns
// scale·∇loss after the outputs below (one per optimizer.specs, in order:
// the step's first accumulator values), else it adds scale·∇loss to the
// accumulators. It returns
//
//	lp      [2B] the policy log-probs the objective reads (ld_alpha-weighted)
//	bco     []   bco_pair's batch mean (0 without bco_pair)
//	stats   [3, 2B] per row: Σ mean logits, Σ top-1 hits and Σ entropy over
//	        the completion tokens
//	raw     [2B] the plain summed log-probs
//	weights [B]  the WPO pair weights (1 without use_weighting)
//	aux     []   the MoE router's aux loss (0 when off), whose auxCoef
//	             multiple is in the differentiated loss
//
// Over a layout, per-token statistics come as [2B, T] grids of completion
// tokens.
func (o *optimizer) gradGraph(scope *gmodel.Scope, nodes []*graph.Node, firstMicro bool) []*graph.Node {
	store := scope.Store()
	in := gradIn[*graph.Node]{plain: o.tc.Layout.Plain}
	take(in.fields(), nodes)
	gopts := engine.GraphOptions{VocabChunk: o.tc.VocabChunk, BF16: o.tc.BF16, Checkpoint: o.tc.GradCheckpointing, LoRA: o.lora,
		LoRADropout: o.loraDropout(in.RefC.Graph())}
	var st engine.TokenStats
	var compLen, prompts *graph.Node
	if in.plain {
		rows := in.Rows
		prompts = rows.Prompts
		st = engine.LayoutTokenStatsGraph(store, o.cfg, engine.PlainLayoutInputs(rows.Tokens, rows.Lengths, prompts), gopts)
		compLen = graph.Sub(rows.Lengths, prompts)
	} else {
		st = engine.LayoutTokenStatsGraph(store, o.cfg, in.Layout, gopts)
		compLen = in.CompLen
		prompts = graph.ZerosLike(compLen) // grids start at the completion
	}
	refC, refR, scale, bcoMean, bcoCount := in.RefC, in.RefR, in.Scale, in.BCOMean, in.BCOCount
	g := refC.Graph()
	R := st.LogProbs.Shape().Dimensions[0]
	B := R / 2
	first := func(x *graph.Node) *graph.Node { return graph.Slice(x, graph.AxisRange(0, B)) }
	second := func(x *graph.Node) *graph.Node { return graph.Slice(x, graph.AxisRange(B, 2*B)) }
	if o.chosenOnly { // the rejected inputs are placeholders the objective ignores
		B = R
		first = func(x *graph.Node) *graph.Node { return x }
		second = first
	}
	raw := graph.ReduceSum(st.LogProbs, 1) // [R]
	lp := raw
	if a := o.tc.ldAlpha(); a >= 0 {
		lp = ldWeighted(st, compLen, prompts, a)
	}
	weights := graph.OnesLike(first(raw))
	if o.tc.UseWeighting {
		weights = wpoWeights(st, compLen, first, second)
	}
	din := dpo.Inputs{
		PolicyChosen: first(lp), PolicyRejected: second(lp),
		ChosenLengths: first(compLen), RejectedLengths: second(compLen),
		BCOMean: bcoMean, BCOCount: bcoCount,
	}
	if o.tc.LDAlpha != nil {
		din.RawPolicyChosen = first(raw)
	}
	if o.tc.UseWeighting {
		din.Weights = weights
	}
	if o.obj.NeedsReference() {
		din.RefChosen, din.RefRejected = refC, refR
	}
	out, err := o.obj.Loss(din)
	if err != nil {
		panic(err)
	}
	loss, aux := o.withAuxLoss(st, graph.Mul(out.Loss, scale), scale)
	params := make([]*graph.Node, len(o.specs))
	for i, s := range o.specs {
		params[i] = store.GetVariable("/" + s.Name).NodeValue(g)
	}
	grads := graph.Gradient(loss, params...)
	switch {
	case !firstMicro:
		for i, s := range o.specs {
			acc := store.GetVariable(scopeGrad + s.Name)
			acc.SetNodeValue(graph.Add(acc.NodeValue(g), grads[i]))
		}
	case o.shardedGrads: // the old value is not read (its buffer donated)
		for i, s := range o.specs {
			store.GetVariable(scopeGrad + s.Name).SetNodeValue(grads[i])
		}
	}
	bco := graph.ScalarZero(g, dtypes.Float32)
	if out.BCOBatchMean != nil {
		bco = graph.ConvertDType(out.BCOBatchMean, dtypes.Float32)
	}
	stats := graph.Stack([]*graph.Node{
		graph.ReduceSum(st.MeanLogits, 1), graph.ReduceSum(st.IsTop1, 1), graph.ReduceSum(st.Entropy, 1)}, 0)
	outs := []*graph.Node{lp, bco, graph.StopGradient(stats), graph.StopGradient(raw), graph.StopGradient(weights), graph.StopGradient(aux)}
	if firstMicro && !o.shardedGrads {
		outs = append(outs, grads...)
	}
	return outs
}

// gradOutputs is the number of gradGraph's outputs before the gradients.
const gradOutputs = 6

// normIn are normGraph's inputs by name, float32 scalars.
type normIn[T any] struct {
	MaxNorm T // <= 0: no clipping
}

func (a *normIn[T]) fields() []*T { return []*T{&a.MaxNorm} }

// normGraph: inputs normIn. It returns the global norm of the accumulated
// gradient before clipping and the clipping coefficient (1 without
// clipping).
func (o *optimizer) normGraph(scope *gmodel.Scope, nodes []*graph.Node) []*graph.Node {
	var in normIn[*graph.Node]
	take(in.fields(), nodes)
	maxNorm := in.MaxNorm
	g := maxNorm.Graph()
	store := scope.Store()
	var sumSq *graph.Node
	for _, s := range o.specs {
		sq := graph.ReduceAllSum(graph.Square(store.GetVariable(scopeGrad + s.Name).NodeValue(g)))
		if sumSq == nil {
			sumSq = sq
		} else {
			sumSq = graph.Add(sumSq, sq)
		}
	}
	norm := graph.Sqrt(sumSq)
	one := graph.ScalarOne(g, dtypes.Float32)
	clip := graph.Min(one, graph.Div(maxNorm, graph.AddScalar(norm, 1e-6)))
	coef := graph.Where(graph.GreaterThan(maxNorm, graph.ScalarZero(g, dtypes.Float32)), clip, one)
	return []*graph.Node{norm, coef}
}

// applyIn are updateGraph's inputs by name, all float32 scalars.
type applyIn[T any] struct {
	StepSize T // lr/(1-β1^t)
	BC2Sqrt  T // sqrt(1-β2^t)
	Decay    T // 1-lr·wd
	Norm     T // the global gradient norm (normGraph's)
	Coef     T // the clipping coefficient (normGraph's)
}

func (a *applyIn[T]) fields() []*T {
	return []*T{&a.StepSize, &a.BC2Sqrt, &a.Decay, &a.Norm, &a.Coef}
}

// updateGraph: inputs applyIn. It clips and applies AdamW to the weights
// idx (indices of optimizer.specs) and their moments; when the norm is
// not finite nothing changes. It returns nothing but the norm.
func (o *optimizer) updateGraph(scope *gmodel.Scope, nodes []*graph.Node, idx []int) []*graph.Node {
	var in applyIn[*graph.Node]
	take(in.fields(), nodes)
	stepSize, bc2Sqrt, decay, norm, coef := in.StepSize, in.BC2Sqrt, in.Decay, in.Norm, in.Coef
	g := stepSize.Graph()
	store := scope.Store()
	finite := graph.IsFinite(norm)
	b1, b2 := o.tc.AdamBeta1, o.tc.AdamBeta2
	for _, i := range idx {
		s := o.specs[i]
		pv := store.GetVariable("/" + s.Name)
		mv := store.GetVariable(scopeM + s.Name)
		vv := store.GetVariable(scopeV + s.Name)
		p, m, v := pv.NodeValue(g), mv.NodeValue(g), vv.NodeValue(g)
		grad := graph.Mul(store.GetVariable(scopeGrad+s.Name).NodeValue(g), coef)
		// torch: exp_avg.lerp_(grad, 1-β1); exp_avg_sq.mul_(β2).addcmul_(grad, grad, 1-β2)
		m2 := graph.Add(m, graph.MulScalar(graph.Sub(grad, m), 1-b1))
		v2 := graph.Add(graph.MulScalar(v, b2), graph.MulScalar(graph.Mul(grad, grad), 1-b2))
		p2 := p
		if !s.NoDecay && o.tc.WeightDecay != 0 {
			p2 = graph.Mul(p, decay)
		}
		denom := graph.AddScalar(graph.Div(graph.Sqrt(v2), bc2Sqrt), o.tc.AdamEps)
		p2 = graph.Sub(p2, graph.Mul(stepSize, graph.Div(m2, denom)))
		pv.SetNodeValue(graph.Where(finite, p2, p))
		mv.SetNodeValue(graph.Where(finite, m2, m))
		vv.SetNodeValue(graph.Where(finite, v2, v))
	}
	return []*graph.Node{norm}
}

// freeGradients releases the accumulators of the weights idx (sharded,
// they stay: the next step's first micro-batch writes into them).
func (o *optimizer) freeGradients(idx []int) error {
	if o.shardedGrads {
		return nil
	}
	for _, i := range idx {
		if err := o.store.GetVariable(scopeGrad + o.specs[i].Name).Reset(); err != nil {
			return err
		}
	}
	return nil
}

// setGradients makes grads (gradGraph's outputs after gradOutputs) the
// accumulators' values.
func (o *optimizer) setGradients(grads []*tensors.Tensor) error {
	if len(grads) != len(o.specs) {
		return fmt.Errorf("train: %d gradients for %d weights", len(grads), len(o.specs))
	}
	for i, s := range o.specs {
		if err := o.store.GetVariable(scopeGrad + s.Name).SetValue(grads[i]); err != nil {
			return err
		}
	}
	return nil
}
