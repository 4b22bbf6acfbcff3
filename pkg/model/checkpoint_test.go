package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// python returns /usr/bin/python3 when it can import the modules; otherwise
// the test is skipped, or failed under DPO_REQUIRE_REFS=1.
func python(t *testing.T, modules ...string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("reference python3 with %v unavailable: %v %s", modules, err, out)
		if os.Getenv("DPO_REQUIRE_REFS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

func torchref() string { return filepath.Join(testrefs.Root(), "tools", "torchref") }

// goldenDirs lists testdata/models/<case> (written by
// tools/torchref/make_golden.py).
func goldenDirs(t testing.TB) map[string]string {
	t.Helper()
	root := filepath.Join(testrefs.Root(), "testdata", "models")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			out[e.Name()] = filepath.Join(root, e.Name())
		}
	}
	if len(out) < 9 {
		t.Fatalf("want 9 golden checkpoints under %s, found %d", root, len(out))
	}
	return out
}

// copyCase copies a golden checkpoint into a temporary directory.
func copyCase(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestLoadGolden loads every reference checkpoint. The tensor names and
// shapes were written by the independent Python generator, so Load
// succeeding (no missing, misshapen or unexpected tensor) checks ParamSpecs
// against it.
func TestLoadGolden(t *testing.T) {
	want := map[string]struct {
		arch          Arch
		kv, hd        int
		tied, bias    bool
		qk, scaled    bool
		dtype         safetensors.DType
		sliding, ntok int
	}{
		"gpt2":         {ArchGPT2, 4, 8, true, true, false, false, safetensors.F32, 0, 0},
		"llama3_rope":  {ArchLlama, 2, 8, true, false, false, true, safetensors.F32, 0, 0},
		"llama_bf16":   {ArchLlama, 2, 8, true, false, false, false, safetensors.BF16, 0, 0},
		"llama_gqa":    {ArchLlama, 2, 8, true, false, false, false, safetensors.F32, 0, 0},
		"llama_tied":   {ArchLlama, 4, 8, true, false, false, false, safetensors.F32, 0, 0},
		"llama_untied": {ArchLlama, 2, 8, false, false, false, false, safetensors.F32, 0, 0},
		"mistral":      {ArchMistral, 2, 8, true, false, false, false, safetensors.F32, 4096, 0},
		"qwen2":        {ArchQwen2, 2, 8, true, true, false, false, safetensors.F32, 0, 0},
		"qwen3":        {ArchQwen3, 2, 16, true, false, true, false, safetensors.F32, 0, 0},
	}
	for name, dir := range goldenDirs(t) {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectations for case %s", name)
			}
			ck, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			c := ck.Config
			if c.Arch != w.arch || c.NumKVHeads != w.kv || c.HeadDim != w.hd || c.TieWordEmbeddings != w.tied ||
				c.AttentionBias != w.bias || c.QKNorm != w.qk || (c.RopeScaling != nil) != w.scaled || c.SlidingWindow != w.sliding {
				t.Errorf("config %+v", c)
			}
			specs := ParamSpecs(c)
			if len(ck.Tensors) != len(specs) {
				t.Errorf("%d tensors, want %d", len(ck.Tensors), len(specs))
			}
			for _, s := range specs {
				tn, err := ck.Tensor(s.Name)
				if err != nil {
					t.Fatal(err)
				}
				if tn.DType != w.dtype {
					t.Errorf("%s: dtype %s, want %s", s.Name, tn.DType, w.dtype)
				}
			}
			if _, err := ck.Float32s(specs[len(specs)-1].Name); err != nil {
				t.Error(err)
			}
			if _, err := ck.Tensor("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
				t.Errorf("missing tensor error: %v", err)
			}
		})
	}
}

func rewrite(t *testing.T, dir string, edit func(ts map[string]*safetensors.Tensor)) {
	t.Helper()
	f, err := safetensors.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]*safetensors.Tensor{}
	for _, n := range f.Names() {
		ts[n], _ = f.Tensor(n)
	}
	edit(ts)
	var list []*safetensors.Tensor
	for _, x := range ts {
		list = append(list, x)
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), list, nil); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRejects(t *testing.T) {
	dirs := goldenDirs(t)
	tests := []struct {
		name, base string
		edit       func(ts map[string]*safetensors.Tensor)
		want       []string
	}{
		{"missing", "llama_tied", func(ts map[string]*safetensors.Tensor) { delete(ts, "model.layers.1.mlp.up_proj.weight") },
			[]string{`"model.layers.1.mlp.up_proj.weight"`, "missing", "[40 32]"}},
		{"wrong shape", "qwen3", func(ts map[string]*safetensors.Tensor) {
			x := ts["model.layers.0.self_attn.k_norm.weight"]
			x.Shape = []int{4, 4}
		}, []string{`"model.layers.0.self_attn.k_norm.weight"`, "expected shape [16]", "found [4 4]"}},
		{"extra", "llama_gqa", func(ts map[string]*safetensors.Tensor) {
			x, _ := safetensors.FromFloat32("model.layers.0.mlp.gate_proj.bias", safetensors.F32, []int{40}, make([]float32, 40))
			ts[x.Name] = x
		}, []string{`"model.layers.0.mlp.gate_proj.bias"`, "unexpected"}},
		{"untied head in tied model", "llama_tied", func(ts map[string]*safetensors.Tensor) {
			x, _ := safetensors.FromFloat32("lm_head.weight", safetensors.F32, []int{300, 32}, make([]float32, 300*32))
			ts[x.Name] = x
		}, []string{`"lm_head.weight"`, "differs"}},
		{"integer weights", "llama_tied", func(ts map[string]*safetensors.Tensor) {
			x := ts["model.norm.weight"]
			ts[x.Name] = &safetensors.Tensor{Name: x.Name, DType: safetensors.I32, Shape: x.Shape, Data: x.Data}
		}, []string{`"model.norm.weight"`, "I32"}},
		{"gpt2 both prefixes", "gpt2", func(ts map[string]*safetensors.Tensor) {
			x := ts["ln_f.bias"]
			ts["transformer.ln_f.bias"] = &safetensors.Tensor{Name: "transformer.ln_f.bias", DType: x.DType, Shape: x.Shape, Data: x.Data}
		}, []string{"ln_f.bias", "prefix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyCase(t, dirs[tt.base])
			rewrite(t, dir, tt.edit)
			ck, err := Load(dir)
			if err == nil {
				ck.Close()
				t.Fatal("Load succeeded")
			}
			for _, w := range append(tt.want, dir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// A tied model may carry lm_head.weight as an exact copy.
	dir := copyCase(t, dirs["llama_tied"])
	rewrite(t, dir, func(ts map[string]*safetensors.Tensor) {
		e := ts["model.embed_tokens.weight"]
		ts["lm_head.weight"] = &safetensors.Tensor{Name: "lm_head.weight", DType: e.DType, Shape: e.Shape, Data: e.Data}
	})
	ck, err := Load(dir)
	if err != nil {
		t.Fatalf("tied copy of lm_head: %v", err)
	}
	ck.Close()
	// Config errors surface through Load.
	dir = copyCase(t, dirs["llama_tied"])
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures":["LlamaForCausalLM"],"mlp_bias":"yes"}`), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "mlp_bias") {
		t.Errorf("bad config: %v", err)
	}
}

// numpyRead runs the independent numpy reader on a file.
func numpyRead(t *testing.T, py, path string) (meta map[string]string, ts map[string]struct {
	DType  string    `json:"dtype"`
	Shape  []int     `json:"shape"`
	Values []float64 `json:"values"`
}) {
	t.Helper()
	out, err := exec.Command(py, filepath.Join(torchref(), "safetensors_np.py"), path).Output()
	if err != nil {
		t.Fatalf("numpy reader on %s: %v", path, err)
	}
	var r struct {
		Metadata map[string]string
		Tensors  map[string]struct {
			DType  string    `json:"dtype"`
			Shape  []int     `json:"shape"`
			Values []float64 `json:"values"`
		}
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r.Metadata, r.Tensors
}

// TestSaveReadByNumpy saves checkpoints as F32, BF16 and F16 and checks
// that the independent numpy reader sees exactly ParamSpecs' names and
// shapes, the dtype asked for, and values equal to numpy's own conversion
// of the float32 weights (bf16 rounding by safetensors_np.f32_to_bf16,
// f16 by numpy's astype).
func TestSaveReadByNumpy(t *testing.T) {
	py := python(t, "numpy")
	dirs := goldenDirs(t)
	for _, tc := range []struct {
		base  string
		dtype safetensors.DType
	}{{"gpt2", safetensors.F32}, {"qwen3", safetensors.BF16}, {"llama_untied", safetensors.F16}, {"llama_bf16", safetensors.F32}} {
		t.Run(tc.base+"_"+string(tc.dtype), func(t *testing.T) {
			ck, err := Load(dirs[tc.base])
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			out := filepath.Join(t.TempDir(), "saved")
			if err := Save(out, ck, tc.dtype); err != nil {
				t.Fatal(err)
			}
			// Expected values: numpy converts the float32 weights itself.
			script := `
import sys, json, numpy as np
sys.path.insert(0, sys.argv[1])
import safetensors_np as st
ts, _, _ = st.load(sys.argv[2])
dt = sys.argv[3]
out = {}
for k, v in ts.items():
    v = np.asarray(v, dtype=np.float32)
    if dt == "BF16": v = st.bf16_to_f32(st.f32_to_bf16(v))
    elif dt == "F16": v = v.astype(np.float16).astype(np.float32)
    key = k if (k.startswith("transformer.") or k.startswith("lm_head") or not sys.argv[4] == "gpt2") else "transformer." + k
    if key.endswith(".attn.bias") and sys.argv[4] == "gpt2": continue
    out[key] = [float(x) for x in v.ravel()]
json.dump(out, sys.stdout)`
			ref, err := exec.Command(py, "-c", script, torchref(), filepath.Join(dirs[tc.base], "model.safetensors"), string(tc.dtype), tc.base).Output()
			if err != nil {
				t.Fatal(err)
			}
			var want map[string][]float64
			if err := json.Unmarshal(ref, &want); err != nil {
				t.Fatal(err)
			}
			meta, got := numpyRead(t, py, filepath.Join(out, "model.safetensors"))
			if meta["format"] != "pt" {
				t.Errorf("metadata %v, want format=pt", meta)
			}
			specs := ParamSpecs(ck.Config)
			if len(got) != len(specs) {
				var names []string
				for n := range got {
					names = append(names, n)
				}
				sort.Strings(names)
				t.Errorf("numpy sees %d tensors %v, want %d", len(got), names, len(specs))
			}
			for _, s := range specs {
				g, ok := got[s.Name]
				if !ok {
					t.Errorf("numpy misses %s", s.Name)
					continue
				}
				if g.DType != string(tc.dtype) || fmt.Sprint(g.Shape) != fmt.Sprint(s.Shape) {
					t.Errorf("%s: numpy sees %s%v, want %s%v", s.Name, g.DType, g.Shape, tc.dtype, s.Shape)
				}
				w := want[s.Name]
				if len(w) != len(g.Values) {
					t.Fatalf("%s: %d values, want %d", s.Name, len(g.Values), len(w))
				}
				for i := range w {
					if w[i] != g.Values[i] {
						t.Fatalf("%s[%d] = %v, numpy %v", s.Name, i, g.Values[i], w[i])
					}
				}
			}
			// config.json: the original keys, torch_dtype updated.
			var orig, saved map[string]any
			b, _ := os.ReadFile(filepath.Join(dirs[tc.base], "config.json"))
			json.Unmarshal(b, &orig)
			b, _ = os.ReadFile(filepath.Join(out, "config.json"))
			json.Unmarshal(b, &saved)
			wantDT := map[safetensors.DType]string{safetensors.F32: "float32", safetensors.BF16: "bfloat16", safetensors.F16: "float16"}[tc.dtype]
			if saved["torch_dtype"] != wantDT {
				t.Errorf("torch_dtype %v, want %s", saved["torch_dtype"], wantDT)
			}
			orig["torch_dtype"] = wantDT
			if fmt.Sprint(orig) != fmt.Sprint(saved) {
				t.Errorf("config.json changed:\n%v\n%v", orig, saved)
			}
			// And it loads back.
			back, err := Load(out)
			if err != nil {
				t.Fatal(err)
			}
			back.Close()
		})
	}
}

type golden struct {
	Sequences []struct {
		InputIDs  []int     `json:"input_ids"`
		PromptLen int       `json:"prompt_len"`
		Logp      float64   `json:"logp"`
		TokenLogp []float64 `json:"token_logps"`
	} `json:"sequences"`
}

// TestSavedCheckpointRunsInReference: a checkpoint written by Save (GPT-2
// with the "transformer." prefix and no buffers; a random init) is a valid
// input of the PyTorch reference, which reproduces the golden log-probs
// from the re-saved golden weights.
func TestSavedCheckpointRunsInReference(t *testing.T) {
	py := python(t, "torch", "numpy")
	dirs := goldenDirs(t)
	tmp := t.TempDir()
	cases := []string{"gpt2", "qwen2", "llama_bf16"}
	for _, c := range cases {
		ck, err := Load(dirs[c])
		if err != nil {
			t.Fatal(err)
		}
		dtype := safetensors.F32
		if c == "llama_bf16" {
			dtype = safetensors.BF16
		}
		if err := Save(filepath.Join(tmp, c), ck, dtype); err != nil {
			t.Fatal(err)
		}
		ck.Close()
	}
	script := `
import sys, json, torch
sys.path.insert(0, sys.argv[1])
import safetensors_np as st, logps
out = {}
for d in sys.argv[3:]:
    w, _, _ = st.load(d + "/model.safetensors")
    cfg = json.load(open(d + "/config.json"))
    g = json.load(open(sys.argv[2] + "/" + d.split("/")[-1] + "/golden.json"))
    res = []
    for s in g["sequences"]:
        ids = s["input_ids"]
        summed, _, _ = logps.completion_logps(w, cfg, [ids], [s["prompt_len"]], [len(ids)])
        res.append([summed[0].item(), s["logp"]])
    out[d] = res
json.dump(out, sys.stdout)`
	args := []string{"-W", "ignore", "-c", script, torchref(), filepath.Join(testrefs.Root(), "testdata", "models")}
	for _, c := range cases {
		args = append(args, filepath.Join(tmp, c))
	}
	out, err := exec.Command(py, args...).Output()
	if err != nil {
		t.Fatalf("reference on saved checkpoints: %v", err)
	}
	var res map[string][][2]float64
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != len(cases) {
		t.Fatalf("results for %d cases", len(res))
	}
	for d, rows := range res {
		for i, r := range rows {
			if math.Abs(r[0]-r[1]) > 1e-9*math.Max(1, math.Abs(r[1])) {
				t.Errorf("%s seq %d: reference on saved weights %v, golden %v", d, i, r[0], r[1])
			}
		}
	}
}

func TestGoldenFiles(t *testing.T) {
	// The golden files are well formed: every sequence has a completion and
	// its token log-probs sum to the total.
	for name, dir := range goldenDirs(t) {
		b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
		if err != nil {
			t.Fatal(err)
		}
		var g golden
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(g.Sequences) < 3 {
			t.Errorf("%s: %d sequences", name, len(g.Sequences))
		}
		for i, s := range g.Sequences {
			sum := 0.0
			for _, x := range s.TokenLogp {
				sum += x
			}
			if len(s.TokenLogp) != len(s.InputIDs)-s.PromptLen || math.Abs(sum-s.Logp) > 1e-9*math.Abs(s.Logp) || s.Logp >= 0 {
				t.Errorf("%s seq %d inconsistent", name, i)
			}
		}
	}
}

func TestRandomInit(t *testing.T) {
	for _, js := range []string{
		`{"architectures":["LlamaForCausalLM"],"vocab_size":500,"hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"pad_token_id":3}`,
		`{"architectures":["GPT2LMHeadModel"],"vocab_size":500,"n_embd":64,"n_layer":2,"n_head":4,"n_positions":32}`,
		`{"architectures":["Qwen2ForCausalLM"],"vocab_size":500,"hidden_size":64,"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"initializer_range":0.05}`,
	} {
		cfg, err := ParseConfig([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(string(cfg.Arch), func(t *testing.T) {
			a, b, c := RandomInit(cfg, 1), RandomInit(cfg, 1), RandomInit(cfg, 2)
			for _, s := range ParamSpecs(cfg) {
				ta, tb, tc := a.Tensors[s.Name], b.Tensors[s.Name], c.Tensors[s.Name]
				if !bytes.Equal(ta.Data, tb.Data) {
					t.Errorf("%s: same seed, different values", s.Name)
				}
				v, _ := ta.Float32s()
				switch s.Init {
				case InitNormal:
					if bytes.Equal(ta.Data, tc.Data) {
						t.Errorf("%s: different seeds, same values", s.Name)
					}
					var sum, sq float64
					for _, x := range v {
						sum += float64(x)
						sq += float64(x) * float64(x)
					}
					n := float64(len(v))
					mean, std := sum/n, math.Sqrt(sq/n)
					if s.Name == "model.embed_tokens.weight" && cfg.PadTokenID >= 0 {
						for _, x := range v[cfg.PadTokenID*cfg.HiddenSize : (cfg.PadTokenID+1)*cfg.HiddenSize] {
							if x != 0 {
								t.Fatal("pad row not zero")
							}
						}
						std *= math.Sqrt(n / (n - float64(cfg.HiddenSize)))
					}
					if math.Abs(mean) > 4*s.Std/math.Sqrt(n) || math.Abs(std-s.Std) > 0.1*s.Std {
						t.Errorf("%s: mean %g std %g, want 0, %g", s.Name, mean, std, s.Std)
					}
					wantStd := cfg.InitializerRange
					if strings.HasSuffix(s.Name, "c_proj.weight") {
						wantStd /= math.Sqrt(2 * float64(cfg.NumLayers))
					}
					if s.Std != wantStd {
						t.Errorf("%s: std %g, want %g", s.Name, s.Std, wantStd)
					}
				case InitOnes, InitZeros:
					want := float32(0)
					if s.Init == InitOnes {
						want = 1
					}
					for _, x := range v {
						if x != want {
							t.Fatalf("%s: value %g, want %g", s.Name, x, want)
						}
					}
					if !s.NoDecay {
						t.Errorf("%s: norms and biases are NoDecay", s.Name)
					}
				}
			}
			// RandomInit's checkpoint saves and loads (config.json from Raw).
			dir := t.TempDir()
			if err := Save(dir, a, safetensors.BF16); err != nil {
				t.Fatal(err)
			}
			ck, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			ck.Close()
		})
	}
}

func TestSaveWithoutRaw(t *testing.T) {
	cfg, _ := ParseConfig([]byte(`{"architectures":["Qwen3ForCausalLM"],"vocab_size":50,"hidden_size":16,"intermediate_size":24,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"head_dim":8,"attention_bias":true,"tie_word_embeddings":true}`))
	cfg.Raw = nil
	dir := t.TempDir()
	if err := Save(dir, RandomInit(cfg, 5), safetensors.F32); err != nil {
		t.Fatal(err)
	}
	ck, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	c := ck.Config
	if c.HeadDim != 8 || !c.AttentionBias || !c.OutputBias || !c.TieWordEmbeddings || c.NumKVHeads != 1 || c.TorchDType != "float32" {
		t.Errorf("round-tripped config %+v", c)
	}
}

// TestHashes compares against coreutils sha256sum.
func TestHashes(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("sha256sum not installed")
	}
	dir := goldenDirs(t)["qwen2"]
	sum := func(p string) string {
		out, err := exec.Command("sha256sum", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(out))[0]
	}
	w, err := WeightsSHA256(dir)
	if err != nil {
		t.Fatal(err)
	}
	if w != sum(filepath.Join(dir, "model.safetensors")) {
		t.Errorf("WeightsSHA256 %s", w)
	}
	c, err := ConfigSHA256(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c != sum(filepath.Join(dir, "config.json")) {
		t.Errorf("ConfigSHA256 %s", c)
	}
	if _, err := WeightsSHA256(t.TempDir()); err == nil {
		t.Error("want error for a directory without weights")
	}
}

func TestLoadSharded(t *testing.T) {
	src := goldenDirs(t)["llama_gqa"]
	f, err := safetensors.ReadFile(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b, _ := os.ReadFile(filepath.Join(src, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	var a, z []*safetensors.Tensor
	wm := map[string]string{}
	for i, n := range f.Names() {
		x, _ := f.Tensor(n)
		shard := "model-00001-of-00002.safetensors"
		if i%2 == 1 {
			shard = "model-00002-of-00002.safetensors"
			z = append(z, x)
		} else {
			a = append(a, x)
		}
		wm[n] = shard
	}
	safetensors.Write(filepath.Join(dir, "model-00001-of-00002.safetensors"), a, map[string]string{"format": "pt"})
	safetensors.Write(filepath.Join(dir, "model-00002-of-00002.safetensors"), z, map[string]string{"format": "pt"})
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 1}, "weight_map": wm})
	os.WriteFile(filepath.Join(dir, safetensors.IndexFile), idx, 0o644)
	ck, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ck.Tensors) != len(ParamSpecs(ck.Config)) {
		t.Errorf("%d tensors", len(ck.Tensors))
	}
	h1, err := WeightsSHA256(dir)
	if err != nil || len(h1) != 64 {
		t.Fatalf("sharded hash %q %v", h1, err)
	}
	// Saving over a sharded directory leaves a single-file checkpoint.
	if err := Save(dir, ck, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	ck.Close()
	if _, err := os.Stat(filepath.Join(dir, safetensors.IndexFile)); err == nil {
		t.Error("stale index left behind")
	}
	if ck, err = Load(dir); err != nil {
		t.Fatal(err)
	}
	ck.Close()
}

// TestTorchReferenceSelfCheck runs tools/torchref/check_reference.py: the
// reference's attention against torch.nn.MultiheadAttention, gelu_new
// against torch's tanh GELU, GQA against MHA with repeated heads, RoPE's
// relative-position property and pair convention, the llama3 frequency
// bands, log-probs against cross_entropy, and padding invariance.
func TestTorchReferenceSelfCheck(t *testing.T) {
	py := python(t, "torch", "numpy")
	out, err := exec.Command(py, "-W", "ignore", filepath.Join(torchref(), "check_reference.py"),
		filepath.Join(testrefs.Root(), "testdata", "models")).CombinedOutput()
	if err != nil {
		t.Fatalf("check_reference.py: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "all reference checks passed") {
		t.Fatalf("unexpected output:\n%s", out)
	}
}

func TestSaveKeepsConfigStrings(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"architectures":["GPT2LMHeadModel"],"vocab_size":20,"n_embd":8,"n_layer":1,"n_head":2,"n_positions":8,
		"task_specific_params":{"text-generation":{"prefix":"<|endoftext|> & more"}},"layer_norm_epsilon":1e-05,"torch_dtype":"float32"}`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Save(dir, RandomInit(cfg, 1), safetensors.F16); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	for _, want := range []string{`"prefix": "<|endoftext|> & more"`, `"layer_norm_epsilon": 1e-05`, `"torch_dtype": "float16"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config.json lacks %s:\n%s", want, b)
		}
	}
	f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, n := range f.Names() {
		if !strings.HasPrefix(n, GPT2Prefix) {
			t.Errorf("saved GPT-2 tensor %q lacks the transformer. prefix", n)
		}
	}
}
