package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// ConfigFile is the name of a Hugging Face model configuration file.
const ConfigFile = "config.json"

// LoadConfig reads a Hugging Face config.json, given either the file or the
// model directory holding it.
func LoadConfig(pathOrDir string) (*Config, error) {
	path := pathOrDir
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, ConfigFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: reading config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses the bytes of a config.json. Defaults are those of the
// transformers configuration classes (LlamaConfig, MistralConfig,
// Qwen2Config, Qwen3Config, GPT2Config). Settings that change the math and
// that this package does not implement are rejected with an error naming
// the field: a wrong guess would silently produce wrong log-probabilities.
func ParseConfig(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parsing JSON: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("config is not a JSON object")
	}
	if err := checkRawSizes(raw); err != nil {
		return nil, err
	}
	r := rawConfig{m: raw}
	arch, err := r.arch()
	if err != nil {
		return nil, err
	}
	var cfg *Config
	switch arch {
	case ArchGPT2:
		cfg, err = r.gpt2()
	case ArchGemma2, ArchGemma3:
		cfg, err = r.gemma(arch)
	case ArchOlmo2:
		cfg, err = r.olmo2()
	case ArchPhi3:
		cfg, err = r.phi3()
	default:
		cfg, err = r.llamaFamily(arch)
	}
	if err != nil {
		return nil, err
	}
	cfg.Raw = raw
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate checks the internal consistency of the normalised fields.
func (c *Config) Validate() error {
	pos := []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize},
		{"intermediate_size", c.IntermediateSize}, {"num_hidden_layers", c.NumLayers},
		{"num_attention_heads", c.NumHeads}, {"num_key_value_heads", c.NumKVHeads},
		{"head_dim", c.HeadDim}, {"max_position_embeddings", c.MaxPositions},
	}
	for _, p := range pos {
		if p.v <= 0 {
			return fmt.Errorf("field %q: must be positive, got %d", p.name, p.v)
		}
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		return fmt.Errorf("field %q: num_attention_heads %d is not a multiple of num_key_value_heads %d",
			"num_key_value_heads", c.NumHeads, c.NumKVHeads)
	}
	if c.Arch == ArchGPT2 {
		if c.HiddenSize%c.NumHeads != 0 {
			return fmt.Errorf("field %q: n_embd %d is not divisible by n_head %d", "n_head", c.HiddenSize, c.NumHeads)
		}
		if !(c.LayerNormEps > 0) {
			return fmt.Errorf("field %q: must be positive", "layer_norm_epsilon")
		}
	} else {
		if !(c.RMSNormEps > 0) {
			return fmt.Errorf("field %q: must be positive", "rms_norm_eps")
		}
		if !(c.RopeTheta > 0) {
			return fmt.Errorf("field %q: must be positive", "rope_theta")
		}
		if c.HeadDim%2 != 0 {
			return fmt.Errorf("field %q: rotary embeddings need an even head_dim, got %d", "head_dim", c.HeadDim)
		}
	}
	if err := c.MoE.validate(c.NumLayers); err != nil {
		return err
	}
	return c.checkSizes()
}

// CheckSeqLen reports whether sequences of n tokens are computed exactly by
// the implemented math: n must fit GPT-2's learned position table, and,
// with "dynamic" rope scaling, max_position_embeddings (see below). RoPE
// models are otherwise not limited by max_position_embeddings, and sliding
// windows are implemented for any length.
//
// Dynamic NTK scaling in transformers recomputes the rotary frequencies
// from the padded length of the batch it is given (torch.max(position_ids)+1)
// once that exceeds max_position_embeddings, and keeps the grown table for
// later calls: a sequence's log-probabilities then depend on what else is
// in its batch and on earlier batches, which a batched scorer cannot
// reproduce. Up to max_position_embeddings tokens (on a model that has not
// seen longer input) transformers uses the unscaled frequencies, which is
// what we compute; longer sequences are refused.
func (c *Config) CheckSeqLen(n int) error {
	if c.Arch == ArchGPT2 && n > c.MaxPositions {
		return fmt.Errorf("model: sequence of %d tokens exceeds n_positions %d", n, c.MaxPositions)
	}
	if rs := c.RopeScaling; rs != nil && rs.RopeType == "longrope" && n > rs.OriginalMaxPositionEmbeddings {
		return fmt.Errorf("model: sequence of %d tokens exceeds original_max_position_embeddings %d with longrope scaling: transformers switches to long_factor when the padded batch is longer, which depends on the batch, so it is refused", n, rs.OriginalMaxPositionEmbeddings)
	}
	if c.RopeScaling != nil && c.RopeScaling.RopeType == "dynamic" && n > c.MaxPositions {
		return fmt.Errorf("model: sequence of %d tokens exceeds max_position_embeddings %d with dynamic rope scaling: transformers rescales by the padded batch length beyond it, which depends on the batch, so it is refused", n, c.MaxPositions)
	}
	return nil
}

// rawConfig reads typed fields out of the decoded JSON, with errors that
// name the field.
type rawConfig struct{ m map[string]any }

func (r rawConfig) has(key string) bool {
	v, ok := r.m[key]
	return ok && v != nil
}

func (r rawConfig) int(key string, def int) (int, error) {
	v, ok := r.m[key]
	if !ok || v == nil {
		return def, nil
	}
	return toInt(key, v)
}

func toInt(key string, v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("field %q: want an integer, got %s", key, describeJSON(v))
	}
	i, err := n.Int64()
	if err != nil {
		// Accept integral floats such as 2048.0.
		f, ferr := n.Float64()
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, fmt.Errorf("field %q: want an integer, got %s", key, n)
		}
		i = int64(f)
	}
	return int(i), nil
}

func (r rawConfig) float(key string, def float64) (float64, error) {
	v, ok := r.m[key]
	if !ok || v == nil {
		return def, nil
	}
	return toFloat(key, v)
}

func toFloat(key string, v any) (float64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("field %q: want a number, got %s", key, describeJSON(v))
	}
	f, err := n.Float64()
	if err != nil {
		return 0, fmt.Errorf("field %q: %w", key, err)
	}
	return f, nil
}

func (r rawConfig) bool(key string, def bool) (bool, error) {
	v, ok := r.m[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("field %q: want true or false, got %s", key, describeJSON(v))
	}
	return b, nil
}

func (r rawConfig) string(key, def string) (string, error) {
	v, ok := r.m[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("field %q: want a string, got %s", key, describeJSON(v))
	}
	return s, nil
}

// tokenIDs reads an id that may be null, an integer or a list of integers.
func (r rawConfig) tokenIDs(key string, def []int) ([]int, error) {
	v, ok := r.m[key]
	if !ok {
		return def, nil
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]int, 0, len(v))
		for _, e := range v {
			i, err := toInt(key, e)
			if err != nil {
				return nil, err
			}
			out = append(out, i)
		}
		return out, nil
	default:
		i, err := toInt(key, v)
		if err != nil {
			return nil, err
		}
		return []int{i}, nil
	}
}

func first(ids []int) int {
	if len(ids) == 0 {
		return -1
	}
	return ids[0]
}

// arch resolves the architecture from "architectures" (or, failing that,
// "model_type").
func (r rawConfig) arch() (Arch, error) {
	known := map[Arch]bool{ArchLlama: true, ArchMistral: true, ArchQwen2: true, ArchQwen3: true, ArchGPT2: true,
		ArchGemma2: true, ArchGemma3: true, ArchOlmo2: true, ArchPhi3: true, ArchQwen3Moe: true}
	byType := map[string]Arch{"llama": ArchLlama, "mistral": ArchMistral, "qwen2": ArchQwen2, "qwen3": ArchQwen3, "gpt2": ArchGPT2,
		"gemma2": ArchGemma2, "gemma3_text": ArchGemma3, "olmo2": ArchOlmo2, "phi3": ArchPhi3, "qwen3_moe": ArchQwen3Moe}
	if v, ok := r.m["architectures"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return "", fmt.Errorf("field %q: want a non-empty list of strings, got %v", "architectures", v)
		}
		if len(list) > 1 {
			return "", fmt.Errorf("field %q: several architectures %v; want exactly one", "architectures", list)
		}
		s, ok := list[0].(string)
		if !ok {
			return "", fmt.Errorf("field %q: want a string, got %v", "architectures", list[0])
		}
		if why, ok := refusedArchs[s]; ok {
			return "", fmt.Errorf("field %q: architecture %q is not supported: %s", "architectures", s, why)
		}
		if !known[Arch(s)] {
			return "", fmt.Errorf("field %q: unsupported architecture %q (supported: %s)", "architectures", s, SupportedArchs)
		}
		a := Arch(s)
		if mt, err := r.string("model_type", ""); err != nil {
			return "", err
		} else if mt != "" && byType[mt] != a {
			return "", fmt.Errorf("field %q: %q does not match architecture %s", "model_type", mt, a)
		}
		return a, nil
	}
	mt, err := r.string("model_type", "")
	if err != nil {
		return "", err
	}
	if a, ok := byType[mt]; ok {
		return a, nil
	}
	if mt == "gemma3" {
		return "", fmt.Errorf("field %q: %q is Gemma 3 with its vision tower (Gemma3ForConditionalGeneration), which is not supported; text-only Gemma 3 is model_type gemma3_text", "model_type", mt)
	}
	if mt == "" {
		return "", fmt.Errorf("field %q: missing (and no model_type)", "architectures")
	}
	return "", fmt.Errorf("field %q: unsupported model type %q", "model_type", mt)
}

// familyDefaults are the constructor defaults of transformers' config
// classes (configuration_llama.py, configuration_mistral.py,
// configuration_qwen2.py, configuration_qwen3.py).
type familyDefaults struct {
	vocab, hidden, inter, layers, heads, kvHeads, headDim, maxPos int
	bos, eos                                                      []int
	ropeTheta                                                     float64
}

var llamaDefaults = map[Arch]familyDefaults{
	// LlamaConfig: num_key_value_heads=None -> num_attention_heads.
	ArchLlama: {32000, 4096, 11008, 32, 32, 0, 0, 2048, []int{1}, []int{2}, 10000},
	// MistralConfig: num_key_value_heads=8, max_position_embeddings=4096*32.
	ArchMistral: {32000, 4096, 14336, 32, 32, 8, 0, 4096 * 32, []int{1}, []int{2}, 10000},
	// Qwen2Config: num_key_value_heads=32, no bos/eos defaults.
	ArchQwen2: {151936, 4096, 22016, 32, 32, 32, 0, 32768, nil, nil, 10000},
	// Qwen3Config: head_dim=128 regardless of hidden/heads.
	ArchQwen3: {151936, 4096, 22016, 32, 32, 32, 128, 32768, nil, nil, 10000},
	// Qwen3MoeConfig: no head_dim default (hidden_size // heads).
	ArchQwen3Moe: {151936, 2048, 6144, 24, 32, 4, 0, 32768, nil, nil, 10000},
}

func (r rawConfig) common(c *Config, def familyDefaults, hidden, inter, layers, heads, maxPos, tie string, tieDef bool) error {
	var err error
	fields := []struct {
		dst *int
		key string
		def int
	}{
		{&c.VocabSize, "vocab_size", def.vocab},
		{&c.HiddenSize, hidden, def.hidden},
		{&c.IntermediateSize, inter, def.inter},
		{&c.NumLayers, layers, def.layers},
		{&c.NumHeads, heads, def.heads},
		{&c.MaxPositions, maxPos, def.maxPos},
	}
	for _, f := range fields {
		if *f.dst, err = r.int(f.key, f.def); err != nil {
			return err
		}
	}
	if c.TieWordEmbeddings, err = r.bool(tie, tieDef); err != nil {
		return err
	}
	if c.InitializerRange, err = r.float("initializer_range", 0.02); err != nil {
		return err
	}
	if c.ModelType, err = r.string("model_type", ""); err != nil {
		return err
	}
	c.TorchDType, err = r.string("torch_dtype", "")
	if err != nil {
		return err
	}
	if c.TorchDType == "" { // transformers v5 writes "dtype"
		if c.TorchDType, err = r.string("dtype", ""); err != nil {
			return err
		}
	}
	var bos, eos, pad []int
	if bos, err = r.tokenIDs("bos_token_id", def.bos); err != nil {
		return err
	}
	if eos, err = r.tokenIDs("eos_token_id", def.eos); err != nil {
		return err
	}
	if pad, err = r.tokenIDs("pad_token_id", nil); err != nil {
		return err
	}
	c.BOSTokenID, c.EOSTokenID, c.PadTokenID, c.EOSTokenIDs = first(bos), first(eos), first(pad), eos
	if add, err := r.bool("add_cross_attention", false); err != nil {
		return err
	} else if add {
		return fmt.Errorf("field %q: cross-attention is not supported", "add_cross_attention")
	}
	return nil
}

func (r rawConfig) llamaFamily(arch Arch) (*Config, error) {
	def := llamaDefaults[arch]
	c := &Config{Arch: arch}
	if err := r.common(c, def, "hidden_size", "intermediate_size", "num_hidden_layers",
		"num_attention_heads", "max_position_embeddings", "tie_word_embeddings", false); err != nil {
		return nil, err
	}
	var err error
	// The class default applies when the key is absent; an explicit null
	// means num_attention_heads (MHA) in every family's __init__.
	kvDef := def.kvHeads
	if v, present := r.m["num_key_value_heads"]; kvDef == 0 || (present && v == nil) {
		kvDef = c.NumHeads
	}
	if c.NumKVHeads, err = r.int("num_key_value_heads", kvDef); err != nil {
		return nil, err
	}
	// head_dim: the config's value; else the class default (Qwen3: 128);
	// else hidden_size // num_attention_heads, which must then divide.
	headDef := def.headDim
	if v, present := r.m["head_dim"]; present && v == nil {
		headDef = 0 // explicit null: hidden_size // num_attention_heads
	}
	if !r.has("head_dim") && headDef == 0 && c.NumHeads > 0 {
		if c.HiddenSize%c.NumHeads != 0 {
			return nil, fmt.Errorf("field %q: hidden_size %d is not divisible by num_attention_heads %d and head_dim is not given",
				"num_attention_heads", c.HiddenSize, c.NumHeads)
		}
		headDef = c.HiddenSize / c.NumHeads
	}
	if c.HeadDim, err = r.int("head_dim", headDef); err != nil {
		return nil, err
	}
	if c.RMSNormEps, err = r.float("rms_norm_eps", 1e-6); err != nil {
		return nil, err
	}
	if c.HiddenAct, err = r.string("hidden_act", "silu"); err != nil {
		return nil, err
	}
	switch c.HiddenAct {
	case "silu", "swish": // ACT2FN maps both to SiLU
		c.HiddenAct = "silu"
	default:
		return nil, fmt.Errorf("field %q: activation %q is not supported (want silu)", "hidden_act", c.HiddenAct)
	}
	if err := r.rope(c, def.ropeTheta); err != nil {
		return nil, err
	}
	// Biases. LlamaAttention/Qwen3Attention: q,k,v,o all use
	// config.attention_bias. Qwen2Attention: q,k,v bias=True, o bias=False.
	// MistralAttention: no biases whatever the config says.
	switch arch {
	case ArchLlama, ArchQwen3, ArchQwen3Moe:
		if c.AttentionBias, err = r.bool("attention_bias", false); err != nil {
			return nil, err
		}
		c.OutputBias = c.AttentionBias
	case ArchQwen2:
		c.AttentionBias = true
	}
	c.QKNorm = arch == ArchQwen3 || arch == ArchQwen3Moe
	if arch == ArchLlama {
		if c.MLPBias, err = r.bool("mlp_bias", false); err != nil {
			return nil, err
		}
		if tp, err := r.int("pretraining_tp", 1); err != nil {
			return nil, err
		} else if tp < 1 {
			return nil, fmt.Errorf("field %q: must be >= 1, got %d", "pretraining_tp", tp)
		} // pretraining_tp > 1 only splits the same matmuls: same math.
	}
	// Sliding windows.
	switch arch {
	case ArchMistral:
		// MistralConfig: sliding_window=4096 by default; null disables it.
		w := 4096
		if v, ok := r.m["sliding_window"]; ok {
			if v == nil {
				w = 0
			} else if w, err = toInt("sliding_window", v); err != nil {
				return nil, err
			}
		}
		if w < 0 {
			return nil, fmt.Errorf("field %q: must not be negative, got %d", "sliding_window", w)
		}
		c.SlidingWindow = w
	case ArchQwen2, ArchQwen3:
		if err := r.qwenWindows(c); err != nil {
			return nil, err
		}
	}
	if arch == ArchQwen3Moe {
		if err := r.qwen3MoeWindow(c); err != nil {
			return nil, err
		}
		if err := r.qwen3Moe(c); err != nil {
			return nil, err
		}
	}
	if arch == ArchLlama || arch == ArchMistral {
		// LlamaConfig has no layer_types; MistralConfig only warns about
		// it: every layer uses the model-wide mask.
		if v, ok := r.m["layer_types"]; ok && v != nil {
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("field %q: want a list of strings, got %v", "layer_types", v)
			}
			for i, e := range list {
				if e != "full_attention" && !(arch == ArchMistral && e == "sliding_attention") {
					return nil, fmt.Errorf("field %q: layer %d has type %v; only full_attention is supported", "layer_types", i, e)
				}
			}
		}
	}
	return c, nil
}

// qwenWindows reads Qwen2Config/Qwen3Config's sliding windows:
// sliding_window (default 4096) is used only with use_sliding_window, on
// the layers layer_types marks "sliding_attention"; without layer_types,
// those with index >= max_window_layers (default 28).
func (r rawConfig) qwenWindows(c *Config) error {
	use, err := r.bool("use_sliding_window", false)
	if err != nil {
		return err
	}
	w := 0
	if use {
		w = 4096
		if v, ok := r.m["sliding_window"]; ok {
			if v == nil {
				w = 0
			} else if w, err = toInt("sliding_window", v); err != nil {
				return err
			}
		}
		if w < 0 {
			return fmt.Errorf("field %q: must not be negative, got %d", "sliding_window", w)
		}
	}
	maxWin, err := r.int("max_window_layers", 28)
	if err != nil {
		return err
	}
	if c.NumLayers <= 0 {
		return nil // Validate reports num_hidden_layers
	}
	layers, given, err := r.parseLayerTypes(c.NumLayers)
	if err != nil {
		return err
	}
	if given && w == 0 {
		if i := slices.Index(layers, true); i >= 0 {
			return fmt.Errorf("field %q: layer %d is sliding_attention but there is no window (use_sliding_window false or sliding_window null)", "layer_types", i)
		}
	} else if !given && w > 0 {
		for i := range layers {
			layers[i] = i >= maxWin
		}
	}
	if w > 0 && slices.Contains(layers, true) {
		c.SlidingWindow, c.SlidingLayers = w, layers
	}
	return nil
}

// rope reads rope_theta and rope_scaling, or transformers v5's
// rope_parameters block that holds both, as transformers 5's
// RotaryEmbeddingConfigMixin does: a non-empty rope_scaling wins over
// rope_parameters; the block's rope_theta wins over the top-level one;
// llama3 and yarn take original_max_position_embeddings from the top level
// when present, else from the block, else max_position_embeddings.
func (r rawConfig) rope(c *Config, thetaDef float64) error {
	var err error
	if c.RopeTheta, err = r.float("rope_theta", thetaDef); err != nil {
		return err
	}
	key, v := "", any(nil)
	for _, k := range []string{"rope_scaling", "rope_parameters"} {
		if m, ok := r.m[k].(map[string]any); ok && len(m) > 0 {
			key, v = k, m
			break
		} else if r.has(k) && !ok {
			return fmt.Errorf("field %q: want an object, got %s", k, describeJSON(r.m[k]))
		}
	}
	if r.has("partial_rotary_factor") {
		if f, err := r.float("partial_rotary_factor", 1); err != nil {
			return err
		} else if f != 1 {
			return fmt.Errorf("field %q: partial rotary embeddings (%g) are not supported", "partial_rotary_factor", f)
		}
	}
	if v == nil {
		return nil
	}
	sub := rawConfig{m: v.(map[string]any)}
	wrap := func(err error) error { return fmt.Errorf("field %q: %w", key, err) }
	typ, err := sub.string("rope_type", "")
	if err != nil {
		return wrap(err)
	}
	if typ == "" {
		if typ, err = sub.string("type", ""); err != nil { // legacy spelling
			return wrap(err)
		}
	}
	if sub.has("rope_theta") {
		if c.RopeTheta, err = sub.float("rope_theta", thetaDef); err != nil {
			return wrap(err)
		}
	}
	if f, err := sub.float("partial_rotary_factor", 1); err != nil {
		return wrap(err)
	} else if f != 1 {
		return fmt.Errorf("field %q: partial rotary embeddings (partial_rotary_factor %g) are not supported", key, f)
	}
	rs := &RopeScaling{RopeType: typ}
	switch typ {
	case "", "default":
		return nil
	case "linear", "dynamic", "llama3", "yarn":
	default:
		return fmt.Errorf("field %q: rope type %q is not supported (want default, linear, dynamic, yarn or llama3)", key, typ)
	}
	if typ == "llama3" || typ == "yarn" {
		orig := c.MaxPositions
		if r.has("original_max_position_embeddings") {
			orig, err = r.int("original_max_position_embeddings", 0)
		} else {
			orig, err = sub.int("original_max_position_embeddings", orig)
		}
		if err != nil {
			return wrap(err)
		}
		if orig <= 0 {
			return fmt.Errorf("field %q: original_max_position_embeddings must be positive, got %d", key, orig)
		}
		rs.OriginalMaxPositionEmbeddings = orig
	}
	if !sub.has("factor") && typ == "yarn" {
		// _compute_yarn_parameters: a null factor is the context ratio.
		rs.Factor = float64(c.MaxPositions) / float64(rs.OriginalMaxPositionEmbeddings)
	} else if !sub.has("factor") {
		return fmt.Errorf("field %q: %s rope scaling needs %q", key, typ, "factor")
	} else if rs.Factor, err = sub.float("factor", 0); err != nil {
		return wrap(err)
	}
	if !(rs.Factor > 0) {
		return fmt.Errorf("field %q: factor must be positive, got %g", key, rs.Factor)
	}
	switch typ {
	case "llama3":
		for _, need := range []string{"low_freq_factor", "high_freq_factor"} {
			if !sub.has(need) {
				return fmt.Errorf("field %q: llama3 rope scaling needs %q", key, need)
			}
		}
		if rs.LowFreqFactor, err = sub.float("low_freq_factor", 0); err != nil {
			return wrap(err)
		}
		if rs.HighFreqFactor, err = sub.float("high_freq_factor", 0); err != nil {
			return wrap(err)
		}
		if !(rs.LowFreqFactor > 0) || !(rs.HighFreqFactor > rs.LowFreqFactor) {
			return fmt.Errorf("field %q: invalid llama3 parameters (need 0<low_freq_factor<high_freq_factor)", key)
		}
	case "yarn":
		if err := sub.yarn(rs); err != nil {
			return wrap(err)
		}
	}
	c.RopeScaling = rs
	return nil
}

// yarn fills the YaRN fields as _compute_yarn_parameters reads them.
func (r rawConfig) yarn(rs *RopeScaling) error {
	var err error
	// "x or default": a null or zero beta means the default.
	if rs.BetaFast, err = r.float("beta_fast", 0); err != nil {
		return err
	}
	if rs.BetaFast == 0 {
		rs.BetaFast = 32
	}
	if rs.BetaSlow, err = r.float("beta_slow", 0); err != nil {
		return err
	}
	if rs.BetaSlow == 0 {
		rs.BetaSlow = 1
	}
	truncate, err := r.bool("truncate", true)
	if err != nil {
		return err
	}
	rs.Truncate = &truncate
	mscale := func(scale, m float64) float64 {
		if scale <= 1 {
			return 1
		}
		return 0.1*m*math.Log(scale) + 1
	}
	if r.has("attention_factor") {
		if rs.AttentionFactor, err = r.float("attention_factor", 0); err != nil {
			return err
		}
		return nil
	}
	ms, err := r.float("mscale", 0)
	if err != nil {
		return err
	}
	msAll, err := r.float("mscale_all_dim", 0)
	if err != nil {
		return err
	}
	if ms != 0 && msAll != 0 {
		rs.AttentionFactor = mscale(rs.Factor, ms) / mscale(rs.Factor, msAll)
	} else {
		rs.AttentionFactor = mscale(rs.Factor, 1)
	}
	return nil
}

// gpt2 reads a GPT2Config (configuration_gpt2.py): n_embd=768, n_layer=12,
// n_head=12, n_positions=1024, n_inner=None (4*n_embd),
// layer_norm_epsilon=1e-5, activation_function="gelu_new",
// bos/eos=50256, tie_word_embeddings=True (PretrainedConfig default).
func (r rawConfig) gpt2() (*Config, error) {
	c := &Config{Arch: ArchGPT2}
	def := familyDefaults{vocab: 50257, hidden: 768, layers: 12, heads: 12, maxPos: 1024, bos: []int{50256}, eos: []int{50256}}
	if err := r.common(c, def, "n_embd", "n_inner", "n_layer", "n_head", "n_positions", "tie_word_embeddings", true); err != nil {
		return nil, err
	}
	if c.IntermediateSize == 0 {
		c.IntermediateSize = 4 * c.HiddenSize
	}
	c.NumKVHeads = c.NumHeads
	if c.NumHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	var err error
	if c.LayerNormEps, err = r.float("layer_norm_epsilon", 1e-5); err != nil {
		return nil, err
	}
	if c.HiddenAct, err = r.string("activation_function", "gelu_new"); err != nil {
		return nil, err
	}
	switch c.HiddenAct {
	case "gelu_new", "gelu_pytorch_tanh": // both the tanh approximation
		c.HiddenAct = "gelu_new"
	default:
		return nil, fmt.Errorf("field %q: activation %q is not supported (want gelu_new)", "activation_function", c.HiddenAct)
	}
	c.AttentionBias, c.OutputBias = true, true
	checks := []struct {
		key  string
		want bool
		why  string
	}{
		{"scale_attn_weights", true, "unscaled attention is not supported"},
		{"scale_attn_by_inverse_layer_idx", false, "per-layer attention scaling is not supported"},
		{"reorder_and_upcast_attn", false, "the reordered/upcast attention path is not supported"},
	}
	for _, ch := range checks {
		v, err := r.bool(ch.key, ch.want)
		if err != nil {
			return nil, err
		}
		if v != ch.want {
			return nil, fmt.Errorf("field %q: %v: %s", ch.key, v, ch.why)
		}
	}
	return c, nil
}

// describeJSON names a decoded JSON value for errors: a string is quoted and
// called one, so "96" does not read as the number 96.
func describeJSON(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprint(v)
}
