package model

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

var update = flag.Bool("update", false, "regenerate testdata/models with tools/torchref/make_golden.py")

// TestUpdateGolden regenerates the reference checkpoints when run with
// -update (needs /usr/bin/python3 with torch and numpy).
func TestUpdateGolden(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/models")
	}
	py := python(t, "torch", "numpy")
	out, err := exec.Command(py, "-W", "ignore", filepath.Join(torchref(), "make_golden.py"),
		filepath.Join(testrefs.Root(), "testdata", "models")).CombinedOutput()
	if err != nil {
		t.Fatalf("make_golden.py: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// FuzzParseConfig: any input either parses to a valid config whose
// ParamSpecs have positive shapes, or fails with an error; never a panic.
func FuzzParseConfig(f *testing.F) {
	for _, dir := range goldenDirs(f) {
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"model_type":"gpt2","n_embd":8,"n_head":2,"n_layer":1,"vocab_size":5,"n_positions":4}`))
	f.Add([]byte(`{"model_type":"qwen2","hidden_size":8,"num_attention_heads":2,"num_hidden_layers":2,"use_sliding_window":true,"sliding_window":4,"layer_types":["full_attention","sliding_attention"]}`))
	f.Add([]byte(`{"model_type":"qwen3","num_hidden_layers":1,"rope_parameters":{"rope_type":"yarn","factor":2.0,"beta_fast":8,"mscale":1,"mscale_all_dim":0.5,"truncate":false}}`))
	f.Add([]byte(`{"model_type":"llama","mlp_bias":true,"rope_scaling":{"type":"dynamic","factor":2.0}}`))
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"rope_parameters":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":16,"rope_theta":5e5}}`))
	f.Add([]byte(`{"model_type":"gemma2","hidden_size":8,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":4,"num_hidden_layers":2,"sliding_window":3,"final_logit_softcapping":null}`))
	f.Add([]byte(`{"model_type":"gemma3_text","num_hidden_layers":3,"layer_types":["sliding_attention","sliding_attention","full_attention"],"rope_parameters":{"full_attention":{"rope_type":"linear","factor":8.0},"sliding_attention":{"rope_type":"default","rope_theta":10000.0}}}`))
	f.Add([]byte(`{"model_type":"olmo2","hidden_size":8,"num_attention_heads":2,"num_hidden_layers":1}`))
	f.Add([]byte(`{"model_type":"phi3","hidden_size":16,"num_attention_heads":2,"num_hidden_layers":1,"partial_rotary_factor":0.5,"rope_scaling":{"type":"longrope","short_factor":[1,2],"long_factor":[3,4]}}`))
	f.Add([]byte(`{"model_type":"qwen3_moe","hidden_size":8,"num_attention_heads":2,"num_hidden_layers":3,"num_local_experts":4,"num_experts_per_tok":2,"moe_intermediate_size":4,"mlp_only_layers":[1],"decoder_sparse_step":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			return
		}
		if cfg.Validate() != nil {
			t.Fatal("ParseConfig returned an invalid config")
		}
		if cfg.VocabSize*cfg.HiddenSize > 1<<24 || cfg.NumLayers > 64 {
			return // too big to list cheaply
		}
		for _, s := range ParamSpecs(cfg) {
			for _, d := range s.Shape {
				if d <= 0 {
					t.Fatalf("%s: shape %v", s.Name, s.Shape)
				}
			}
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	dir := goldenDirs(b)["llama_untied"]
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ck, err := Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		ck.Close()
	}
}
