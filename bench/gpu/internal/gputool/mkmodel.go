package gputool

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// Qwen25_05B is the config.json of Qwen/Qwen2.5-0.5B (24 layers, hidden
// 896, 14 query / 2 key-value heads, intermediate 4864, vocabulary 151936,
// tied embeddings).
const Qwen25_05B = `{
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151643,
  "hidden_act": "silu",
  "hidden_size": 896,
  "initializer_range": 0.02,
  "intermediate_size": 4864,
  "max_position_embeddings": 32768,
  "max_window_layers": 24,
  "model_type": "qwen2",
  "num_attention_heads": 14,
  "num_hidden_layers": 24,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 32768,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
}`

// ModelConfig returns the Qwen2.5-0.5B config.json with overrides: layers,
// hidden, heads, kvHeads, inter, vocab (0 keeps the preset's) and the init
// std.
func ModelConfig(layers, hidden, heads, kvHeads, inter, vocab int, std float64) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(Qwen25_05B), &m); err != nil {
		return nil, err
	}
	set := func(k string, v int) {
		if v > 0 {
			m[k] = v
		}
	}
	set("num_hidden_layers", layers)
	set("max_window_layers", layers)
	set("hidden_size", hidden)
	set("num_attention_heads", heads)
	set("num_key_value_heads", kvHeads)
	set("intermediate_size", inter)
	set("vocab_size", vocab)
	if std > 0 {
		m["initializer_range"] = std
	}
	return json.MarshalIndent(m, "", "  ")
}

// MkModel writes a random-init checkpoint (config.json + model.safetensors)
// with model.RandomInit and model.Save.
func MkModel(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkmodel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output `DIR`")
	layers := fs.Int("layers", 0, "num_hidden_layers (0: 24, the preset's)")
	hidden := fs.Int("hidden", 0, "hidden_size (0: 896)")
	heads := fs.Int("heads", 0, "num_attention_heads (0: 14)")
	kvHeads := fs.Int("kv-heads", 0, "num_key_value_heads (0: 2)")
	inter := fs.Int("intermediate", 0, "intermediate_size (0: 4864)")
	vocab := fs.Int("vocab", 0, "vocab_size (0: 151936)")
	std := fs.Float64("std", 0.02, "initializer_range: std of the normal init")
	seed := fs.Int64("seed", 1, "random seed")
	dtype := fs.String("dtype", "f32", "stored dtype: f32, bf16")
	configOnly := fs.Bool("config-only", false, "write only config.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return fmt.Errorf("mkmodel: --out DIR is required and takes no arguments")
	}
	dt := map[string]safetensors.DType{"f32": safetensors.F32, "bf16": safetensors.BF16}[strings.ToLower(*dtype)]
	if dt == "" {
		return fmt.Errorf("mkmodel: --dtype %q: want f32 or bf16", *dtype)
	}
	js, err := ModelConfig(*layers, *hidden, *heads, *kvHeads, *inter, *vocab, *std)
	if err != nil {
		return err
	}
	cfg, err := model.ParseConfig(js)
	if err != nil {
		return fmt.Errorf("mkmodel: %w", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if *configOnly {
		return os.WriteFile(*out+"/config.json", append(js, '\n'), 0o644)
	}
	ck := model.RandomInit(cfg, *seed)
	if err := model.Save(*out, ck, dt); err != nil {
		return err
	}
	n := 0
	for _, s := range model.ParamSpecs(cfg) {
		k := 1
		for _, d := range s.Shape {
			k *= d
		}
		n += k
	}
	fmt.Fprintf(stdout, "%s: %s, %d layers, hidden %d, vocab %d, %d parameters, %s\n", *out, cfg.Arch, cfg.NumLayers, cfg.HiddenSize, cfg.VocabSize, n, dt)
	return nil
}
