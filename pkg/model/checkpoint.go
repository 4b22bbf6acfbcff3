package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dpo-go/dpo/pkg/safetensors"
)

// Checkpoint is a model's configuration and weights.
type Checkpoint struct {
	Config *Config
	// Tensors maps the canonical HF names of ParamSpecs(Config) (GPT-2 with
	// the "transformer." prefix) to the weights. Tensors of a loaded
	// checkpoint alias the memory-mapped files and are valid until Close.
	Tensors map[string]*safetensors.Tensor
	// Dir is the directory the checkpoint was loaded from ("" for
	// RandomInit).
	Dir string

	set *safetensors.Set
}

// Close releases the memory-mapped files of a loaded checkpoint.
func (ck *Checkpoint) Close() error {
	if ck.set == nil {
		return nil
	}
	s := ck.set
	ck.set = nil
	return s.Close()
}

// Tensor returns a parameter by its canonical name, with an error naming
// it when absent.
func (ck *Checkpoint) Tensor(name string) (*safetensors.Tensor, error) {
	t, ok := ck.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("model: checkpoint %s has no tensor %q", ck.Dir, name)
	}
	return t, nil
}

// Float32s decodes a parameter to float32 (see safetensors.Tensor.Float32s).
func (ck *Checkpoint) Float32s(name string) ([]float32, error) {
	t, err := ck.Tensor(name)
	if err != nil {
		return nil, err
	}
	return t.Float32s()
}

func isFloat(d safetensors.DType) bool {
	switch d {
	case safetensors.F32, safetensors.BF16, safetensors.F16, safetensors.F64:
		return true
	}
	return false
}

// Load opens a Hugging Face model directory: config.json plus
// model.safetensors or a sharded model.safetensors.index.json. It checks
// that every tensor ParamSpecs expects is present, floating point and of
// the expected shape; it ignores known buffers (GPT-2's attn.bias and
// attn.masked_bias, rotary_emb.inv_freq) and rejects any other tensor.
// GPT-2 names are accepted with or without the "transformer." prefix. A
// tied model's file may carry lm_head.weight only as an exact copy of the
// embedding (transformers would overwrite it by tying).
func Load(dir string) (*Checkpoint, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	set, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	ck := &Checkpoint{Config: cfg, Tensors: map[string]*safetensors.Tensor{}, Dir: dir, set: set}
	if err := ck.bind(); err != nil {
		set.Close()
		return nil, fmt.Errorf("model: %s: %w", dir, err)
	}
	return ck, nil
}

func (ck *Checkpoint) bind() error {
	cfg := ck.Config
	specs := ParamSpecs(cfg)
	want := make(map[string]ParamSpec, len(specs))
	for _, s := range specs {
		want[s.Name] = s
	}
	var tiedHead *safetensors.Tensor
	for _, name := range ck.set.Names() {
		t, _ := ck.set.Tensor(name)
		canon := name
		if cfg.Arch == ArchGPT2 && !strings.HasPrefix(name, GPT2Prefix) && name != "lm_head.weight" {
			canon = GPT2Prefix + name
		}
		if isBuffer(cfg, canon) {
			continue
		}
		if canon == "lm_head.weight" && cfg.TieWordEmbeddings {
			tiedHead = t
			continue
		}
		if cfg.HasMoE() && fusedExperts(canon) { // Qwen3-MoE experts as one tensor per layer
			if err := ck.bindFusedExperts(name, t); err != nil {
				return err
			}
			continue
		}
		if _, ok := want[canon]; !ok {
			return fmt.Errorf("tensor %q: unexpected weight for %s (is config.json right?)", name, cfg.Arch)
		}
		if _, dup := ck.Tensors[canon]; dup {
			return fmt.Errorf("tensor %q: present both with and without the %q prefix", name, GPT2Prefix)
		}
		ck.Tensors[canon] = t
	}
	for _, s := range specs {
		t, ok := ck.Tensors[s.Name]
		if !ok {
			return fmt.Errorf("tensor %q: missing (expected shape %v)", s.Name, s.Shape)
		}
		if !equalShape(t.Shape, s.Shape) {
			return fmt.Errorf("tensor %q: expected shape %v, found %v", s.Name, s.Shape, t.Shape)
		}
		if !isFloat(t.DType) {
			return fmt.Errorf("tensor %q: dtype %s is not a floating-point type", s.Name, t.DType)
		}
	}
	if tiedHead != nil {
		emb := ck.Tensors[specs[0].Name]
		if tiedHead.DType != emb.DType || !equalShape(tiedHead.Shape, emb.Shape) || !bytes.Equal(tiedHead.Data, emb.Data) {
			return fmt.Errorf("tensor %q: tie_word_embeddings is true but lm_head.weight differs from %s", "lm_head.weight", specs[0].Name)
		}
	}
	return nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// RandomInit returns float32 weights initialised as transformers'
// _init_weights does: normal(0, initializer_range) for Linear/Conv1D and
// embedding weights (GPT-2: c_proj weights use std/sqrt(2*n_layer)), ones
// for norm scales, zeros for biases; Llama-family embeddings zero the
// pad_token_id row (nn.Embedding padding_idx).
//
// Determinism: one math/rand (Go 1 stable) source seeded with seed draws
// NormFloat64 values for the InitNormal tensors in ParamSpecs order, each
// in row-major order; the same seed gives the same weights on every
// platform and Go release.
func RandomInit(cfg *Config, seed int64) *Checkpoint {
	r := rand.New(rand.NewSource(seed))
	ck := &Checkpoint{Config: cfg, Tensors: map[string]*safetensors.Tensor{}}
	for _, s := range ParamSpecs(cfg) {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		v := make([]float32, n)
		switch s.Init {
		case InitNormal:
			for i := range v {
				v[i] = float32(r.NormFloat64() * s.Std)
			}
		case InitOnes:
			for i := range v {
				v[i] = 1
			}
		}
		if s.Name == "model.embed_tokens.weight" && cfg.PadTokenID >= 0 && cfg.PadTokenID < cfg.VocabSize {
			clear(v[cfg.PadTokenID*cfg.HiddenSize : (cfg.PadTokenID+1)*cfg.HiddenSize])
		}
		t, err := safetensors.FromFloat32(s.Name, safetensors.F32, s.Shape, v)
		if err != nil {
			panic(err) // unreachable: shape and length agree by construction
		}
		ck.Tensors[s.Name] = t
	}
	return ck
}

// torchDTypes maps safetensors dtypes to config.json's torch_dtype.
var torchDTypes = map[safetensors.DType]string{
	safetensors.F32: "float32", safetensors.BF16: "bfloat16", safetensors.F16: "float16",
}

// Save writes ck into dir as transformers does: config.json (the original
// JSON with torch_dtype set to dtype's name; "dtype" too when the file
// uses transformers v5's key) and model.safetensors with the HF names of
// ParamSpecs (GPT-2 with the "transformer." prefix), every tensor stored
// as dtype (F32, BF16 or F16, rounding to nearest even), and metadata
// {"format": "pt"}. Both files are written atomically; a stale
// model.safetensors.index.json in dir is removed so the new file is the
// one loaders read.
func Save(dir string, ck *Checkpoint, dtype safetensors.DType) error {
	tdt, ok := torchDTypes[dtype]
	if !ok {
		return fmt.Errorf("model: saving to %s: unsupported dtype %s (want F32, BF16 or F16)", dir, dtype)
	}
	cfg := ck.Config
	specs := ParamSpecs(cfg)
	out := make([]*safetensors.Tensor, 0, len(specs))
	for _, s := range specs {
		t, ok := ck.Tensors[s.Name]
		if !ok {
			return fmt.Errorf("model: saving to %s: tensor %q missing", dir, s.Name)
		}
		if !equalShape(t.Shape, s.Shape) {
			return fmt.Errorf("model: saving to %s: tensor %q: expected shape %v, found %v", dir, s.Name, s.Shape, t.Shape)
		}
		if t.DType == dtype {
			out = append(out, &safetensors.Tensor{Name: s.Name, DType: dtype, Shape: s.Shape, Data: t.Data})
			continue
		}
		v, err := t.Float32s()
		if err != nil {
			return fmt.Errorf("model: saving to %s: %w", dir, err)
		}
		nt, err := safetensors.FromFloat32(s.Name, dtype, s.Shape, v)
		if err != nil {
			return fmt.Errorf("model: saving to %s: %w", dir, err)
		}
		out = append(out, nt)
	}
	raw := cfg.Raw
	if raw == nil {
		switch cfg.Arch {
		case ArchGemma2, ArchGemma3, ArchOlmo2, ArchPhi3, ArchQwen3Moe:
			// hfJSON does not render these families' block options.
			return fmt.Errorf("model: saving to %s: a %s config built in code (not read from a config.json) cannot be written back", dir, cfg.Arch)
		}
		raw = cfg.hfJSON()
	}
	conf := make(map[string]any, len(raw)+1)
	for k, v := range raw {
		conf[k] = v
	}
	conf["torch_dtype"] = tdt
	if _, v5 := conf["dtype"]; v5 {
		conf["dtype"] = tdt
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep strings byte-identical (no \u003c)
	enc.SetIndent("", "  ")
	if err := enc.Encode(conf); err != nil {
		return fmt.Errorf("model: saving to %s: encoding config.json: %w", dir, err)
	}
	js := buf.Bytes()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("model: saving: %w", err)
	}
	if err := safetensors.Write(filepath.Join(dir, safetensors.SingleFile), out, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if err := safetensors.WriteAtomic(filepath.Join(dir, ConfigFile), func(w io.Writer) error {
		_, err := w.Write(js)
		return err
	}); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, safetensors.IndexFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("model: saving to %s: removing stale index: %w", dir, err)
	}
	return nil
}

// hfJSON renders a Config built in code (no Raw) as an HF config.json.
func (c *Config) hfJSON() map[string]any {
	m := map[string]any{
		"architectures":     []string{string(c.Arch)},
		"vocab_size":        c.VocabSize,
		"initializer_range": c.InitializerRange,
		"bos_token_id":      nullableID(c.BOSTokenID),
		"eos_token_id":      nullableID(c.EOSTokenID),
	}
	if len(c.EOSTokenIDs) > 1 {
		m["eos_token_id"] = c.EOSTokenIDs
	}
	if c.PadTokenID >= 0 {
		m["pad_token_id"] = c.PadTokenID
	}
	m["tie_word_embeddings"] = c.TieWordEmbeddings
	if c.Arch == ArchGPT2 {
		m["model_type"] = "gpt2"
		m["n_embd"], m["n_inner"], m["n_layer"], m["n_head"] = c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads
		m["n_positions"], m["layer_norm_epsilon"], m["activation_function"] = c.MaxPositions, c.LayerNormEps, c.HiddenAct
		return m
	}
	m["model_type"] = map[Arch]string{ArchLlama: "llama", ArchMistral: "mistral", ArchQwen2: "qwen2", ArchQwen3: "qwen3"}[c.Arch]
	m["hidden_size"], m["intermediate_size"], m["num_hidden_layers"] = c.HiddenSize, c.IntermediateSize, c.NumLayers
	m["num_attention_heads"], m["num_key_value_heads"], m["head_dim"] = c.NumHeads, c.NumKVHeads, c.HeadDim
	m["max_position_embeddings"], m["rms_norm_eps"], m["rope_theta"], m["hidden_act"] = c.MaxPositions, c.RMSNormEps, c.RopeTheta, c.HiddenAct
	if c.RopeScaling != nil {
		m["rope_scaling"] = c.RopeScaling
	}
	switch c.Arch {
	case ArchLlama, ArchQwen3:
		m["attention_bias"] = c.AttentionBias
		if c.Arch == ArchLlama {
			m["mlp_bias"] = c.MLPBias
		}
		if c.Arch == ArchQwen3 {
			c.qwenWindowJSON(m)
		}
	case ArchQwen2:
		c.qwenWindowJSON(m)
	case ArchMistral:
		if c.SlidingWindow > 0 {
			m["sliding_window"] = c.SlidingWindow
		} else {
			m["sliding_window"] = nil
		}
	}
	return m
}

// qwenWindowJSON writes Qwen2/Qwen3's sliding-window fields.
func (c *Config) qwenWindowJSON(m map[string]any) {
	if c.SlidingWindow <= 0 {
		return
	}
	m["use_sliding_window"], m["sliding_window"] = true, c.SlidingWindow
	types := make([]string, c.NumLayers)
	for i := range types {
		types[i] = "full_attention"
		if c.LayerWindow(i) > 0 {
			types[i] = "sliding_attention"
		}
	}
	m["layer_types"] = types
}

func nullableID(id int) any {
	if id < 0 {
		return nil
	}
	return id
}

// WeightsSHA256 is the hex SHA-256 identifying a model directory's weights:
// of model.safetensors for a single file; for a sharded checkpoint, of the
// index file's bytes followed by every shard file's bytes in sorted file
// name order.
func WeightsSHA256(dir string) (string, error) {
	h := sha256.New()
	var files []string
	idx := filepath.Join(dir, safetensors.IndexFile)
	if data, err := os.ReadFile(idx); err == nil {
		var ix struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(data, &ix); err != nil {
			return "", fmt.Errorf("model: %s: %w", idx, err)
		}
		seen := map[string]bool{}
		for _, f := range ix.WeightMap {
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
		sort.Strings(files)
		h.Write(data)
	} else if errors.Is(err, os.ErrNotExist) {
		files = []string{safetensors.SingleFile}
	} else {
		return "", fmt.Errorf("model: %w", err)
	}
	for _, name := range files {
		if err := hashFile(h, filepath.Join(dir, filepath.Base(name))); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ConfigSHA256 is the hex SHA-256 of config.json's bytes (given the file or
// its directory).
func ConfigSHA256(pathOrDir string) (string, error) {
	path := pathOrDir
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, ConfigFile)
	}
	h := sha256.New()
	if err := hashFile(h, path); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("model: hashing: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("model: hashing %s: %w", path, err)
	}
	return nil
}
