// Package adapter reads and writes LoRA adapters in the directory format of
// Hugging Face PEFT (adapter_config.json + adapter_model.safetensors) and
// maps them onto the linear modules of a model.Config.
//
// An adapter holds, for each adapted module (its HF module name, e.g.
// "model.layers.0.self_attn.q_proj" or "transformer.h.0.attn.c_attn"),
// A [r, in] and B [out, r]; the module computes W·x + s·B·A·x with
// s = alpha/r, or alpha/√r with use_rslora. The tensors are stored as
// "base_model.model.<module>.lora_A.weight" and "...lora_B.weight", as
// PEFT's save_pretrained writes them (checked against peft 0.21.2).
package adapter

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// File names of a PEFT adapter directory.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
	// KeyPrefix is what PEFT puts before the module name of every tensor.
	KeyPrefix = "base_model.model."
	// AllLinear is PEFT's target_modules shorthand for every linear layer
	// except the output layer (lm_head).
	AllLinear = "all-linear"
)

// Config is the part of PEFT's LoraConfig dpo understands. Fields PEFT
// writes that change the computation in ways dpo does not implement (DoRA,
// rank/alpha patterns, LoRA biases, layer selection) are rejected when set
// (see ParseConfig).
type Config struct {
	R       int     `json:"r"`
	Alpha   float64 `json:"lora_alpha"`
	Dropout float64 `json:"lora_dropout"`
	// Targets is the target_modules list; TargetRegex is set instead when
	// target_modules is a string (a regular expression that must match a
	// whole module name, or "all-linear").
	Targets     []string `json:"target_modules,omitempty"`
	TargetRegex string   `json:"target_regex,omitempty"`
	UseRSLoRA   bool     `json:"use_rslora"`
	// BaseModel is base_model_name_or_path ("" when null).
	BaseModel string `json:"base_model_name_or_path,omitempty"`
	// FanInFanOut is true for GPT-2's Conv1D modules (PEFT sets it); it
	// changes only how PEFT merges, not the adapter tensors.
	FanInFanOut bool `json:"fan_in_fan_out"`
	// ModulesToSave are modules trained in full next to the adapters
	// (PEFT's modules_to_save, e.g. embed_tokens, lm_head): an entry
	// selects every module whose name ends with it, as PEFT matches them;
	// their parameters are saved in the adapter file as
	// "base_model.model.<parameter>" (see ResolveSaved).
	ModulesToSave []string `json:"modules_to_save,omitempty"`
}

// Scale is the factor s of the adapter's update s·B·A.
func (c *Config) Scale() float64 {
	if c.UseRSLoRA {
		return c.Alpha / math.Sqrt(float64(c.R))
	}
	return c.Alpha / float64(c.R)
}

// Validate checks r, alpha, dropout and the targets.
func (c *Config) Validate() error {
	if c.R <= 0 {
		return fmt.Errorf("r must be positive, got %d", c.R)
	}
	if !(c.Alpha > 0) || math.IsInf(c.Alpha, 0) {
		return fmt.Errorf("lora_alpha must be positive, got %g", c.Alpha)
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		return fmt.Errorf("lora_dropout must be in [0, 1), got %g", c.Dropout)
	}
	if len(c.Targets) == 0 && c.TargetRegex == "" {
		return fmt.Errorf("target_modules is empty")
	}
	if c.TargetRegex != "" && c.TargetRegex != AllLinear {
		if _, err := regexp.Compile("^(?:" + c.TargetRegex + ")$"); err != nil {
			return fmt.Errorf("target_modules %q: %w", c.TargetRegex, err)
		}
	}
	return nil
}

// ParseTargets turns a --lora-target value ("q_proj,v_proj", "all-linear")
// into the config's targets.
func (c *Config) ParseTargets(s string) {
	s = strings.TrimSpace(s)
	c.Targets, c.TargetRegex = nil, ""
	if s == AllLinear {
		c.TargetRegex = AllLinear
		return
	}
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.Targets = append(c.Targets, t)
		}
	}
}

// Module is one linear layer of a model: its HF module name and the
// dimensions of x (In) and of its output (Out).
type Module struct {
	Name    string
	In, Out int
}

// LinearModules lists the linear layers of cfg's architecture that PEFT
// can adapt (nn.Linear, and GPT-2's Conv1D), in parameter order: every
// two-dimensional weight except the embeddings and lm_head.
func LinearModules(cfg *model.Config) []Module {
	var out []Module
	for _, s := range model.ParamSpecs(cfg) {
		name, ok := strings.CutSuffix(s.Name, ".weight")
		if !ok || len(s.Shape) != 2 || name == "lm_head" || (cfg.HasMoE() && strings.Contains(name, ".mlp.")) ||
			strings.HasSuffix(name, "embed_tokens") || strings.HasSuffix(name, ".wte") || strings.HasSuffix(name, ".wpe") {
			continue
		}
		m := Module{Name: name, In: s.Shape[1], Out: s.Shape[0]}
		if cfg.Arch == model.ArchGPT2 { // Conv1D weights are [in, out]
			m.In, m.Out = s.Shape[0], s.Shape[1]
		}
		out = append(out, m)
	}
	return out
}

// moeTargetsNote says which LoRA targets a mixture-of-experts model
// supports, and why.
const moeTargetsNote = "PEFT 0.21 turns the MLP names (gate_proj, up_proj, down_proj; also in dense layers) and the router (gate) " +
	"into target_parameters of the routed experts and router (all-linear includes them), which dpo does not implement; " +
	"adapt the attention projections (q_proj, k_proj, v_proj, o_proj)"

// Resolve returns the modules of cfg the config's targets select, as
// PEFT matches them: a list entry selects a module whose name equals it or
// ends with "." + it; a string is a regular expression matching the whole
// name; "all-linear" selects every linear layer but lm_head. Every list
// entry must select at least one module.
func (c *Config) Resolve(cfg *model.Config) ([]Module, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	all := LinearModules(cfg)
	if c.TargetRegex == AllLinear {
		if cfg.HasMoE() {
			return nil, fmt.Errorf("target_modules %q on the mixture-of-experts %s: %s", AllLinear, cfg.Arch, moeTargetsNote)
		}
		return all, nil
	}
	var re *regexp.Regexp
	if c.TargetRegex != "" {
		re = regexp.MustCompile("^(?:" + c.TargetRegex + ")$")
	}
	used := make(map[string]bool)
	var out []Module
	for _, m := range all {
		hit := false
		if re != nil {
			hit = re.MatchString(m.Name)
		}
		for _, t := range c.Targets {
			if m.Name == t || strings.HasSuffix(m.Name, "."+t) {
				hit, used[t] = true, true
			}
		}
		if hit {
			out = append(out, m)
		}
	}
	for _, t := range c.Targets {
		if !used[t] && cfg.HasMoE() {
			return nil, fmt.Errorf("target module %q matches no linear layer of the mixture-of-experts %s model that dpo adapts (%s): %s",
				t, cfg.Arch, strings.Join(suffixes(all), ", "), moeTargetsNote)
		}
		if !used[t] {
			return nil, fmt.Errorf("target module %q matches no linear layer of the %s model (linear layers: %s)",
				t, cfg.Arch, strings.Join(suffixes(all), ", "))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("target_modules %q matches no linear layer of the %s model", c.TargetRegex, cfg.Arch)
	}
	return out, nil
}

// suffixes returns the distinct last components of the module names.
func suffixes(ms []Module) []string {
	var out []string
	for _, m := range ms {
		s := m.Name[strings.LastIndex(m.Name, ".")+1:]
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Weights are one module's adapter matrices, row-major float32:
// A [R, In], B [Out, R].
type Weights struct {
	A, B []float32
}

// Adapter is a LoRA adapter bound to a model's modules.
type Adapter struct {
	Config  Config
	Modules []Module           // adapted modules, in parameter order
	Weights map[string]Weights // by module name
	// SavedSpecs are the parameters of the modules_to_save modules (HF
	// names, shapes as in the base), in parameter order; Saved holds their
	// values by name (a new adapter has none: they start as the base's).
	SavedSpecs []model.ParamSpec
	Saved      map[string][]float32
	// DType is the dtype of the adapter's tensors on disk (F32 for a new one).
	DType safetensors.DType
	// Dir and SHA256 (of adapter_config.json and adapter_model.safetensors)
	// are set by Load.
	Dir    string
	SHA256 string
}

// KeyA and KeyB are the PEFT tensor names of module's matrices.
func KeyA(module string) string { return KeyPrefix + module + ".lora_A.weight" }
func KeyB(module string) string { return KeyPrefix + module + ".lora_B.weight" }

// KeySaved is the PEFT tensor name of a modules_to_save parameter (HF
// name "model.embed_tokens.weight" -> "base_model.model.model.embed_tokens.weight").
func KeySaved(param string) string { return KeyPrefix + param }

// ResolveSaved returns the parameters of the modules the config's
// modules_to_save selects in cfg, as PEFT selects them: every module (a
// dotted prefix of a parameter name) whose name ends with an entry. Every
// entry must select a module; a selected module may not hold a LoRA target
// of the adapter (mods); lm_head and the input embeddings of a model with
// tied embeddings are refused (PEFT would train two separate copies of the
// one tied matrix, untying it, unless ensure_weight_tying is set).
func (c *Config) ResolveSaved(cfg *model.Config, mods []Module) ([]model.ParamSpec, error) {
	if len(c.ModulesToSave) == 0 {
		return nil, nil
	}
	specs := model.ParamSpecs(cfg)
	modules := map[string]bool{}
	for _, s := range specs {
		for i := range len(s.Name) {
			if s.Name[i] == '.' {
				modules[s.Name[:i]] = true
			}
		}
	}
	embed := ""
	for _, s := range specs {
		if strings.HasSuffix(s.Name, "embed_tokens.weight") || strings.HasSuffix(s.Name, ".wte.weight") {
			embed = strings.TrimSuffix(s.Name, ".weight")
		}
	}
	targeted := map[string]bool{}
	for _, m := range mods {
		targeted[m.Name] = true
	}
	sel := map[string]bool{}
	for _, e := range c.ModulesToSave {
		if e == "" {
			return nil, fmt.Errorf("modules_to_save: empty module name")
		}
		if cfg.TieWordEmbeddings && (strings.HasSuffix("lm_head", e) || strings.HasSuffix(embed, e)) {
			return nil, fmt.Errorf("modules_to_save %q: the %s model ties lm_head to its input embeddings (%s); "+
				"PEFT would train two separate copies of the tied matrix, which dpo does not support", e, cfg.Arch, embed)
		}
		hit := false
		for m := range modules {
			if strings.HasSuffix(m, e) {
				sel[m], hit = true, true
			}
		}
		if !hit {
			return nil, fmt.Errorf("modules_to_save %q matches no module of the %s model", e, cfg.Arch)
		}
	}
	var out []model.ParamSpec
	for _, s := range specs {
		for m := range sel {
			if !strings.HasPrefix(s.Name, m+".") {
				continue
			}
			for t := range targeted {
				if strings.HasPrefix(t+".", m+".") {
					return nil, fmt.Errorf("modules_to_save: module %s holds the LoRA target %s", m, t)
				}
			}
			out = append(out, s)
			break
		}
	}
	return out, nil
}

// New returns an adapter for cfg initialised as PEFT does by default: A
// Kaiming-uniform with a = √5 (uniform in ±1/√in), B zeros, so that the
// adapted model starts equal to the base. rng draws A module by module.
func New(cfg *model.Config, c Config, rng *rand.Rand) (*Adapter, error) {
	mods, err := c.Resolve(cfg)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	a := &Adapter{Config: c, Modules: mods, Weights: make(map[string]Weights, len(mods)), DType: safetensors.F32}
	if a.SavedSpecs, err = c.ResolveSaved(cfg, mods); err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	for _, m := range mods {
		// kaiming_uniform_(a=√5): gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√fan_in.
		bound := 1 / math.Sqrt(float64(m.In))
		A := make([]float32, c.R*m.In)
		for i := range A {
			A[i] = float32((2*rng.Float64() - 1) * bound)
		}
		a.Weights[m.Name] = Weights{A: A, B: make([]float32, m.Out*c.R)}
	}
	return a, nil
}

// rawConfig is adapter_config.json as PEFT writes it, with the fields dpo
// checks.
type rawConfig struct {
	PeftType          string          `json:"peft_type"`
	TaskType          *string         `json:"task_type"`
	R                 *int            `json:"r"`
	Alpha             *float64        `json:"lora_alpha"`
	Dropout           float64         `json:"lora_dropout"`
	TargetModules     json.RawMessage `json:"target_modules"`
	UseRSLoRA         bool            `json:"use_rslora"`
	UseDoRA           bool            `json:"use_dora"`
	Bias              *string         `json:"bias"`
	LoraBias          bool            `json:"lora_bias"`
	FanInFanOut       bool            `json:"fan_in_fan_out"`
	BaseModel         *string         `json:"base_model_name_or_path"`
	ModulesToSave     []string        `json:"modules_to_save"`
	RankPattern       map[string]any  `json:"rank_pattern"`
	AlphaPattern      map[string]any  `json:"alpha_pattern"`
	LayersToTransform json.RawMessage `json:"layers_to_transform"`
	ExcludeModules    json.RawMessage `json:"exclude_modules"`
	TargetParameters  json.RawMessage `json:"target_parameters"`
	LayerReplication  json.RawMessage `json:"layer_replication"`
}

func isNull(m json.RawMessage) bool {
	s := strings.TrimSpace(string(m))
	return s == "" || s == "null" || s == "[]"
}

// ParseConfig decodes adapter_config.json.
func ParseConfig(data []byte) (*Config, error) {
	var r rawConfig
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.PeftType != "LORA" {
		return nil, fmt.Errorf("field peft_type: %q is not LORA", r.PeftType)
	}
	if r.TaskType != nil && *r.TaskType != "CAUSAL_LM" {
		return nil, fmt.Errorf("field task_type: %q is not CAUSAL_LM", *r.TaskType)
	}
	if r.R == nil {
		return nil, fmt.Errorf("field r is missing")
	}
	if r.Alpha == nil {
		return nil, fmt.Errorf("field lora_alpha is missing")
	}
	unsupported := []struct {
		field string
		set   bool
	}{
		{"use_dora", r.UseDoRA},
		{"bias", r.Bias != nil && *r.Bias != "none"},
		{"lora_bias", r.LoraBias},
		{"rank_pattern", len(r.RankPattern) > 0},
		{"alpha_pattern", len(r.AlphaPattern) > 0},
		{"layers_to_transform", !isNull(r.LayersToTransform)},
		{"exclude_modules", !isNull(r.ExcludeModules)},
		{"target_parameters", !isNull(r.TargetParameters)},
		{"layer_replication", !isNull(r.LayerReplication)},
	}
	for _, u := range unsupported {
		if u.set {
			return nil, fmt.Errorf("field %s: set, which dpo does not support", u.field)
		}
	}
	c := &Config{R: *r.R, Alpha: *r.Alpha, Dropout: r.Dropout, UseRSLoRA: r.UseRSLoRA, FanInFanOut: r.FanInFanOut, ModulesToSave: r.ModulesToSave}
	if r.BaseModel != nil {
		c.BaseModel = *r.BaseModel
	}
	var list []string
	var str string
	switch {
	case isNull(r.TargetModules):
		return nil, fmt.Errorf("field target_modules is missing or empty")
	case json.Unmarshal(r.TargetModules, &list) == nil:
		c.Targets = list
	case json.Unmarshal(r.TargetModules, &str) == nil:
		c.TargetRegex = str
	default:
		return nil, fmt.Errorf("field target_modules: neither a list of names nor a string")
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("field %w", err)
	}
	return c, nil
}

// Load reads a PEFT adapter directory and binds it to cfg: every tensor
// must belong to a targeted linear module of cfg with the shapes r and
// the module imply, and every targeted module must have both matrices.
func Load(dir string, cfg *model.Config) (*Adapter, error) {
	cpath := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(cpath)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("adapter: %s: %w", cpath, err)
	}
	mods, err := c.Resolve(cfg)
	if err != nil {
		return nil, fmt.Errorf("adapter: %s: field target_modules: %w", cpath, err)
	}
	wpath := filepath.Join(dir, WeightsFile)
	f, err := safetensors.Open(wpath)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	defer f.Close()
	a := &Adapter{Config: *c, Modules: mods, Weights: make(map[string]Weights, len(mods)), Dir: dir}
	if a.SavedSpecs, err = c.ResolveSaved(cfg, mods); err != nil {
		return nil, fmt.Errorf("adapter: %s: field %w", cpath, err)
	}
	used := make(map[string]bool)
	a.Saved = make(map[string][]float32, len(a.SavedSpecs))
	for _, s := range a.SavedSpecs {
		key := KeySaved(s.Name)
		t, ok := f.Tensor(key)
		if !ok {
			return nil, fmt.Errorf("adapter: %s: no tensor %q for modules_to_save (shape %v)", wpath, key, s.Shape)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return nil, fmt.Errorf("adapter: %s: tensor %q has shape %v; the %s model implies %v", wpath, key, t.Shape, cfg.Arch, s.Shape)
		}
		if a.Saved[s.Name], err = t.Float32s(); err != nil {
			return nil, fmt.Errorf("adapter: %s: tensor %q: %w", wpath, key, err)
		}
		used[key] = true
	}
	for _, m := range mods {
		var w Weights
		for _, p := range []struct {
			key   string
			shape []int
			dst   *[]float32
		}{{KeyA(m.Name), []int{c.R, m.In}, &w.A}, {KeyB(m.Name), []int{m.Out, c.R}, &w.B}} {
			t, ok := f.Tensor(p.key)
			if !ok {
				return nil, fmt.Errorf("adapter: %s: no tensor %q for target module %s (shape %v)", wpath, p.key, m.Name, p.shape)
			}
			if !slices.Equal(t.Shape, p.shape) {
				return nil, fmt.Errorf("adapter: %s: tensor %q has shape %v; r=%d and the %s model imply %v",
					wpath, p.key, t.Shape, c.R, cfg.Arch, p.shape)
			}
			if *p.dst, err = t.Float32s(); err != nil {
				return nil, fmt.Errorf("adapter: %s: tensor %q: %w", wpath, p.key, err)
			}
			if a.DType == "" {
				a.DType = t.DType
			}
			used[p.key] = true
		}
		a.Weights[m.Name] = w
	}
	var unknown []string
	for _, n := range f.Names() {
		if !used[n] {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("adapter: %s: %d tensors belong to no target module of the %s model, first %q",
			wpath, len(unknown), cfg.Arch, unknown[0])
	}
	if a.SHA256, err = Hash(dir); err != nil {
		return nil, err
	}
	return a, nil
}

// LoadConfig reads only adapter_config.json (to find the base model).
func LoadConfig(dir string) (*Config, error) {
	cpath := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(cpath)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("adapter: %s: %w", cpath, err)
	}
	return c, nil
}

// IsAdapterDir reports whether dir holds an adapter_config.json.
func IsAdapterDir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, ConfigFile))
	return err == nil && st.Mode().IsRegular()
}

// Hash is the SHA-256 of adapter_config.json followed by
// adapter_model.safetensors, hex.
func Hash(dir string) (string, error) {
	h := sha256.New()
	for _, name := range []string{ConfigFile, WeightsFile} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("adapter: %w", err)
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("adapter: %s: %w", name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ConfigJSON returns adapter_config.json as PEFT writes it for these
// settings (targets as the adapted modules' full names, as PEFT saves an
// "all-linear" adapter).
func (a *Adapter) ConfigJSON() ([]byte, error) {
	targets := make([]string, len(a.Modules))
	for i, m := range a.Modules {
		targets[i] = m.Name
	}
	var saved any
	if len(a.Config.ModulesToSave) > 0 {
		saved = a.Config.ModulesToSave
	}
	var base any
	if a.Config.BaseModel != "" {
		base = a.Config.BaseModel
	}
	m := map[string]any{
		"peft_type":               "LORA",
		"task_type":               "CAUSAL_LM",
		"r":                       a.Config.R,
		"lora_alpha":              a.Config.Alpha,
		"lora_dropout":            a.Config.Dropout,
		"target_modules":          targets,
		"use_rslora":              a.Config.UseRSLoRA,
		"use_dora":                false,
		"bias":                    "none",
		"lora_bias":               false,
		"fan_in_fan_out":          a.Config.FanInFanOut,
		"init_lora_weights":       true,
		"inference_mode":          true,
		"base_model_name_or_path": base,
		"modules_to_save":         saved,
		"rank_pattern":            map[string]any{},
		"alpha_pattern":           map[string]any{},
		"layers_to_transform":     nil,
		"layers_pattern":          nil,
		"revision":                nil,
	}
	return json.MarshalIndent(m, "", "  ")
}

// Save writes the adapter as a PEFT directory (created if needed), its
// tensors in dtype (F32, BF16 or F16).
func Save(dir string, a *Adapter, dtype safetensors.DType) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("adapter: %w", err)
	}
	cfgJSON, err := a.ConfigJSON()
	if err != nil {
		return fmt.Errorf("adapter: %w", err)
	}
	var ts []*safetensors.Tensor
	for _, m := range a.Modules {
		w := a.Weights[m.Name]
		ta, err := safetensors.FromFloat32(KeyA(m.Name), dtype, []int{a.Config.R, m.In}, w.A)
		if err != nil {
			return fmt.Errorf("adapter: %w", err)
		}
		tb, err := safetensors.FromFloat32(KeyB(m.Name), dtype, []int{m.Out, a.Config.R}, w.B)
		if err != nil {
			return fmt.Errorf("adapter: %w", err)
		}
		ts = append(ts, ta, tb)
	}
	for _, s := range a.SavedSpecs {
		vals, ok := a.Saved[s.Name]
		if !ok {
			return fmt.Errorf("adapter: no values for modules_to_save parameter %s", s.Name)
		}
		t, err := safetensors.FromFloat32(KeySaved(s.Name), dtype, s.Shape, vals)
		if err != nil {
			return fmt.Errorf("adapter: %w", err)
		}
		ts = append(ts, t)
	}
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), ts, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("adapter: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), append(cfgJSON, '\n'), 0o644); err != nil {
		return fmt.Errorf("adapter: %w", err)
	}
	return nil
}
