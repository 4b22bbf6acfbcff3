package refbench_test

import (
	"fmt"
	"log"

	"github.com/dpo-go/dpo/bench/reflogp/internal/refbench"
	"github.com/dpo-go/dpo/pkg/model"
)

// The speed benchmark's model: a small Qwen2 with a 32000-token vocabulary.
func ExampleShape_Config() {
	js, err := refbench.Shape{Layers: 4, Hidden: 256, Heads: 4, KVHeads: 2, Intermediate: 1024, Vocab: 32000}.Config()
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := model.ParseConfig(js)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Arch, cfg.NumLayers, cfg.HiddenSize, cfg.HeadDim, cfg.VocabSize)
	// Output: Qwen2ForCausalLM 4 256 64 32000
}
