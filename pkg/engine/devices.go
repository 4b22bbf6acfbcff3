package engine

import (
	"fmt"

	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
	gmodel "github.com/gomlx/gomlx/ml/model"
)

// This file runs the model's graphs data-parallel over several devices of
// one XLA backend (issue #26) through GoMLX's distributed engine: every
// executable is compiled with AutoSharding over a 1-D mesh of N devices
// named "data"; an input whose leading (row) axis divides by N is sharded
// on it, every other input and every weight is replicated, and XLA's
// partitioner (Shardy/GSPMD) splits the computation and inserts the
// collectives (the gradient's all-reduce included). The partitioned
// program computes the same function as the one-device program whatever
// is sharded (RNG ops excepted, so the graphs draw none: LoRA dropout's
// masks are a hash, lora.go), so a sharding choice only changes the
// speed; the planners pad a batch's rows to a multiple of N (padRows,
// rowMultiple, planGenerate) so that the row axis does split. Every output
// is declared replicated: device 0's copy is the result. With
// Options.ShardParams every variable is split over the devices too
// (paramSpec, shardVariables, keepVariableSpecs), FSDP/ZeRO-3 style.

// dataAxis names the mesh's one axis.
const dataAxis = "data"

// dataMesh is a 1-D mesh of n > 1 devices and its sharding specs.
type dataMesh struct {
	n          int
	mesh       *distributed.DeviceMesh
	replicated *distributed.ShardingSpec
	// shardParams: variables are split over the devices (paramSpec).
	shardParams bool
}

// setDevices resolves [Options.Devices] against the backend (-1: all of
// its devices) and builds the data mesh when more than one.
func (e *Engine) setDevices(n int) error {
	have := 1
	if err := catch(func() error { have = e.backend.NumDevices(); return nil }); err != nil {
		return err
	}
	if n == -1 {
		n = have
	}
	if n < -1 {
		return fmt.Errorf("engine: %d devices: want a positive count, or -1 (all)", n)
	}
	if n <= 1 {
		if e.opts.ShardParams {
			return fmt.Errorf("engine: --shard-params splits the weights over several devices; this run has one (--devices N, N > 1, on an XLA backend)")
		}
		e.opts.Devices = 1
		return nil
	}
	if e.kind == "go" || e.backend.Name() == "go" {
		return fmt.Errorf("engine: --devices needs an XLA backend: backend %q runs graphs on one device (build with -tags xla and use --backend xla:cpu or cuda)", e.config)
	}
	if n > have {
		return fmt.Errorf("engine: %d devices asked for, backend %q offers %d", n, e.config, have)
	}
	mesh, err := distributed.NewDeviceMesh([]int{n}, []string{dataAxis})
	if err != nil {
		return fmt.Errorf("engine: a mesh of %d devices: %w", n, err)
	}
	e.opts.Devices = n
	e.data = &dataMesh{n: n, mesh: mesh, replicated: distributed.NewReplicatedShardingSpec(mesh), shardParams: e.opts.ShardParams}
	return nil
}

// Devices returns the number of devices graphs run on (1 unless
// [Options.Devices] asked for more).
func (e *Engine) Devices() int {
	if e.data == nil {
		return 1
	}
	return e.data.n
}

// rowMultiple rounds a batch's row count up to a multiple of the devices.
func (e *Engine) rowMultiple(rows int) int {
	n := e.Devices()
	return (rows + n - 1) / n * n
}

// spec returns the sharding of an input of shape dims: on the data axis
// when its leading axis divides by the devices, else replicated.
func (d *dataMesh) spec(dims []int) *distributed.ShardingSpec {
	if len(dims) == 0 || dims[0]%d.n != 0 {
		return d.replicated
	}
	b := distributed.BuildSpec(d.mesh).S(dataAxis)
	for range dims[1:] {
		b = b.R()
	}
	s, err := b.Done()
	if err != nil {
		panic(err) // a 1-D mesh's own axis: cannot fail
	}
	return s
}

// paramSpec returns a variable's sharding with ShardParams: on the data
// axis along its first axis that divides by the devices, replicated when
// none does (norms' odd sizes, scalars).
func (d *dataMesh) paramSpec(dims []int) *distributed.ShardingSpec {
	for a, n := range dims {
		if n%d.n != 0 {
			continue
		}
		b := distributed.BuildSpec(d.mesh)
		for i := range dims {
			if i == a {
				b = b.S(dataAxis)
			} else {
				b = b.R()
			}
		}
		s, err := b.Done()
		if err != nil {
			panic(err) // a 1-D mesh's own axis: cannot fail
		}
		return s
	}
	return d.replicated
}

// shardVariables gives every variable of store that has no sharding yet
// its paramSpec, before an executable first uses it (a variable's sharding
// is fixed once it holds a value on the devices). Without ShardParams it
// does nothing: the store's default, replicated, applies.
func (d *dataMesh) shardVariables(store *gmodel.Store) error {
	if !d.shardParams {
		return nil
	}
	for v := range store.IterVariables() {
		if v.ShardingSpec() != nil {
			continue
		}
		if err := v.SetShardingSpec(d.paramSpec(v.Shape().Dimensions)); err != nil {
			return fmt.Errorf("sharding variable %s over %d devices: %w", v.Path(), d.n, err)
		}
	}
	return nil
}

// keepVariableSpecs wraps a graph builder so that the variables the graph
// sets keep their sharding: model.Exec returns their new values as the
// graph's first outputs (in the store's order) and applies the output
// specs to them too, which configure declares replicated for the graph's
// own outputs; a sharded variable's new value declared replicated would
// come back whole from each device and be taken for N shards. Once the
// graph is built (before it is compiled), the builder declares each
// changed variable's own spec, then replicated for the rest.
func (d *dataMesh) keepVariableSpecs(store *gmodel.Store, exec **gmodel.Exec, build func(*gmodel.Scope, []*graph.Node) []*graph.Node) func(*gmodel.Scope, []*graph.Node) []*graph.Node {
	return func(s *gmodel.Scope, in []*graph.Node) []*graph.Node {
		out := build(s, in)
		var g *graph.Graph
		for _, n := range append(append([]*graph.Node(nil), in...), out...) {
			if n != nil {
				g = n.Graph()
				break
			}
		}
		if g == nil {
			return out
		}
		var specs []*distributed.ShardingSpec
		for v := range store.IterVariables() {
			if v.ChangedInGraph(g) {
				spec := v.ShardingSpec()
				if spec == nil {
					spec = d.replicated
				}
				specs = append(specs, spec)
			}
		}
		(*exec).WithOutputShardingSpecs(append(specs, d.replicated)...)
		return out
	}
}

// ParamBytes returns the bytes of a model's variables (weights, and a
// training stage's gradients and optimizer state) that each device holds,
// and their full size: the shapes of the buffers a variable is split into
// once a graph has run (Variable.ShardShape; before, the sharding it will
// get). perDevice is total on one device and when replicated, about
// total/N with [Options.ShardParams].
func (m *Model) ParamBytes() (perDevice, total int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.eng.data
	for v := range m.store.IterVariables() {
		total += int64(v.Shape().Memory())
		switch {
		case d != nil && d.shardParams && v.ShardingSpec() == nil:
			perDevice += int64(d.paramSpec(v.Shape().Dimensions).ShardShape(v.Shape()).Memory())
		default:
			perDevice += int64(v.ShardShape().Memory())
		}
	}
	return perDevice, total
}

// configure makes exec run over the mesh for inputs shaped as args.
func (d *dataMesh) configure(exec *gmodel.Exec, args []*tensors.Tensor) error {
	specs := make([]*distributed.ShardingSpec, len(args))
	for i, t := range args {
		specs[i] = d.spec(t.Shape().Dimensions)
	}
	exec.AutoSharding(d.mesh).WithInputShardingSpecs(specs...).WithOutputShardingSpecs(d.replicated)
	return exec.SetDefaultShardingSpec(d.replicated) // weights: one copy per device
}

// shard splits args into the device-major list of shards an executable
// over the mesh takes: device 0's inputs, then device 1's, ...
func (d *dataMesh) shard(args []*tensors.Tensor) ([]any, error) {
	out := make([]any, d.n*len(args))
	for i, t := range args {
		dt, err := dtensor.ShardTensor(d.spec(t.Shape().Dimensions), t)
		if err != nil {
			return nil, fmt.Errorf("sharding input %d %s over %d devices: %w", i, t.Shape(), d.n, err)
		}
		for dev, s := range dt.Shards() {
			out[dev*len(args)+i] = s
		}
	}
	return out, nil
}

// collect returns device 0's outputs of res (device-major, every output
// replicated) and frees the other devices' copies.
func (d *dataMesh) collect(res []*tensors.Tensor) ([]*tensors.Tensor, error) {
	if len(res)%d.n != 0 {
		return nil, fmt.Errorf("engine: %d outputs over %d devices", len(res), d.n)
	}
	per := len(res) / d.n
	for _, t := range res[per:] {
		_ = t.FinalizeAll()
	}
	return res[:per], nil
}

// padRows returns l with empty rows appended (no segment, nothing scored)
// up to a multiple of the devices; l itself when it already is one.
func (e *Engine) padRows(l *Layout) *Layout {
	B := e.rowMultiple(l.Rows)
	if B == l.Rows {
		return l
	}
	p := *l
	extra := (B - l.Rows) * l.Len
	p.Rows = B
	p.Tokens = append(append([]int32(nil), l.Tokens...), make([]int32, extra)...)
	p.Positions = append(append([]int32(nil), l.Positions...), make([]int32, extra)...)
	p.Branch = append(append([]int32(nil), l.Branch...), make([]int32, extra)...)
	p.Doc = append([]int32(nil), l.Doc...)
	for range extra {
		p.Doc = append(p.Doc, -1)
	}
	return &p
}

// PadRows returns l with empty rows appended up to a multiple of the
// devices the engine runs on (l itself on one device): the training
// stage's micro-batches.
func (e *Engine) PadRows(l *Layout) *Layout { return e.padRows(l) }
