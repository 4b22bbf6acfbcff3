package model_test

import (
	"fmt"
	"log"

	"github.com/dpo-go/dpo/pkg/model"
)

func ExampleParseConfig() {
	cfg, err := model.ParseConfig([]byte(`{
		"architectures": ["Qwen3ForCausalLM"], "vocab_size": 151936, "hidden_size": 1024,
		"intermediate_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 16,
		"num_key_value_heads": 8, "head_dim": 128, "rope_theta": 1000000, "tie_word_embeddings": true}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Arch, cfg.HeadDim, cfg.NumKVHeads, cfg.QKNorm, cfg.TieWordEmbeddings)
	// Output: Qwen3ForCausalLM 128 8 true true
}

func ExampleParamSpecs() {
	cfg, err := model.ParseConfig([]byte(`{"architectures": ["GPT2LMHeadModel"], "vocab_size": 100,
		"n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 32}`))
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range model.ParamSpecs(cfg)[:6] {
		fmt.Println(s.Name, s.Shape, s.NoDecay)
	}
	// Output:
	// transformer.wte.weight [100 16] false
	// transformer.wpe.weight [32 16] false
	// transformer.h.0.ln_1.weight [16] true
	// transformer.h.0.ln_1.bias [16] true
	// transformer.h.0.attn.c_attn.weight [16 48] false
	// transformer.h.0.attn.c_attn.bias [48] true
}

func ExampleParseConfig_rejected() {
	_, err := model.ParseConfig([]byte(`{"architectures": ["LlamaForCausalLM"],
		"rope_scaling": {"rope_type": "longrope", "factor": 4.0}}`))
	fmt.Println(err)
	// Output: field "rope_scaling": rope type "longrope" is not supported (want default, linear, dynamic, yarn or llama3)
}
