package engine

import (
	"fmt"
	"slices"

	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
)

// LoRA adapters enter the forward pass in net.linear / net.conv1D: a
// module with an adapter adds s·(dropout(x)·Aᵀ)·Bᵀ to its output, as
// PEFT's lora.Linear does (lora_B(lora_A(lora_dropout(x))) * scaling, the
// base path undropped); dropout is the identity unless the graph options
// carry a [LoRADropout] (training graphs only). A and B are
// variables of the model's store named as PEFT names the tensors
// ("/base_model.model.<module>.lora_A.weight"), so the training stage can
// treat them as its parameters and leave the base weights alone.

// LoRADropout is PEFT's lora_dropout in a training graph: each adapted
// module's input to lora_A is multiplied by its own Bernoulli keep mask
// (keep with probability 1-P) and by 1/(1-P), as torch.nn.Dropout does in
// training mode; the base path sees x unchanged. The masks come from State
// in the order the forward pass reaches the modules, so a graph built with
// the same State value draws the same masks (State advances as the
// modules draw; gradient checkpointing recomputes from the same states).
//
// A mask is a counter-based hash, not a draw of the backend's RNG
// (dropoutKeys, dropoutBits): entry (n, i) of a module's flattened input
// [N, in] is a function of State, n and i only. So rows appended to a batch
// (the padding that splits its rows over several devices) leave the other
// rows' masks as they are, XLA's partitioner splits the computation
// exactly (a partitioned RngBitGenerator did not give one device's masks:
// docs/scale.md), and every backend draws the same masks.
type LoRADropout struct {
	P float64
	// State is an RNG state (graph.RNGStateShape: 3 uint64 words), e.g. a
	// variable the trainer sets from its seed and step.
	State *Node
	// Keep, when not nil, receives each module's keep mask [N, in]
	// (float32 0/1, N the flattened rows of x), for tests.
	Keep map[string]*Node
}

// drop applies the dropout to flat [N, in].
func (d *LoRADropout) drop(flat *Node, module string) *Node {
	var k0, k1 *Node
	d.State, k0, k1 = dropoutKeys(d.State)
	bits := dropoutBits(k0, k1, flat.Shape().Dimensions[0], flat.Shape().Dimensions[1])
	// keep when bits >= P·2³²: probability 1-P up to 2⁻³².
	thr := uint32(min(d.P*(1<<32), float64(^uint32(0))))
	keep := ConvertDType(GreaterOrEqual(bits, Scalar(flat.Graph(), dtypes.Uint32, thr)), flat.DType())
	if d.Keep != nil {
		d.Keep[module] = keep
	}
	return Mul(flat, MulScalar(keep, 1/(1-d.P)))
}

// Constants of the dropout hash: murmur3's 32-bit finalizer and odd
// multipliers (the golden ratio's, xxhash's).
const (
	fmixM1, fmixM2 = 0x85ebca6b, 0xc2b2ae35
	rowMul, colMul = 0x9e3779b1, 0x27d4eb2f
	keySalt        = 0x9e3779b9
)

// dropoutKeys returns one module's keys (uint32 scalars) from an RNG state
// [s0, s1, s2] and the state after it, [s0, s1, s2+1]:
// k0 = fmix(lo(s0) ^ fmix(c)), k1 = fmix((hi(s0) ^ lo(s1)) + fmix(c ^ salt)),
// c = lo(s2), fmix murmur3's finalizer, lo and hi a word's 32-bit halves.
func dropoutKeys(state *Node) (next, k0, k1 *Node) {
	g := state.Graph()
	state = ConvertDType(state, dtypes.Uint64)
	word := func(i int) *Node { return Reshape(Slice(state, AxisElem(i))) }
	lo := func(w *Node) *Node {
		return ConvertDType(BitwiseAnd(w, Scalar(g, dtypes.Uint64, uint64(0xffffffff))), dtypes.Uint32)
	}
	hi := func(w *Node) *Node { return ConvertDType(BitwiseShiftRightLogicalScalar(w, uint64(32)), dtypes.Uint32) }
	s0, s1, c := word(0), word(1), lo(word(2))
	u32 := func(v uint32) *Node { return Scalar(g, dtypes.Uint32, v) }
	k0 = fmix32(BitwiseXor(lo(s0), fmix32(c)))
	k1 = fmix32(Add(BitwiseXor(hi(s0), lo(s1)), fmix32(BitwiseXor(c, u32(keySalt)))))
	next = Add(state, Const(g, []uint64{0, 0, 1}))
	return next, k0, k1
}

// dropoutBits returns [n, in] uint32 random bits: entry (r, c) is
// fmix(fmix(r·rowMul ^ k0) + (c+1)·colMul ^ k1), a function of the keys
// and its position only (a counter-based generator, as Philox is).
func dropoutBits(k0, k1 *Node, n, in int) *Node {
	g := k0.Graph()
	u32 := func(v uint32) *Node { return Scalar(g, dtypes.Uint32, v) }
	rows := ConvertDType(Iota(g, shapes.Make(dtypes.Int32, n, 1), 0), dtypes.Uint32)
	cols := ConvertDType(Iota(g, shapes.Make(dtypes.Int32, 1, in), 1), dtypes.Uint32)
	r := fmix32(BitwiseXor(Mul(rows, u32(rowMul)), k0)) // [n, 1]
	c := Mul(Add(cols, u32(1)), u32(colMul))            // [1, in]
	return fmix32(BitwiseXor(Add(r, c), k1))            // [n, in]
}

// fmix32 is murmur3's 32-bit finalizer.
func fmix32(h *Node) *Node {
	g := h.Graph()
	h = BitwiseXor(h, BitwiseShiftRightLogicalScalar(h, uint32(16)))
	h = Mul(h, Scalar(g, dtypes.Uint32, uint32(fmixM1)))
	h = BitwiseXor(h, BitwiseShiftRightLogicalScalar(h, uint32(13)))
	h = Mul(h, Scalar(g, dtypes.Uint32, uint32(fmixM2)))
	return BitwiseXor(h, BitwiseShiftRightLogicalScalar(h, uint32(16)))
}

// adapted adds module's LoRA update for input x to y (the base output).
func (n net) adapted(x *Node, module string, y *Node) *Node {
	s, ok := n.opts.LoRA[module]
	if !ok {
		return y
	}
	dims := x.Shape().Dimensions
	flat := Reshape(x, -1, dims[len(dims)-1]) // [N, in]
	if d := n.opts.LoRADropout; d != nil && d.P > 0 {
		flat = d.drop(flat, module)
	}
	xa := n.dot(flat, n.w(adapter.KeyA(module)), "ni,ri->nr") // [N, r]
	d := n.dot(xa, n.w(adapter.KeyB(module)), "nr,or->no")    // [N, out]
	d = MulScalar(d, s)
	return Add(y, Reshape(d, y.Shape().Dimensions...))
}

// AttachAdapter adds a's matrices to the model's store (replacing an
// adapter attached before): from then on the model computes base + adapter
// in SequenceLogProbs, TokenLogProbs and (with [Model.LoRAScales] in the
// GraphOptions) the graph builders (LayoutLogProbsGraph, LayoutTokenStatsGraph). a must have been bound to the
// model's config (adapter.Load / adapter.New with the same config).
func (m *Model) AttachAdapter(a *adapter.Adapter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.store == nil {
		return fmt.Errorf("engine: the model was closed")
	}
	if m.adapter != nil && len(m.adapter.SavedSpecs) > 0 {
		return fmt.Errorf("engine: the attached adapter replaced base weights (modules_to_save %v); reload the base to attach another", m.adapter.Config.ModulesToSave)
	}
	linear := make(map[string]adapter.Module)
	for _, mod := range adapter.LinearModules(&m.cfg) {
		linear[mod.Name] = mod
	}
	scales := make(map[string]float64, len(a.Modules))
	var specs []model.ParamSpec
	for _, mod := range a.Modules {
		want, ok := linear[mod.Name]
		if !ok || want != mod {
			return fmt.Errorf("engine: adapter module %s (%d -> %d) is not a linear layer of the %s model",
				mod.Name, mod.In, mod.Out, m.cfg.Arch)
		}
		w, ok := a.Weights[mod.Name]
		r := a.Config.R
		if !ok || len(w.A) != r*mod.In || len(w.B) != mod.Out*r {
			return fmt.Errorf("engine: adapter module %s: matrices do not have r=%d", mod.Name, r)
		}
		specs = append(specs,
			model.ParamSpec{Name: adapter.KeyA(mod.Name), Shape: []int{r, mod.In}},
			model.ParamSpec{Name: adapter.KeyB(mod.Name), Shape: []int{mod.Out, r}})
		scales[mod.Name] = a.Config.Scale()
	}
	base := make(map[string]model.ParamSpec, len(m.specs))
	for _, s := range m.specs {
		base[s.Name] = s
	}
	for _, s := range a.SavedSpecs {
		bs, ok := base[s.Name]
		if !ok || !slices.Equal(bs.Shape, s.Shape) {
			return fmt.Errorf("engine: adapter modules_to_save parameter %s %v is not a weight of the %s model", s.Name, s.Shape, m.cfg.Arch)
		}
		if v, ok := a.Saved[s.Name]; ok && len(v) != numElems(s.Shape) {
			return fmt.Errorf("engine: adapter modules_to_save parameter %s: %d values for shape %v", s.Name, len(v), s.Shape)
		}
		specs = append(specs, bs) // the base's weight-decay exemption applies
	}
	for _, s := range a.SavedSpecs {
		if v, ok := a.Saved[s.Name]; ok {
			if err := m.setVariable(s.Name, s.Shape, v); err != nil {
				return err
			}
		}
	}
	for _, mod := range a.Modules {
		w := a.Weights[mod.Name]
		r := a.Config.R
		if err := m.setVariable(adapter.KeyA(mod.Name), []int{r, mod.In}, w.A); err != nil {
			return err
		}
		if err := m.setVariable(adapter.KeyB(mod.Name), []int{mod.Out, r}, w.B); err != nil {
			return err
		}
	}
	m.lora = scales
	m.loraSpecs = specs
	ac := *a
	ac.Weights, ac.Saved = nil, nil
	m.adapter = &ac
	_ = catch(func() error { m.dropExecs(); return nil }) // compiled without the adapter
	return nil
}

// LoRADropout returns the adapter's lora_dropout (0 without an adapter).
func (m *Model) LoRADropout() float64 {
	if m.adapter == nil {
		return 0
	}
	return m.adapter.Config.Dropout
}

// LoRAScales returns the scale of each adapted module (nil without an
// adapter), for GraphOptions.LoRA.
func (m *Model) LoRAScales() map[string]float64 { return m.lora }

// AdapterSpecs returns the adapter's parameters (A and B of each adapted
// module, PEFT names, no weight-decay exemption; then the modules_to_save
// parameters, HF names, the base's exemptions), nil without an adapter.
func (m *Model) AdapterSpecs() []model.ParamSpec { return m.loraSpecs }

// ExportAdapter returns the adapter with its current matrices (after
// training steps, for instance).
func (m *Model) ExportAdapter() (*adapter.Adapter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.adapter == nil {
		return nil, fmt.Errorf("engine: the model has no adapter")
	}
	a := *m.adapter
	a.Weights = make(map[string]adapter.Weights, len(a.Modules))
	for _, mod := range a.Modules {
		A, err := m.variableF32(adapter.KeyA(mod.Name))
		if err != nil {
			return nil, err
		}
		B, err := m.variableF32(adapter.KeyB(mod.Name))
		if err != nil {
			return nil, err
		}
		a.Weights[mod.Name] = adapter.Weights{A: A, B: B}
	}
	a.Saved = make(map[string][]float32, len(a.SavedSpecs))
	for _, s := range a.SavedSpecs {
		v, err := m.variableF32(s.Name)
		if err != nil {
			return nil, err
		}
		a.Saved[s.Name] = v
	}
	return &a, nil
}

func (m *Model) variableF32(name string) ([]float32, error) {
	var vals []float32
	err := catch(func() error {
		v := m.store.GetVariable("/" + name)
		if v == nil {
			return fmt.Errorf("engine: variable %q is missing from the store", name)
		}
		t, err := v.Value()
		if err != nil {
			return err
		}
		vals, err = tensors.CopyFlatData[float32](t)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: reading %q: %w", name, err)
	}
	return vals, nil
}

// MergeAdapter folds a into base weights (HF names, as ExportWeights
// returns them): modules_to_save parameters replace the base's; W += s·B·A
// for nn.Linear [out, in], and its transpose for
// GPT-2's Conv1D [in, out], accumulated in float64 as PEFT's merge does in
// float32 (the rounding differs in the last bit at most per product term).
func MergeAdapter(cfg *model.Config, ws map[string][]float32, a *adapter.Adapter) error {
	s := a.Config.Scale()
	r := a.Config.R
	for _, p := range a.SavedSpecs { // trained in full: replace the base's
		v, ok := a.Saved[p.Name]
		if w, found := ws[p.Name]; ok && (!found || len(w) != len(v)) {
			return fmt.Errorf("engine: merging adapter: no weight %s of %d values", p.Name, len(v))
		} else if ok {
			copy(w, v)
		}
	}
	for _, mod := range a.Modules {
		w, ok := ws[mod.Name+".weight"]
		if !ok || len(w) != mod.In*mod.Out {
			return fmt.Errorf("engine: merging adapter: no weight %s.weight of %d x %d", mod.Name, mod.Out, mod.In)
		}
		ab := a.Weights[mod.Name]
		for o := range mod.Out {
			for i := range mod.In {
				var d float64
				for k := range r {
					d += float64(ab.B[o*r+k]) * float64(ab.A[k*mod.In+i])
				}
				idx := o*mod.In + i
				if cfg.Arch == model.ArchGPT2 {
					idx = i*mod.Out + o
				}
				w[idx] = float32(float64(w[idx]) + s*d)
			}
		}
	}
	return nil
}

func numElems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
