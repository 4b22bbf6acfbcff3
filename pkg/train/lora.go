package train

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/ckpt"
	"github.com/dpo-go/dpo/pkg/engine"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// MergedDir is where --merge-lora writes the merged full model, inside --out.
const MergedDir = "merged"

// LoRAConfig selects LoRA training: only the adapters' A and B get
// gradients and optimizer state; the base model stays frozen and is never
// written. Checkpoints and --out hold a PEFT adapter directory.
type LoRAConfig struct {
	// R is the rank; 0 (with no Adapter) means full fine-tuning.
	R       int     `json:"r,omitempty"`
	Alpha   float64 `json:"lora_alpha,omitempty"`
	Dropout float64 `json:"lora_dropout,omitempty"`
	// Target is the comma-separated target_modules ("q_proj,v_proj") or
	// "all-linear"; empty means PEFT's default for the architecture
	// (q_proj,v_proj; GPT-2: c_attn).
	Target string `json:"target_modules,omitempty"`
	RSLoRA bool   `json:"use_rslora,omitempty"`
	// ModulesToSave is the comma-separated modules_to_save ("embed_tokens,
	// lm_head"): modules trained in full next to the adapters and saved in
	// the adapter file, as PEFT does.
	ModulesToSave string `json:"modules_to_save,omitempty"`
	// Adapter is a PEFT adapter directory to start from (its r, alpha and
	// targets apply).
	Adapter string `json:"adapter,omitempty"`
	// Merge also writes the merged full model to <out>/merged at the end.
	Merge bool `json:"merge_lora,omitempty"`
}

// Enabled reports whether the run trains an adapter.
func (l *LoRAConfig) Enabled() bool { return l.R > 0 || l.Adapter != "" }

// DefaultLoRAAlpha is PEFT's LoraConfig default lora_alpha.
const DefaultLoRAAlpha = 8

func (l *LoRAConfig) validate(c *Config) error {
	bad := func(format string, args ...any) error { return &ConfigError{Err: fmt.Errorf(format, args...)} }
	switch {
	case l.R < 0:
		return bad("--lora-r %d: must be >= 0 (0: full fine-tuning)", l.R)
	case l.Adapter != "" && (l.R > 0 || l.ModulesToSave != ""):
		return bad("--adapter takes r, lora_alpha, target_modules and modules_to_save from its adapter_config.json; drop --lora-r and --lora-modules-to-save")
	case !l.Enabled() && (l.Target != "" || l.RSLoRA || l.Merge || l.Dropout != 0 || l.ModulesToSave != ""):
		return bad("--lora-target, --use-rslora, --lora-dropout, --lora-modules-to-save and --merge-lora need --lora-r > 0 or --adapter")
	case l.R > 0 && !(l.Alpha > 0):
		return bad("--lora-alpha %v: must be > 0", l.Alpha)
	case !(l.Dropout >= 0 && l.Dropout < 1):
		return bad("--lora-dropout %v: must be in [0, 1)", l.Dropout)
	case l.Enabled() && c.Model == "" && !c.Resume:
		return bad("LoRA needs the base model: --model DIR")
	}
	return nil
}

// loraAdapter returns the adapter the run starts from: --adapter's, or a
// new one initialised as PEFT does (A Kaiming-uniform from the run's seed,
// B zeros).
func (r *runner) loraAdapter() (*adapter.Adapter, error) {
	l := &r.c.LoRA
	if l.Adapter != "" {
		a, err := adapter.Load(l.Adapter, r.cfg)
		if err != nil {
			return nil, fmt.Errorf("--adapter: %w", err)
		}
		if a.Config.Dropout != l.Dropout {
			fmt.Fprintf(r.log, "note: --adapter %s has lora_dropout %g; training uses --lora-dropout %g\n", l.Adapter, a.Config.Dropout, l.Dropout)
			a.Config.Dropout = l.Dropout
		}
		return a, nil
	}
	ac := adapter.Config{R: l.R, Alpha: l.Alpha, Dropout: l.Dropout, UseRSLoRA: l.RSLoRA, FanInFanOut: r.cfg.Arch == model.ArchGPT2}
	for _, m := range strings.Split(l.ModulesToSave, ",") {
		if m = strings.TrimSpace(m); m != "" {
			ac.ModulesToSave = append(ac.ModulesToSave, m)
		}
	}
	switch {
	case l.Target != "":
		ac.ParseTargets(l.Target)
	case r.cfg.Arch == model.ArchGPT2:
		ac.Targets = []string{"c_attn"}
	default:
		ac.Targets = []string{"q_proj", "v_proj"}
	}
	a, err := adapter.New(r.cfg, ac, rand.New(rand.NewPCG(uint64(r.c.Seed), 0x10a)))
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("--lora-target %q / --lora-modules-to-save %q: %w", l.Target, l.ModulesToSave, err)}
	}
	return a, nil
}

// attachLoRA puts the starting adapter into the model (before the
// optimizer is built: its parameters are then the adapter's).
func (r *runner) attachLoRA() error {
	if !r.c.LoRA.Enabled() {
		return nil
	}
	a, err := r.loraAdapter()
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(r.c.Model); err == nil {
		a.Config.BaseModel = abs
	}
	if err := r.checkReferenceAdapter(a); err != nil {
		return err
	}
	if err := r.mdl.AttachAdapter(a); err != nil {
		return err
	}
	if err := r.initLoRADropout(); err != nil {
		return err
	}
	fmt.Fprintf(r.log, "LoRA: r=%d alpha=%g (scale %g) on %d modules; %d trainable parameters\n",
		a.Config.R, a.Config.Alpha, a.Config.Scale(), len(a.Modules), numParams(r.mdl.AdapterSpecs()))
	if len(a.SavedSpecs) > 0 {
		fmt.Fprintf(r.log, "LoRA: modules_to_save %v trained in full (%d parameters)\n", a.Config.ModulesToSave, numParams(a.SavedSpecs))
	}
	return nil
}

func numParams(specs []model.ParamSpec) int {
	n := 0
	for _, s := range specs {
		k := 1
		for _, d := range s.Shape {
			k *= d
		}
		n += k
	}
	return n
}

// checkReferenceAdapter compares the adapter the policy starts from with
// the one dpo-reflogp recorded (stage options adapter_sha256): two
// different adapters are an error; an adapter on one side only is noted
// (a reference from the bare base is what TRL uses with PEFT, adapters
// disabled).
func (r *runner) checkReferenceAdapter(a *adapter.Adapter) error {
	if !r.obj.NeedsReference() {
		return nil
	}
	var st struct {
		AdapterSHA256 string `json:"adapter_sha256"`
	}
	if err := r.train.meta.StageOptions(arrowio.StageReflogp, &st); err != nil {
		return nil // a stream without reflogp options (hand-made): nothing to compare
	}
	switch {
	case a.SHA256 != "" && st.AdapterSHA256 != "" && a.SHA256 != st.AdapterSHA256:
		return fmt.Errorf("--adapter %s (sha256 %s) is not the adapter the reference log-probs of %s were computed with (sha256 %s)",
			r.c.LoRA.Adapter, a.SHA256, r.train.name, st.AdapterSHA256)
	case a.SHA256 != "" && st.AdapterSHA256 == "":
		fmt.Fprintf(r.log, "note: the reference log-probs of %s come from the base model without --adapter %s\n", r.train.name, r.c.LoRA.Adapter)
	case a.SHA256 == "" && st.AdapterSHA256 != "":
		fmt.Fprintf(r.log, "note: the reference log-probs of %s come from base + an adapter (sha256 %s); the new adapter starts from the base\n", r.train.name, st.AdapterSHA256)
	}
	return nil
}

// loraMeta is dpo.json's record of a LoRA run (nil for full fine-tuning).
func (r *runner) loraMeta() (*ckpt.LoRA, error) {
	if !r.c.LoRA.Enabled() {
		return nil, nil
	}
	if r.loraInfo == nil {
		a, err := r.mdl.ExportAdapter()
		if err != nil {
			return nil, err
		}
		info := &ckpt.LoRA{BaseModel: a.Config.BaseModel, Config: a.Config}
		if info.BaseWeightsSHA256, err = model.WeightsSHA256(r.c.Model); err != nil {
			return nil, err
		}
		if r.c.LoRA.Adapter != "" {
			if info.InitAdapterSHA256, err = adapter.Hash(r.c.LoRA.Adapter); err != nil {
				return nil, err
			}
		}
		r.loraInfo = info
	}
	return r.loraInfo, nil
}

// writeAdapter writes the current adapter as a PEFT directory (float32, as
// PEFT keeps adapter weights by default).
func (r *runner) writeAdapter(dir string) error {
	a, err := r.mdl.ExportAdapter()
	if err != nil {
		return err
	}
	return adapter.Save(dir, a, safetensors.F32)
}

// writeMerged writes base + adapter merged (W + s·B·A) as an HF checkpoint.
func (r *runner) writeMerged(dir string) error {
	a, err := r.mdl.ExportAdapter()
	if err != nil {
		return err
	}
	ws, err := r.mdl.ExportWeights()
	if err != nil {
		return err
	}
	if err := engine.MergeAdapter(r.cfg, ws, a); err != nil {
		return err
	}
	ts := make(map[string]*safetensors.Tensor, len(ws))
	for _, s := range model.ParamSpecs(r.cfg) {
		if ts[s.Name], err = safetensors.FromFloat32(s.Name, safetensors.F32, s.Shape, ws[s.Name]); err != nil {
			return err
		}
	}
	return model.Save(dir, &model.Checkpoint{Config: r.cfg, Tensors: ts}, r.dtype)
}

// trainableSpecs are the parameters the optimizer updates: the adapter's
// when the model has one, else every weight.
func trainableSpecs(m *engine.Model) []model.ParamSpec {
	if s := m.AdapterSpecs(); s != nil {
		return s
	}
	return model.ParamSpecs(m.Config())
}

// loraDropoutVar holds the RNG state LoRA dropout draws its masks from:
// set before every micro-batch from the seed, the step and the
// micro-batch's index (seedLoRADropout), so the masks depend on nothing
// else and a resumed run draws the same ones. It is not training state.
const loraDropoutVar = "/train_lora_dropout_rng"

// initLoRADropout creates the RNG-state variable when the run uses LoRA
// dropout (before the gradient graph is built).
func (r *runner) initLoRADropout() error {
	if r.c.LoRA.Dropout == 0 {
		return nil
	}
	return catch(func() error {
		v, err := r.mdl.Store().CreateVariable(loraDropoutVar, loraDropoutState(0, 0, 0))
		if err != nil {
			return err
		}
		v.SetTrainable(false)
		return nil
	})
}

// loraDropoutState is the RNG state of micro-batch u of step k (0-based):
// the first graph.RNGStateShape.Size() Uint64 draws of
// rand.NewPCG(uint64(seed) ^ 0xd50b0a7, uint64(k)<<20 | uint64(u)), the
// step in the high bits of the stream, the micro-batch in the low 20.
func loraDropoutState(seed int64, k, u int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(uint64(seed)^0xd50b0a7, uint64(k)<<20|uint64(u)))
	n := graph.RNGStateShape.Size()
	st := make([]uint64, n)
	for i := range st {
		st[i] = rng.Uint64()
	}
	return tensors.FromFlatDataAndDimensions(st, graph.RNGStateShape.Dimensions...)
}

// seedLoRADropout sets the dropout masks of micro-batch u of step k.
func (r *runner) seedLoRADropout(k, u int) error {
	if r.c.LoRA.Dropout == 0 {
		return nil
	}
	return catch(func() error {
		v := r.mdl.Store().GetVariable(loraDropoutVar)
		if v == nil {
			return fmt.Errorf("train: LoRA dropout state missing")
		}
		return v.SetValue(loraDropoutState(r.c.Seed, k, u))
	})
}

// loraDropout is the gradient graph's LoRA dropout (nil without).
func (o *optimizer) loraDropout(g *graph.Graph) *engine.LoRADropout {
	v := o.store.GetVariable(loraDropoutVar)
	if o.lora == nil || o.tc.LoRA.Dropout == 0 || v == nil {
		return nil
	}
	return &engine.LoRADropout{P: o.tc.LoRA.Dropout, State: v.NodeValue(g)}
}
