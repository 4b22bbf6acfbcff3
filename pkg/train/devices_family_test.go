package train_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/dpo-go/dpo/pkg/train"
)

// TestLoRADropoutMasksDevices: LoRA dropout (p = 0.5, an adapter with
// non-zero B) over 2 devices of 2 pairs draws the masks of one device's
// 4-pair micro-batch: with no optimizer update the per-pair rewards of two
// steps equal one device's within 1e-5 relative (and differ from those
// without dropout). A mask entry is a hash of the dropout state and its
// position (engine.LoRADropout), which XLA's partitioner splits exactly and
// padding rows do not move.
func TestLoRADropoutMasksDevices(t *testing.T) {
	if !onXLA(t) {
		t.Skip("needs a -tags xla build and GOMLX_BACKEND=xla:cpu (make test-xla)")
	}
	base, adDir, in := adapterCopies(t)
	dir := t.TempDir()
	run := func(name string, bs, devices int, p float64) []train.AccumulatedStep {
		c := testConfig(base, in, filepath.Join(dir, name))
		c.Backend = "" // $GOMLX_BACKEND
		c.LoRA.Adapter, c.LoRA.Dropout = adDir, p
		c.BatchSize, c.Devices, c.GradAccum, c.Epochs, c.Seed = bs, devices, 1, 1, 11
		got, err := train.AccumulateSteps(c, 2)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	one, two, none := run("one", 4, 1, 0.5), run("two", 2, 2, 0.5), run("none", 4, 1, 0)
	for k := range one {
		a, b := one[k].ChosenRewards, two[k].ChosenRewards
		if len(a) != 4 || len(b) != 4 {
			t.Fatalf("step %d: %d rewards on one device, %d on two; want 4", k, len(a), len(b))
		}
		masked := false
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-5*math.Max(1, math.Abs(a[i])) {
				t.Errorf("step %d pair %d: reward %.8g on 2 devices, %.8g on one (other dropout masks)", k, i, b[i], a[i])
			}
			masked = masked || math.Abs(a[i]-none[k].ChosenRewards[i]) > 1e-4
		}
		if !masked {
			t.Errorf("step %d: the rewards with dropout equal those without; the test sees no masks", k)
		}
	}
}

// TestLoRAMoEDevicesEqualOne: 6 steps of LoRA training (all-linear, r 4,
// dropout 0.1) and of full training of a tiny Qwen3-MoE (4 experts, top 2,
// the router's load-balancing loss on) with 2 pairs on each of 2 devices
// equal 4-pair micro-batches on one device: loss, grad_norm (and aux_loss)
// within 1e-4 relative, the adapter's or the model's weights within 1e-4.
// (With masks drawn by XLA's RngBitGenerator the partitioned LoRA run
// drifted from one device's on the packed layouts after its first two
// steps: loss 1.12823 on 2 devices, 1.12860 on one after 6; plain rows
// matched.)
func TestLoRAMoEDevicesEqualOne(t *testing.T) {
	if !onXLA(t) {
		t.Skip("needs a -tags xla build and GOMLX_BACKEND=xla:cpu (make test-xla)")
	}
	dir := t.TempDir()
	ps := synthPairs(8, 3)
	refs := make([][2]float64, len(ps))
	for i := range refs {
		refs[i] = [2]float64{-30 - 0.5*float64(i%3), -31 + 0.4*float64(i%4)}
	}
	in := filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, refs, "")
	moeDir := filepath.Join(dir, "moe")
	if err := os.MkdirAll(moeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	moe, _ := json.Marshal(map[string]any{
		"architectures": []string{"Qwen3MoeForCausalLM"}, "model_type": "qwen3_moe", "vocab_size": 259,
		"hidden_size": 32, "intermediate_size": 64, "moe_intermediate_size": 16, "num_experts": 4,
		"num_experts_per_tok": 2, "norm_topk_prob": true, "router_aux_loss_coef": 0.05, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 256,
		"rms_norm_eps": 1e-6, "hidden_act": "silu", "tie_word_embeddings": false, "initializer_range": 0.2,
		"torch_dtype": "float32", "bos_token_id": 256, "eos_token_id": 257,
	})
	moeCfg := filepath.Join(moeDir, "config.json")
	if err := os.WriteFile(moeCfg, moe, 0o644); err != nil {
		t.Fatal(err)
	}
	base := newBase(t, dir, 32, 2, 5)
	for _, c := range []struct {
		name string
		set  func(*train.Config)
		// weights reads the trained weights of an output directory.
		weights func(out string) map[string][]byte
	}{
		{"lora", func(c *train.Config) {
			c.LoRA = train.LoRAConfig{R: 4, Alpha: 16, Target: "all-linear", Dropout: 0.1}
		}, func(out string) map[string][]byte {
			return safetensorsBytes(t, filepath.Join(out, adapter.WeightsFile))
		}},
		{"qwen3-moe", func(c *train.Config) {
			c.Model, c.InitConfig, c.InitSeed = "", moeCfg, 7
		}, func(out string) map[string][]byte { return weightsBytes(t, out) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := func(name string, bs, devices int) (*train.Result, map[string][]byte) {
				tc := testConfig(base, in, filepath.Join(dir, c.name+"-"+name))
				tc.Backend = ""                                                                    // $GOMLX_BACKEND
				tc.BatchSize, tc.Devices, tc.GradAccum, tc.LR, tc.Epochs = bs, devices, 1, 1e-2, 3 // 2 steps an epoch
				c.set(&tc)
				res, err := train.Run(context.Background(), tc, "test", nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return res, c.weights(tc.Out)
			}
			one, w1 := run("one", 4, 1)
			two, w2 := run("two", 2, 2)
			if one.Steps != 6 || two.Steps != 6 {
				t.Fatalf("steps: %d on one device, %d on two; want 6", one.Steps, two.Steps)
			}
			keys := []string{"loss", "grad_norm"}
			if c.name == "qwen3-moe" {
				keys = append(keys, train.AuxLossMetric)
			}
			for _, k := range keys {
				a, b := two.Final[k], one.Final[k]
				if math.Abs(a-b) > 1e-4*math.Abs(b) || math.IsNaN(a) || b == 0 {
					t.Errorf("%s after 6 steps: 2 devices %.8g, one %.8g", k, a, b)
				}
			}
			if len(w1) == 0 || len(w1) != len(w2) {
				t.Fatalf("%d tensors on one device, %d on two", len(w1), len(w2))
			}
			for name, b := range w1 {
				x, y := f32s(b), f32s(w2[name])
				for i := range x {
					if d := math.Abs(float64(x[i] - y[i])); d > 1e-4*math.Max(1, math.Abs(float64(x[i]))) {
						t.Fatalf("%s[%d]: 2 devices %g, one %g", name, i, y[i], x[i])
					}
				}
			}
		})
	}
}

// safetensorsBytes reads every tensor of a safetensors file.
func safetensorsBytes(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range f.Names() {
		tt, _ := f.Tensor(n)
		out[n] = append([]byte(nil), tt.Data...)
	}
	return out
}
