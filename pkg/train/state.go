package train

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// File names inside a checkpoint directory.
const (
	StateFile       = "train_state.safetensors"
	TrainerFile     = "trainer_state.json"
	TrainConfigFile = "train_config.json"
	MetricsFile     = "metrics.jsonl"
	PlotFile        = "plot.png"
	checkpointPref  = "checkpoint-"
)

// determinism is the part of Config a resumed run must share with the run
// that wrote the checkpoint.
type determinism struct {
	Loss                                        string
	Beta, LabelSmoothing, SimPOGamma, Tau       float64
	ReferenceFree                               bool
	LDAlpha, FAlphaCoef                         float64
	FDivergence                                 string
	UseWeighting                                bool
	LR                                          float64
	Scheduler                                   string
	WarmupSteps                                 int
	WarmupRatio, WeightDecay, B1, B2, Eps, Clip float64
	BatchSize, BatchTokens, GradAccum           int
	Epochs                                      float64
	MaxSteps                                    int
	Seed                                        int64
	VocabChunk                                  int
	BF16                                        bool
	LoRA                                        LoRAConfig
	Layout                                      engine.Switches // the batches' layouts change last bits
	// The schedule's kwargs, resolved (absent from the identity when unset,
	// so that earlier runs' identities stand).
	MinLRRate float64 `json:",omitempty"`
	NumCycles float64 `json:",omitempty"`
	// Devices > 1: micro-batches hold BatchSize × Devices pairs (absent
	// on one device).
	Devices int `json:",omitempty"`
}

func (c *Config) determinism() determinism {
	loss := c.Loss
	if c.LossWeights != nil {
		loss += fmt.Sprint(c.LossWeights)
	}
	return determinism{loss, c.Beta, c.LabelSmoothing, c.SimPOGamma, c.DiscoPOPTau, c.ReferenceFree,
		c.ldAlpha(), c.FAlphaCoef, c.FDivergence, c.UseWeighting,
		c.LR, c.Scheduler, c.WarmupSteps, c.WarmupRatio, c.WeightDecay, c.AdamBeta1, c.AdamBeta2, c.AdamEps,
		c.MaxGradNorm, c.BatchSize, c.BatchTokens, c.GradAccum, c.Epochs, c.MaxSteps, c.Seed, c.VocabChunk, c.BF16, c.LoRA, c.Layout,
		c.SchedulerKwargs.minLRRate(c.LR), c.SchedulerKwargs.numCycles(), c.devicesIdent()}
}

// checkpoints returns the complete checkpoint directories of out, oldest
// first (a directory is complete once renamed from its .tmp name).
func checkpoints(out string) ([]int, error) {
	ents, err := os.ReadDir(out)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var steps []int
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, checkpointPref) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(name, checkpointPref))
		if err != nil || n < 0 {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, name, TrainerFile)); err != nil {
			continue
		}
		steps = append(steps, n)
	}
	sort.Ints(steps)
	return steps, nil
}

func checkpointDir(out string, step int) string {
	return filepath.Join(out, fmt.Sprintf("%s%d", checkpointPref, step))
}

// readState reads the trainer state and the float32 tensors of a checkpoint.
func readState(dir string) (st trainerState, ts map[string]*safetensors.Tensor, err error) {
	b, err := os.ReadFile(filepath.Join(dir, TrainerFile))
	if err != nil {
		return st, nil, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, nil, fmt.Errorf("%s: %w", filepath.Join(dir, TrainerFile), err)
	}
	f, err := safetensors.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return st, nil, err
	}
	ts = make(map[string]*safetensors.Tensor)
	for _, n := range f.Names() {
		t, _ := f.Tensor(n)
		ts[n] = t
	}
	return st, ts, nil
}

func readConfig(dir string) (*Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, TrainConfigFile))
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, TrainConfigFile), err)
	}
	return &c, nil
}

// variableF32 copies a store variable to the host.
func (o *optimizer) variableF32(path string) ([]float32, error) {
	var vals []float32
	err := catch(func() error {
		v := o.store.GetVariable(path)
		if v == nil {
			return fmt.Errorf("no variable %q", path)
		}
		t, err := v.Value()
		if err != nil {
			return err
		}
		vals, err = tensors.CopyFlatData[float32](t)
		return err
	})
	return vals, err
}

func (o *optimizer) setVariable(path string, shape []int, vals []float32) error {
	return o.mdl.SetVariable(path, tensors.FromFlatDataAndDimensions(vals, shape...))
}

// stateTensors returns the master weights and both moments as F32
// tensors named "param/<hf>", "adam_m/<hf>", "adam_v/<hf>", each copied
// from the device when the writer reaches it (safetensors.Tensor.Lazy):
// the host holds one tensor of the state at a time, not all three copies
// of the model (5.5 GiB at the Qwen2.5-0.5B shape).
func (o *optimizer) stateTensors() ([]*safetensors.Tensor, error) {
	var out []*safetensors.Tensor
	for _, pre := range []struct{ scope, name string }{{"/", "param/"}, {scopeM, "adam_m/"}, {scopeV, "adam_v/"}} {
		for _, s := range o.specs {
			path, name, shape := pre.scope+s.Name, pre.name+s.Name, s.Shape
			out = append(out, &safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: append([]int(nil), shape...),
				Lazy: func() ([]byte, error) {
					vals, err := o.variableF32(path)
					if err != nil {
						return nil, err
					}
					t, err := safetensors.FromFloat32(name, safetensors.F32, shape, vals)
					if err != nil {
						return nil, err
					}
					return t.Data, nil
				}})
		}
	}
	return out, nil
}

// loadState puts a checkpoint's weights and moments into the store.
func (o *optimizer) loadState(ts map[string]*safetensors.Tensor) error {
	for _, pre := range []struct{ scope, name string }{{"/", "param/"}, {scopeM, "adam_m/"}, {scopeV, "adam_v/"}} {
		for _, s := range o.specs {
			t, ok := ts[pre.name+s.Name]
			if !ok {
				return fmt.Errorf("training state has no tensor %q", pre.name+s.Name)
			}
			if t.DType != safetensors.F32 || fmt.Sprint(t.Shape) != fmt.Sprint(s.Shape) {
				return fmt.Errorf("training state tensor %q: %s %v, want F32 %v", pre.name+s.Name, t.DType, t.Shape, s.Shape)
			}
			vals, err := t.Float32s()
			if err != nil {
				return err
			}
			if err := o.setVariable(pre.scope+s.Name, s.Shape, vals); err != nil {
				return err
			}
		}
	}
	return nil
}

// weightTensors returns the current weights as F32 tensors with HF names.
func (o *optimizer) weightTensors() (map[string]*safetensors.Tensor, error) {
	out := make(map[string]*safetensors.Tensor, len(o.specs))
	for _, s := range o.specs {
		vals, err := o.variableF32("/" + s.Name)
		if err != nil {
			return nil, err
		}
		t, err := safetensors.FromFloat32(s.Name, safetensors.F32, s.Shape, vals)
		if err != nil {
			return nil, err
		}
		out[s.Name] = t
	}
	return out, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return safetensors.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// syncDir fsyncs a directory so that a rename in it is durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if err1 := f.Close(); err == nil {
		err = err1
	}
	return err
}
