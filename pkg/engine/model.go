package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// Model is a causal LM whose weights live as float32 variables of a GoMLX
// store. Its methods are safe for concurrent use (calls are serialised).
type Model struct {
	eng    *Engine
	cfg    model.Config
	specs  []model.ParamSpec
	names  map[string]string // HF name -> name found in the checkpoint
	dtypes map[string]safetensors.DType
	store  *gmodel.Store

	// LoRA adapter (see lora.go): scale by module, its parameters, its
	// config and modules (without weights). nil without an adapter.
	lora      map[string]float64
	loraSpecs []model.ParamSpec
	adapter   *adapter.Adapter

	mu sync.Mutex
	// execs is the one executable cache (runner.go), compiles its counts.
	execs    map[execKey]*gmodel.Exec
	compiles CompileStats
	// graphs are the engine's own graphs, made on first use.
	graphs modelGraphs
}

// modelGraphs are the graphs the engine runs itself.
type modelGraphs struct {
	rows    *GraphKind // per-token log-probs [B, T] of plain rows (PlainLayoutInputs)
	layout  *GraphKind // log-probs of a layout's scored positions (layout.go)
	prefill *GraphKind // generation (generate.go)
	decode  *GraphKind
}

// engineGraphs returns the engine's graphs (m.mu held), made with the
// model's graph options and adapter.
func (m *Model) engineGraphs() *modelGraphs {
	if m.graphs.rows != nil {
		return &m.graphs
	}
	cfg, gopts := m.cfg, m.eng.graphOptions()
	gopts.LoRA = m.lora
	netOf := func(scope *gmodel.Scope, g *graph.Graph) net {
		return net{w: storeWeights(scope.Store(), g), opts: gopts}
	}
	m.graphs = modelGraphs{
		rows: &GraphKind{Name: "log-probs of rows", Build: func(scope *gmodel.Scope, nodes []*graph.Node) []*graph.Node {
			var in rowsIn[*graph.Node]
			takeFields(in.fields(), nodes)
			li := PlainLayoutInputs(in.Tokens, in.Lengths, in.Prompts)
			return []*graph.Node{toGrid(layoutLogProbs(netOf(scope, li.Tokens.Graph()), &cfg, li), li.Grid)} // [B, T]
		}},
		layout: &GraphKind{Name: "log-probs of a layout", Build: func(scope *gmodel.Scope, nodes []*graph.Node) []*graph.Node {
			li := LayoutInputs{NoGrid: true}
			takeFields(li.Fields(), nodes)
			return []*graph.Node{layoutLogProbs(netOf(scope, li.Tokens.Graph()), &cfg, li)}
		}},
		prefill: &GraphKind{Name: "prefill", Build: func(scope *gmodel.Scope, nodes []*graph.Node) []*graph.Node {
			var in genIn[*graph.Node]
			takeFields(in.fields(), nodes)
			n := netOf(scope, in.Tokens.Graph())
			return generateGraph(n, &cfg, in.Tokens, in.Pad, nil, in.Capacity.Shape().Dimensions[0], nil)
		}},
		decode: &GraphKind{Name: "decode", Build: func(scope *gmodel.Scope, nodes []*graph.Node) []*graph.Node {
			in := genIn[*graph.Node]{decode: true, Cache: make([]*graph.Node, 2*cfg.NumLayers)}
			takeFields(in.fields(), nodes)
			n := netOf(scope, in.Tokens.Graph())
			return generateGraph(n, &cfg, in.Tokens, in.Pad, in.Start, in.Cache[0].Shape().Dimensions[1], in.Cache)
		}},
	}
	return &m.graphs
}

// rowsIn are plain right-padded rows by name (*graph.Node inside a graph,
// *tensors.Tensor outside); fields is their order.
type rowsIn[T any] struct {
	Tokens  T // [B, T] int32, right padded
	Lengths T // [B] int32
	Prompts T // [B] int32
}

func (r *rowsIn[T]) fields() []*T { return []*T{&r.Tokens, &r.Lengths, &r.Prompts} }

// LoadWeights checks the tensors against cfg (names and shapes from
// model.ParamSpecs; GPT-2 names with or without "transformer.") and puts
// them, converted to float32, into a new model.
func (e *Engine) LoadWeights(cfg *model.Config, ts map[string]*safetensors.Tensor) (*Model, error) {
	if e == nil || e.backend == nil {
		return nil, fmt.Errorf("engine: LoadWeights on a closed engine")
	}
	if cfg == nil {
		return nil, fmt.Errorf("engine: LoadWeights: nil config")
	}
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	specs := model.ParamSpecs(cfg)
	if err := checkTensorSet(cfg, specs, ts); err != nil {
		return nil, err
	}
	m := &Model{
		eng:    e,
		cfg:    *cfg,
		specs:  specs,
		names:  make(map[string]string, len(specs)),
		dtypes: make(map[string]safetensors.DType, len(specs)),
		store:  gmodel.NewStore(),
		execs:  make(map[execKey]*gmodel.Exec),
	}
	for _, s := range specs {
		t, found := lookupTensor(ts, s.Name)
		vals, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("engine: decoding tensor %q: %w", found, err)
		}
		m.names[s.Name] = found
		m.dtypes[s.Name] = t.DType
		if err := m.setVariable(s.Name, s.Shape, vals); err != nil {
			return nil, err
		}
	}
	// Gemma's embedding scale is rounded to the embedding's stored dtype.
	m.cfg.SetEmbedDType(m.dtypes["model.embed_tokens.weight"])
	return m, nil
}

func (m *Model) setVariable(name string, shape []int, vals []float32) error {
	return catch(func() error {
		value := tensors.FromFlatDataAndDimensions(vals, shape...)
		if err := m.toDevice(value); err != nil {
			return fmt.Errorf("engine: weight %q: %w", name, err)
		}
		if v := m.store.GetVariable("/" + name); v != nil {
			if err := v.SetValue(value); err != nil {
				return fmt.Errorf("engine: setting weight %q: %w", name, err)
			}
			return nil
		}
		if _, err := m.store.CreateVariable("/"+name, value); err != nil {
			return fmt.Errorf("engine: creating weight %q: %w", name, err)
		}
		return nil
	})
}

// toDevice moves t to the backend's device and frees its host copy, so
// that a variable holds one copy of its value: a tensor made from a Go
// slice keeps that slice next to its device buffer until the garbage
// collector finds it, and Go's collector paces itself on the Go heap, not
// on the backend's memory (measured: a 1.8 GiB Qwen2.5-0.5B weight set
// was held twice through the first training steps). With several devices
// the value is left on the host, from which GoMLX shards it.
func (m *Model) toDevice(t *tensors.Tensor) error {
	if m.eng.data != nil {
		return nil
	}
	if err := t.MaterializeOnDevice(m.eng.backend, false, 0); err != nil {
		return err
	}
	t.FinalizeLocal()
	return nil
}

// SetVariable sets the value of the store's variable at path (moved to the
// device, its host copy freed; the old value is freed at once).
func (m *Model) SetVariable(path string, value *tensors.Tensor) error {
	err := catch(func() error {
		v := m.store.GetVariable(path)
		if v == nil {
			return fmt.Errorf("no such variable")
		}
		if err := m.toDevice(value); err != nil {
			return err
		}
		return v.SetValue(value)
	})
	if err != nil {
		return fmt.Errorf("engine: setting variable %q: %w", path, err)
	}
	return nil
}

// CreateVariable adds a variable holding value (moved to the device, its
// host copy freed) at path to the model's store, for the training stage's
// state (moments, gradient accumulators).
func (m *Model) CreateVariable(path string, value *tensors.Tensor) (*gmodel.Variable, error) {
	var v *gmodel.Variable
	err := catch(func() error {
		if err := m.toDevice(value); err != nil {
			return err
		}
		var err error
		v, err = m.store.CreateVariable(path, value)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: creating variable %q: %w", path, err)
	}
	return v, nil
}

// Config returns the model's configuration.
func (m *Model) Config() *model.Config { c := m.cfg; return &c }

// Store returns the GoMLX store holding the weights, one variable per HF
// tensor at path "/<hf name>". It is for the training stage, which builds
// its graphs with [LayoutTokenStatsGraph].
func (m *Model) Store() *gmodel.Store { return m.store }

// NumCompiledGraphs returns how many distinct input shapes (hence compiled
// graphs) SequenceLogProbs has used so far (see [Model.CompileStats] for
// every graph).
func (m *Model) NumCompiledGraphs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.numExecs(m.graphs.rows, m.graphs.layout)
}

// ExportWeights returns the current weights as float32, keyed by HF name.
func (m *Model) ExportWeights() (map[string][]float32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]float32, len(m.specs))
	for _, s := range m.specs {
		var vals []float32
		err := catch(func() error {
			v := m.store.GetVariable("/" + s.Name)
			if v == nil {
				return fmt.Errorf("engine: weight %q is missing from the store", s.Name)
			}
			t, err := v.Value()
			if err != nil {
				return err
			}
			vals, err = tensors.CopyFlatData[float32](t)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("engine: exporting %q: %w", s.Name, err)
		}
		out[s.Name] = vals
	}
	return out, nil
}

// ExportTensors returns the current weights as safetensors tensors with
// the canonical HF names (GPT-2 with "transformer."), HF shapes and the
// dtype each tensor had in the checkpoint (BF16/F16 rounded to nearest
// even). Tied models have no lm_head.weight, as HF saves them.
func (m *Model) ExportTensors() (map[string]*safetensors.Tensor, error) {
	ws, err := m.ExportWeights()
	if err != nil {
		return nil, err
	}
	out := make(map[string]*safetensors.Tensor, len(ws))
	for _, s := range m.specs {
		t, err := safetensors.FromFloat32(s.Name, m.dtypes[s.Name], s.Shape, ws[s.Name])
		if err != nil {
			return nil, fmt.Errorf("engine: exporting %q: %w", s.Name, err)
		}
		out[s.Name] = t
	}
	return out, nil
}

// Sequence is one row to score: the prompt is Tokens[:PromptLen], the
// completion Tokens[PromptLen:].
type Sequence struct {
	Tokens    []int32
	PromptLen int
}

// validate checks row i against the model.
func (m *Model) validate(i int, s Sequence) error {
	n := len(s.Tokens)
	if n == 0 {
		return fmt.Errorf("engine: row %d: empty token sequence", i)
	}
	if s.PromptLen < 1 || s.PromptLen > n {
		return fmt.Errorf("engine: row %d: prompt length %d outside [1, %d] (the first token has no prediction)", i, s.PromptLen, n)
	}
	for j, t := range s.Tokens {
		if t < 0 || int(t) >= m.cfg.VocabSize {
			return fmt.Errorf("engine: row %d: token %d at position %d is outside the vocabulary [0, %d)", i, t, j, m.cfg.VocabSize)
		}
	}
	if err := m.cfg.CheckSeqLen(n); err != nil {
		return fmt.Errorf("engine: row %d: %w", i, err)
	}
	return nil
}

// SequenceLogProbs returns, for each sequence in input order, the sum over
// its completion tokens of log p(token | previous tokens). progress, if not
// nil, is called after each batch with the number of sequences done.
func (m *Model) SequenceLogProbs(ctx context.Context, seqs []Sequence, progress func(done, total int)) ([]float64, error) {
	out := make([]float64, len(seqs))
	err := m.run(ctx, seqs, progress, func(i int, lp []float32) {
		var sum float64
		for _, v := range lp {
			sum += float64(v)
		}
		out[i] = sum
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TokenLogProbs is SequenceLogProbs without the sum: for each sequence,
// the log-probabilities of its completion tokens Tokens[PromptLen:].
func (m *Model) TokenLogProbs(ctx context.Context, seqs []Sequence, progress func(done, total int)) ([][]float32, error) {
	out := make([][]float32, len(seqs))
	err := m.run(ctx, seqs, progress, func(i int, lp []float32) { out[i] = append([]float32(nil), lp...) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// run scores seqs batch by batch and hands each row's completion
// log-probs to emit.
func (m *Model) run(ctx context.Context, seqs []Sequence, progress func(done, total int), emit func(i int, lp []float32)) error {
	for i, s := range seqs {
		if err := m.validate(i, s); err != nil {
			return err
		}
	}
	if !m.eng.opts.Layout.Plain {
		return m.runLayouts(ctx, seqs, progress, emit)
	}
	// Plain rows: the layout of one sequence per row, planned as one.
	done := 0
	for _, lb := range plan(seqGroups(seqs, false), m.eng.opts.BatchTokens, LayoutOptions{}) {
		b := batch{rows: lb.groups, size: m.eng.rowMultiple(lb.rows), length: lb.T}
		if err := ctx.Err(); err != nil {
			return err
		}
		lp, err := m.runBatch(seqs, b)
		if err != nil {
			return err
		}
		for r, i := range b.rows {
			s := seqs[i]
			emit(i, lp[r*b.length+s.PromptLen:r*b.length+len(s.Tokens)])
		}
		done += len(b.rows)
		if progress != nil {
			progress(done, len(seqs))
		}
	}
	return nil
}

// runBatch executes one padded batch and returns the per-token
// log-probabilities [b.size * b.length], row-major.
func (m *Model) runBatch(seqs []Sequence, b batch) ([]float32, error) {
	tokens := make([]int32, b.size*b.length)
	lengths := make([]int32, b.size)
	prompts := make([]int32, b.size)
	for r := range b.size {
		if r >= len(b.rows) { // padding row: one token, nothing to score.
			lengths[r], prompts[r] = 1, 1
			continue
		}
		s := seqs[b.rows[r]]
		copy(tokens[r*b.length:], s.Tokens)
		lengths[r], prompts[r] = int32(len(s.Tokens)), int32(s.PromptLen)
	}
	in := rowsIn[*tensors.Tensor]{
		Tokens:  tensors.FromFlatDataAndDimensions(tokens, b.size, b.length),
		Lengths: tensors.FromFlatDataAndDimensions(lengths, b.size),
		Prompts: tensors.FromFlatDataAndDimensions(prompts, b.size)}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []float32
	err := catch(func() error {
		var err error
		out, err = m.callFlat(m.engineGraphs().rows, flatFields(in.fields())...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: batch of %d rows x %d tokens (first row %d): %w", b.size, b.length, b.rows[0], err)
	}
	return out, nil
}

// anys converts xs to the []any of an executable's call.
func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// Close releases the compiled graphs and the weights' device memory. The
// model must not be used afterwards.
func (m *Model) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = catch(func() error {
		m.dropExecs()
		if m.store != nil {
			m.store.Finalize()
			m.store = nil
		}
		return nil
	})
}
