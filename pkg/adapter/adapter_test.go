package adapter

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

func tinyConfig(arch model.Arch) *model.Config {
	if arch == model.ArchGPT2 {
		return &model.Config{Arch: arch, VocabSize: 40, HiddenSize: 16, IntermediateSize: 64, NumLayers: 2,
			NumHeads: 2, NumKVHeads: 2, HeadDim: 8, MaxPositions: 64, LayerNormEps: 1e-5, TieWordEmbeddings: true}
	}
	return &model.Config{Arch: arch, VocabSize: 50, HiddenSize: 16, IntermediateSize: 24, NumLayers: 2,
		NumHeads: 4, NumKVHeads: 2, HeadDim: 4, MaxPositions: 128, RMSNormEps: 1e-6, RopeTheta: 10000}
}

func TestParseConfig(t *testing.T) {
	const good = `{"peft_type":"LORA","task_type":"CAUSAL_LM","r":4,"lora_alpha":8,"target_modules":["q_proj","v_proj"],"use_rslora":true,"base_model_name_or_path":"/m"}`
	c, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.R != 4 || c.Alpha != 8 || !c.UseRSLoRA || c.BaseModel != "/m" || !slices.Equal(c.Targets, []string{"q_proj", "v_proj"}) {
		t.Errorf("parsed %+v", c)
	}
	if s := c.Scale(); math.Abs(s-4) > 1e-12 {
		t.Errorf("rsLoRA scale %g, want 8/sqrt(4) = 4", s)
	}
	for _, tc := range []struct{ edit, want string }{
		{`"peft_type":"IA3"`, "peft_type"},
		{`"r":0`, "field r must be positive"},
		{`"lora_alpha":-1`, "field lora_alpha must be positive"},
		{`"target_modules":[]`, "target_modules"},
		{`"target_modules":"all-linear","use_dora":true`, "use_dora"},
		{`"target_modules":["q_proj"],"layers_to_transform":[0]`, "layers_to_transform"},
		{`"target_modules":["q_proj"],"rank_pattern":{"q_proj":8}`, "rank_pattern"},
		{`"target_modules":"(unclosed"`, "target_modules"},
	} {
		key := tc.edit[:strings.Index(tc.edit, ":")]
		s := good
		start := strings.Index(s, key)
		end := start + strings.IndexAny(s[start:], ",}")
		if key == `"target_modules"` {
			end = start + strings.Index(s[start:], "]") + 1
		}
		s = s[:start] + tc.edit + s[end:]
		if _, err := ParseConfig([]byte(s)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", s, err, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		arch    model.Arch
		targets string
		want    []string // last components, per layer
		err     string
	}{
		{model.ArchLlama, "all-linear", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, ""},
		{model.ArchLlama, "q_proj,v_proj", []string{"q_proj", "v_proj"}, ""},
		{model.ArchGPT2, "all-linear", []string{"c_attn", "c_proj", "c_fc", "c_proj"}, ""},
		{model.ArchGPT2, "c_attn", []string{"c_attn"}, ""},
		{model.ArchLlama, "c_attn", nil, `"c_attn" matches no linear layer`},
		{model.ArchLlama, "lm_head", nil, `"lm_head" matches no linear layer`},
	} {
		c := Config{R: 2, Alpha: 4}
		c.ParseTargets(tc.targets)
		mods, err := c.Resolve(tinyConfig(tc.arch))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: error %v, want %q", tc.arch, tc.targets, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range mods[:len(mods)/2] {
			got = append(got, m.Name[strings.LastIndex(m.Name, ".")+1:])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: modules %v, want %v per layer", tc.arch, tc.targets, got, tc.want)
		}
	}
}

// TestSaveLoad: what Save writes, Load reads back bit for bit, with PEFT's
// key names; the A init is within PEFT's Kaiming-uniform bound 1/√in.
func TestSaveLoad(t *testing.T) {
	cfg := tinyConfig(model.ArchGPT2)
	a, err := New(cfg, Config{R: 3, Alpha: 6, Targets: []string{"c_fc"}}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range a.Modules {
		bound := 1 / math.Sqrt(float64(m.In))
		for _, v := range a.Weights[m.Name].A {
			if math.Abs(float64(v)) > bound {
				t.Fatalf("A value %g beyond the Kaiming bound %g", v, bound)
			}
		}
		if slices.ContainsFunc(a.Weights[m.Name].B, func(v float32) bool { return v != 0 }) {
			t.Fatal("B is not zero")
		}
	}
	dir := t.TempDir()
	if err := Save(dir, a, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"base_model.model.transformer.h.0.mlp.c_fc.lora_A.weight", "base_model.model.transformer.h.0.mlp.c_fc.lora_B.weight",
		"base_model.model.transformer.h.1.mlp.c_fc.lora_A.weight", "base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight"}
	if got := f.Names(); !slices.Equal(got, want) {
		t.Errorf("tensor names %v, want %v", got, want)
	}
	b, err := Load(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range a.Modules {
		if !slices.Equal(a.Weights[m.Name].A, b.Weights[m.Name].A) || !slices.Equal(a.Weights[m.Name].B, b.Weights[m.Name].B) {
			t.Errorf("%s differs after Save/Load", m.Name)
		}
	}
	if b.SHA256 == "" || b.Config.R != 3 || b.Config.Alpha != 6 {
		t.Errorf("loaded %+v", b.Config)
	}
	if _, err := Load(dir, tinyConfig(model.ArchLlama)); err == nil {
		t.Error("a GPT-2 adapter loaded on a Llama model")
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"peft_type":"LORA","r":4,"lora_alpha":8,"target_modules":["q_proj"]}`))
	f.Add([]byte(`{"peft_type":"LORA","r":4,"lora_alpha":8,"target_modules":"all-linear"}`))
	f.Add([]byte(`{"peft_type":"LORA","r":-1,"lora_alpha":1e400,"target_modules":"(("}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if c.R <= 0 || !(c.Alpha > 0) {
			t.Fatalf("accepted r=%d alpha=%g", c.R, c.Alpha)
		}
		_, _ = c.Resolve(tinyConfig(model.ArchLlama))
	})
}

// TestResolveSaved: modules_to_save selects modules by name suffix, as
// PEFT's `key.endswith(target)` does (so "norm" selects every norm), and
// refuses unknown modules, modules holding a LoRA target and, with tied
// embeddings, lm_head and the input embeddings.
func TestResolveSaved(t *testing.T) {
	untied := tinyConfig(model.ArchLlama)
	untied.TieWordEmbeddings = false
	tied := tinyConfig(model.ArchLlama)
	tied.TieWordEmbeddings = true
	for _, tc := range []struct {
		name    string
		cfg     *model.Config
		targets string
		save    []string
		want    []string
		err     string
	}{
		{"embed+head", untied, "q_proj", []string{"embed_tokens", "lm_head"}, []string{"model.embed_tokens.weight", "lm_head.weight"}, ""},
		{"norms", untied, "q_proj", []string{"norm"}, []string{"model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
			"model.layers.1.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight", "model.norm.weight"}, ""},
		{"unknown", untied, "q_proj", []string{"wte"}, nil, `"wte" matches no module`},
		{"holds a target", untied, "q_proj", []string{"layers.0.self_attn"}, nil, "holds the LoRA target"},
		{"tied head", tied, "q_proj", []string{"lm_head"}, nil, "ties lm_head"},
		{"tied embed", tied, "q_proj", []string{"embed_tokens"}, nil, "ties lm_head"},
		{"tied norm", tied, "q_proj", []string{"model.norm"}, []string{"model.norm.weight"}, ""},
	} {
		c := Config{R: 2, Alpha: 4, ModulesToSave: tc.save}
		c.ParseTargets(tc.targets)
		a, err := New(tc.cfg, c, rand.New(rand.NewPCG(1, 1)))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, s := range a.SavedSpecs {
			got = append(got, s.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
