package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A model directory is loaded as transformers' AutoTokenizer.from_pretrained
// loads it, which is what TRL tokenizes with. For most tokenizer classes
// transformers 5.x builds the backend from tokenizer.json unchanged. The
// exception handled here is LlamaTokenizer (alias LlamaTokenizerFast; Llama 2,
// Mistral v0.1, TinyLlama, Vicuna, ...): its __init__ keeps only the vocab,
// the merges, the added tokens and the post-processor of tokenizer.json and
// rebuilds the rest (transformers/models/llama/tokenization_llama.py):
//
//	normalizer    None (the file's Prepend("▁") + Replace(" ", "▁") is dropped)
//	pre_tokenizer Metaspace("▁", prepend_scheme, split=False), where
//	              prepend_scheme = "always" if tokenizer_config.json has
//	              "legacy": true, else "first" (the __init__ default is
//	              legacy=False), and "never" if add_prefix_space is false
//	model         BPE(fuse_unk=True, byte_fallback=True)
//	decoder       Replace("▁", " "), ByteFallback, Fuse, and Strip(" ", 1, 0)
//	              unless add_prefix_space is false
//
// The visible differences from the raw file: a text starting with a space
// gets no extra "▁" (Metaspace prepends only when the text does not already
// start with one, the Prepend normalizer always does), and with legacy false
// the text after a special token gets no "▁" at all.
//
// AutoTokenizer does not use the class in these cases, and neither do we: the
// tokenizer_config.json has an auto_map (remote code), tokenizer.json is
// ByteLevel (Llama 3 style files that declare LlamaTokenizer), or config.json's
// model_type is one whose registered tokenizer is TokenizersBackend or
// MistralCommonBackend (mistral, mixtral, ...: transformers then loads the file
// as it is).
//
// The post-processor stays the file's: with a tokenizer.json present,
// from_pretrained drops tokenizer_config.json's add_bos_token and
// add_eos_token, and a missing post-processor becomes "$A", which adds
// nothing either.

// hfTokenizerConfig is the part of tokenizer_config.json that decides how
// transformers builds the backend tokenizer.
type hfTokenizerConfig struct {
	TokenizerClass string          `json:"tokenizer_class"`
	AutoMap        json.RawMessage `json:"auto_map"`
	Legacy         *bool           `json:"legacy"`
	AddPrefixSpace *bool           `json:"add_prefix_space"`
}

// modelTypesRawBackend are config.json model_types whose registered tokenizer
// in transformers 5.24 is MistralCommonBackend or TokenizersBackend (the
// MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS list): AutoTokenizer then ignores
// a LlamaTokenizer tokenizer_class and loads tokenizer.json unchanged.
var modelTypesRawBackend = map[string]bool{
	"ministral": true, "ministral3": true, "mistral": true, "mistral3": true, "mistral_large4": true, "mixtral": true,
	"arctic": true, "chatlm": true, "ernie4_5": true, "ernie4_5_moe": true, "fuyu": true, "h2ovl_chat": true,
	"hyperclovax": true, "hyperclovax_vlm": true, "hyperclovax_vision_v2": true, "internlm2": true, "internlm3": true,
	"iquestcoder": true, "jamba": true, "llava": true, "llava_next": true, "minicpm3": true, "minicpmv": true,
	"minimax_m2": true, "modernbert": true, "modernbert-decoder": true, "molmo": true, "molmo2": true,
	"nemotron": true, "nvfp4": true, "opencua": true, "openvla": true, "paddleocr_vl": true, "phi3": true,
	"phi3_v": true, "phimoe": true, "qwen2": true, "qwen3_5": true, "qwen3_5_moe": true, "qwen3_5_moe_text": true,
	"qwen4_exp": true, "step3_vl": true, "vipllava": true, "cohere_asr": true, "camembertv2-base": true,
	"siglip2": true, "smolvlm": true,
}

// readJSONFile decodes dir/name into v; a missing file is (false, nil).
func readJSONFile(dir, name string, v any) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	return true, nil
}

// transformersOverrides returns the tokenizer.json sections that
// transformers replaces when it loads dir (nil: it uses the file as it is).
func transformersOverrides(dir string, data []byte) (map[string]json.RawMessage, error) {
	var cfg hfTokenizerConfig
	ok, err := readJSONFile(dir, "tokenizer_config.json", &cfg)
	if err != nil || !ok {
		return nil, err
	}
	class := strings.TrimSuffix(cfg.TokenizerClass, "Fast")
	if class != "LlamaTokenizer" || (len(cfg.AutoMap) > 0 && !isNull(cfg.AutoMap)) {
		return nil, nil
	}
	if bytes.Contains(data, []byte(`"ByteLevel"`)) {
		return nil, nil
	}
	var mc struct {
		ModelType string `json:"model_type"`
	}
	if _, err := readJSONFile(dir, "config.json", &mc); err != nil {
		return nil, err
	}
	if modelTypesRawBackend[mc.ModelType] {
		return nil, nil
	}

	addPrefixSpace := cfg.AddPrefixSpace == nil || *cfg.AddPrefixSpace
	scheme := "never"
	if addPrefixSpace {
		scheme = "always"
		if cfg.Legacy == nil || !*cfg.Legacy {
			scheme = "first"
		}
	}
	pre, _ := json.Marshal(map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": false})
	decs := []any{
		map[string]any{"type": "Replace", "pattern": map[string]string{"String": "▁"}, "content": " "},
		map[string]any{"type": "ByteFallback"},
		map[string]any{"type": "Fuse"},
	}
	if addPrefixSpace {
		decs = append(decs, map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0})
	}
	dec, _ := json.Marshal(map[string]any{"type": "Sequence", "decoders": decs})
	out := map[string]json.RawMessage{
		"normalizer":    json.RawMessage("null"),
		"pre_tokenizer": pre,
		"decoder":       dec,
	}
	return out, nil
}
