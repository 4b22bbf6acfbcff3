package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers the pure-Go backend "go".
)

// DefaultBackend is the backend configuration used when neither
// [Options.Backend] nor $GOMLX_BACKEND is set: see [AutoBackend].
const DefaultBackend = AutoBackend

// DefaultGoBackend is the pure-Go backend configuration: the one "auto"
// falls back to, and the one of binaries built without -tags xla.
const DefaultGoBackend = "go:ops_sequential"

// Default values of [Options].
const (
	DefaultBatchTokens = 2048
	DefaultVocabChunk  = 8192
)

// Options configures an [Engine].
type Options struct {
	// Backend is a GoMLX backend configuration such as "go",
	// "go:ops_sequential" or (built with -tags xla) "xla:/abs/plugin.so";
	// "cuda" for the CUDA plugin of an installed JAX wheel (see
	// [DetectCUDA]), "xla:cpu" for OpenXLA's CPU plugin from PyPI (see
	// [XLACPUBackend]), or "auto" (see [AutoBackend]). Empty means
	// $GOMLX_BACKEND, or DefaultBackend when that is unset.
	Backend string
	// BatchTokens bounds the padded tokens (rows x bucketed length) of one
	// forward batch. Zero means DefaultBatchTokens. A single sequence longer
	// than BatchTokens still runs, alone.
	BatchTokens int
	// VocabChunk is the number of vocabulary columns whose logits exist at
	// the same time when computing log-softmax. Zero means DefaultVocabChunk.
	VocabChunk int
	// BF16 runs the forward pass in bf16 mixed precision (see
	// [GraphOptions.BF16]); weights stay float32.
	BF16 bool
	// Layout switches off the savings of issue #13 (see layout.go) for
	// comparison; the zero value has them all on.
	Layout Switches
	// Devices is the number of devices every graph runs data-parallel on
	// (see devices.go): 0 or 1 one device, -1 all the backend offers. More
	// than one needs an XLA backend.
	Devices int
	// ShardParams (with Devices > 1) shards every variable of a model's
	// store — weights, and a training stage's gradients and optimizer
	// state — over the devices on its first axis that divides by their
	// number, instead of one copy per device; XLA's partitioner gathers
	// them where a graph needs them (devices.go, FSDP/ZeRO-3 style).
	ShardParams bool
}

// Switches turn off the throughput layouts (see [LayoutOptions]).
type Switches struct {
	// Plain scores right-padded rows: the layout of one sequence per row
	// with every position scored ([PlainLayoutInputs]), the path before the
	// throughput layouts (NoSharedPrompt and NoPacking then do nothing).
	Plain bool
	// NoSharedPrompt computes a prompt once per completion.
	NoSharedPrompt bool
	// NoPacking puts one sequence (or shared-prompt group) per row.
	NoPacking bool
}

// layoutOptions are the layout options the switches leave on.
func (s Switches) layoutOptions() LayoutOptions {
	return LayoutOptions{SharedPrompt: !s.NoSharedPrompt, Pack: !s.NoPacking}
}

// graphOptions are the forward-graph options of the engine's own scoring.
func (e *Engine) graphOptions() GraphOptions {
	return GraphOptions{VocabChunk: e.opts.VocabChunk, BF16: e.opts.BF16}.withDefaults()
}

func (o Options) withDefaults() Options {
	if o.BatchTokens <= 0 {
		o.BatchTokens = DefaultBatchTokens
	}
	if o.VocabChunk <= 0 {
		o.VocabChunk = DefaultVocabChunk
	}
	return o
}

// Engine owns a compute backend. Models loaded through it share it.
type Engine struct {
	opts    Options
	config  string
	kind    string
	note    string
	backend compute.Backend
	data    *dataMesh // nil: one device (devices.go)
}

// New creates the backend described by opts.
func New(opts Options) (*Engine, error) {
	opts = opts.withDefaults()
	choice, err := resolveChoice(opts.Backend) // "auto", "xla:cpu", "cuda": see backend.go
	if err != nil {
		return nil, err
	}
	config, hint := choice.config, choice.hint
	if strings.HasPrefix(config, "xla:") {
		// Never download a plugin behind the user's back.
		_ = os.Setenv("GOMLX_NO_AUTO_INSTALL", "1")
	}
	name, _, _ := strings.Cut(config, ":")
	if !backendRegistered(name) {
		hint := ""
		if name == "xla" || name == "stablehlo" {
			hint = " (build with -tags xla to include the XLA backend)"
		}
		return nil, fmt.Errorf("engine: backend %q is not compiled in%s; available: %s",
			name, hint, strings.Join(compute.List(), ", "))
	}
	var backend compute.Backend
	err = catch(func() error {
		var err error
		backend, err = compute.NewWithConfig(config)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: creating backend %q: %w%s", config, err, hint)
	}
	if name == "xla" {
		if err := checkPJRTVersion(config, backend.Description()); err != nil {
			_ = catch(func() error { backend.Finalize(); return nil })
			return nil, err
		}
	}
	e := &Engine{opts: opts, config: config, kind: choice.kind, note: choice.note, backend: backend}
	if err := e.setDevices(opts.Devices); err != nil {
		_ = catch(func() error { backend.Finalize(); return nil })
		return nil, err
	}
	return e, nil
}

func backendRegistered(name string) bool {
	for _, n := range compute.List() {
		if n == name {
			return true
		}
	}
	return false
}

// BackendName returns the backend configuration in use, e.g.
// "go:ops_sequential" or "xla:/abs/path/xla_cpu_pjrt.so,shared_buffers".
func (e *Engine) BackendName() string { return e.config }

// BackendKind returns the kind of backend in use: "go", "xla:cpu",
// "xla:cuda", or "xla" for a plugin given by path. Runs on different kinds
// agree only within the oracles' tolerances (docs/oracles.md), not to the
// last bit.
func (e *Engine) BackendKind() string { return e.kind }

// NumDevices returns the number of devices the backend offers (the XLA CPU
// plugin reports several on one machine; pure Go one).
func (e *Engine) NumDevices() int { return e.backend.NumDevices() }

// LogBackend writes to log which backend runs, why when "auto" chose it,
// and, for XLA, the plugin's own description (path, PJRT C API version,
// devices).
func (e *Engine) LogBackend(log io.Writer) {
	if e.note != "" {
		fmt.Fprintf(log, "backend %s (%s)\n", e.kind, e.note)
	}
	if strings.HasPrefix(e.kind, "xla") {
		fmt.Fprintf(log, "backend: %s\n", e.backend.Description())
	}
}

// BackendNote says why the backend was chosen when it was chosen by
// "auto" (empty otherwise), for the log.
func (e *Engine) BackendNote() string { return e.note }

// Options returns the options in effect (defaults filled in).
func (e *Engine) Options() Options { return e.opts }

// Close releases the backend. Models loaded from e must not be used afterwards.
func (e *Engine) Close() {
	if e == nil || e.backend == nil {
		return
	}
	_ = catch(func() error { e.backend.Finalize(); return nil })
	e.backend = nil
}

// catch runs fn and turns a panic raised inside GoMLX (which reports graph
// building and execution errors by panicking) into an error. It is the one
// place in this package where panics are recovered.
func catch(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			switch v := r.(type) {
			case error:
				err = fmt.Errorf("gomlx: %w", v)
			default:
				err = fmt.Errorf("gomlx: %v", v)
			}
			if os.Getenv("DPO_ENGINE_PANIC_STACK") != "" {
				err = errors.Join(err, errors.New(string(debug.Stack())))
			}
		}
	}()
	return fn()
}
