package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// This file is the model's one runner: every graph the engine runs
// (scoring, generation's prefill and decode, and the training stage's
// graphs through [Model.Run]) is compiled and cached here, one executable
// per (graph, input shapes) key. It is where a backend's shape policy
// belongs (which shapes a run meets is the planners' business, batch.go),
// and where compilations are counted ([Model.CompileStats]).

// GraphFunc builds a graph over the model's store from its flattened
// inputs (see [LayoutOf.Fields] for how typed inputs flatten).
type GraphFunc func(scope *gmodel.Scope, in []*graph.Node) []*graph.Node

// GraphKind is one kind of graph a model runs: a name, for errors and
// logs, and its builder. A GraphKind value is its identity in the
// executable cache: two values compile separately even with one name.
type GraphKind struct {
	Name  string
	Build GraphFunc
}

// CompileStats counts the executables a model compiled.
type CompileStats struct {
	// Count is the number of executables compiled: one per graph and
	// input shapes, again after they were released (an adapter attached).
	Count int
	// Seconds is the total wall time of the first call of each (its
	// compilation, and one run).
	Seconds float64
}

// Summary is the log's summary line of s, on backend kind.
func (s CompileStats) Summary(kind string) string {
	return fmt.Sprintf("compiled %d executables on %s in %.1f s (first calls included)", s.Count, kind, s.Seconds)
}

// execKey is what one executable is compiled for: a graph and the shapes
// of its inputs.
type execKey struct {
	graph  *GraphKind
	shapes string
}

// shapesKey is the input shapes of args, e.g. "(Int32)[4 64];(Int32)[4]".
func shapesKey(args []*tensors.Tensor) string {
	var b strings.Builder
	for i, t := range args {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(t.Shape().String())
	}
	return b.String()
}

// CompileStats returns how many executables the model compiled so far and
// the time their first calls took.
func (m *Model) CompileStats() CompileStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.compiles
}

// Run runs g on args with the model's weights, compiling g for the shapes
// of args on first use, and returns its outputs (the caller finalizes
// them). Variables the graph sets (SetNodeValue) are updated in the store.
func (m *Model) Run(g *GraphKind, args ...*tensors.Tensor) ([]*tensors.Tensor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var res []*tensors.Tensor
	err := catch(func() error {
		var err error
		res, err = m.call(g, args)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: running %s: %w", g.Name, err)
	}
	return res, nil
}

// call is Run with m.mu held, inside catch.
func (m *Model) call(g *GraphKind, args []*tensors.Tensor) ([]*tensors.Tensor, error) {
	if m.eng.backend == nil {
		return nil, fmt.Errorf("engine: the engine was closed")
	}
	if m.store == nil {
		return nil, fmt.Errorf("engine: the model was closed")
	}
	key := execKey{g, shapesKey(args)}
	exec, ok := m.execs[key]
	if !ok {
		var err error
		build := (func(*gmodel.Scope, []*graph.Node) []*graph.Node)(g.Build)
		if d := m.eng.data; d != nil && d.shardParams {
			build = d.keepVariableSpecs(m.store, &exec, build)
		}
		if exec, err = gmodel.NewExec(m.eng.backend, m.store, build); err != nil {
			return nil, err
		}
		exec.SetMaxCache(1) // one shape: the key's
		if d := m.eng.data; d != nil {
			if err := d.shardVariables(m.store); err != nil {
				exec.Finalize()
				return nil, err
			}
			if err := d.configure(exec, args); err != nil {
				exec.Finalize()
				return nil, err
			}
		}
	}
	start := time.Now()
	callArgs := anys(args)
	if d := m.eng.data; d != nil { // several devices: devices.go
		var err error
		if callArgs, err = d.shard(args); err != nil {
			if !ok {
				exec.Finalize()
			}
			return nil, err
		}
	}
	res, err := exec.Call(callArgs...)
	if err == nil && m.eng.data != nil {
		res, err = m.eng.data.collect(res)
	}
	if ok {
		return res, err
	}
	if err != nil {
		exec.Finalize()
		return nil, err
	}
	m.execs[key] = exec
	m.compiles.Count++
	m.compiles.Seconds += time.Since(start).Seconds()
	return res, nil
}

// Release drops the executables compiled for g (the training stage's
// graphs when it is done with them).
func (m *Model) Release(g *GraphKind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = catch(func() error {
		for k, e := range m.execs {
			if k.graph == g {
				e.Finalize()
				delete(m.execs, k)
			}
		}
		return nil
	})
}

// dropExecs releases every compiled graph (m.mu held): on Close, and when
// an adapter is attached (they were compiled without it).
func (m *Model) dropExecs() {
	for k, e := range m.execs {
		e.Finalize()
		delete(m.execs, k)
	}
	m.graphs = modelGraphs{}
}

// numExecs returns how many executables of the graphs gs are cached.
func (m *Model) numExecs(gs ...*GraphKind) int {
	n := 0
	for k := range m.execs {
		for _, g := range gs {
			if k.graph == g {
				n++
			}
		}
	}
	return n
}

// callFlat runs g on args and returns its first output's values (m.mu
// held, inside catch).
func (m *Model) callFlat(g *GraphKind, args ...*tensors.Tensor) ([]float32, error) {
	res, err := m.call(g, args)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, t := range res {
			_ = t.FinalizeAll()
		}
	}()
	return tensors.CopyFlatData[float32](res[0])
}
