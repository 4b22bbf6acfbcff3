package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// family is the forward implementation a config maps to.
type family int

const (
	familyLlama family = iota
	familyGPT2
	familyDecoder // Gemma 2, Gemma 3, OLMo 2, Phi-3, Qwen3-MoE (decoderHidden, as Llama)
)

func familyOf(cfg *model.Config) (family, error) {
	switch cfg.Arch {
	case model.ArchLlama, model.ArchMistral, model.ArchQwen2, model.ArchQwen3:
		return familyLlama, nil
	case model.ArchGPT2:
		return familyGPT2, nil
	case model.ArchGemma2, model.ArchGemma3, model.ArchOlmo2, model.ArchPhi3, model.ArchQwen3Moe:
		return familyDecoder, nil
	}
	return 0, fmt.Errorf("engine: unsupported architecture %q (supported: %s)", cfg.Arch, model.SupportedArchs)
}

// validateConfig checks what the forward pass depends on beyond
// model.Config.Validate.
func validateConfig(cfg *model.Config) error {
	fam, err := familyOf(cfg)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("engine: config: %w", err)
	}
	switch fam {
	case familyLlama, familyDecoder:
		if _, err := activation(cfg.HiddenAct, "silu"); err != nil {
			return err
		}
		for l := range cfg.NumLayers {
			if _, _, err := ropeInvFreq(layerRopeConfig(cfg, l)); err != nil {
				return err
			}
		}
	case familyGPT2:
		if cfg.NumKVHeads != cfg.NumHeads || cfg.HeadDim*cfg.NumHeads != cfg.HiddenSize {
			return fmt.Errorf("engine: GPT-2 config: heads %d, kv heads %d, head_dim %d do not fit n_embd %d",
				cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim, cfg.HiddenSize)
		}
		if _, err := activation(cfg.HiddenAct, "gelu_new"); err != nil {
			return err
		}
	}
	return nil
}

// lookupTensor finds the tensor named name, accepting GPT-2 checkpoints
// saved without the "transformer." prefix (as the original openai-community
// files are). It returns the name found.
func lookupTensor(ts map[string]*safetensors.Tensor, name string) (*safetensors.Tensor, string) {
	if t, ok := ts[name]; ok {
		return t, name
	}
	if rest, ok := strings.CutPrefix(name, model.GPT2Prefix); ok {
		if t, ok := ts[rest]; ok {
			return t, rest
		}
	}
	return nil, ""
}

// ignorableTensor reports checkpoint entries that are buffers rather than
// weights (GPT-2's causal-mask buffers, rotary inv_freq caches) and a
// redundant lm_head.weight in a tied model.
func ignorableTensor(cfg *model.Config, name string) bool {
	if strings.HasSuffix(name, "rotary_emb.inv_freq") {
		return true
	}
	if cfg.Arch == model.ArchGPT2 && (strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias")) {
		return true
	}
	return cfg.TieWordEmbeddings && name == "lm_head.weight"
}

// checkTensorSet reports missing, misshapen and unknown tensors.
func checkTensorSet(cfg *model.Config, specs []model.ParamSpec, ts map[string]*safetensors.Tensor) error {
	used := make(map[string]bool, len(ts))
	for _, s := range specs {
		t, found := lookupTensor(ts, s.Name)
		if t == nil {
			return fmt.Errorf("engine: checkpoint has no tensor %q (shape %v)", s.Name, s.Shape)
		}
		used[found] = true
		if !slices.Equal(t.Shape, s.Shape) {
			return fmt.Errorf("engine: tensor %q has shape %v, the config implies %v", found, t.Shape, s.Shape)
		}
	}
	var unknown []string
	for name := range ts {
		if !used[name] && !ignorableTensor(cfg, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("engine: checkpoint has %d tensors the %s config does not use, first %q",
			len(unknown), cfg.Arch, unknown[0])
	}
	return nil
}
