package train_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/dpo-go/dpo/pkg/train"
)

// torchCase is pkg/train/testdata/torchref/<case>.json, written by
// tools/torchref/train_step.py.
type torchCase struct {
	Model    string             `json:"model"`
	Hyper    map[string]float64 `json:"hyperparameters"`
	RawPairs []map[string]any   `json:"pairs"`
}

func ints(v any) []int32 {
	var out []int32
	for _, x := range v.([]any) {
		out = append(out, int32(x.(float64)))
	}
	return out
}

func relNorm(got []float32, want []float64) float64 {
	var d, n float64
	for i := range want {
		e := float64(got[i]) - want[i]
		d += e * e
		n += want[i] * want[i]
	}
	return math.Sqrt(d) / math.Max(math.Sqrt(n), 1e-30)
}

// loadTorchCase reads testdata/torchref/<file>.json and writes its pairs
// and reference log-probs as a stream into dir; it returns the case and
// the stream's path.
func loadTorchCase(t *testing.T, file, dir string) (torchCase, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "torchref", file+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var tc torchCase
	if err := json.Unmarshal(b, &tc); err != nil {
		t.Fatal(err)
	}
	var ps []synthPair
	var refs [][2]float64
	for _, p := range tc.RawPairs {
		ps = append(ps, synthPair{id: p["id"].(string), prompt: ints(p["prompt"]), chosen: ints(p["chosen"]), rejected: ints(p["rejected"])})
		refs = append(refs, [2]float64{p["ref_chosen"].(float64), p["ref_rejected"].(float64)})
	}
	in := filepath.Join(dir, "ref.arrow")
	writeStream(t, in, ps, refs, "")
	return tc, in
}

// torchGolden opens testdata/torchref/<file>.safetensors and returns a
// getter of its tensors as float64.
func torchGolden(t *testing.T, file string) func(string) []float64 {
	t.Helper()
	gold, err := safetensors.ReadFile(filepath.Join("testdata", "torchref", file+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return func(n string) []float64 {
		tt, ok := gold.Tensor(n)
		if !ok {
			t.Fatalf("%s has no %q", file, n)
		}
		v, err := tt.Float64s()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestTrainStepAgainstTorch compares one DPO step with PyTorch
// (tools/torchref/train_step.py, float64): the loss (1e-5 relative), every
// parameter's gradient (‖g_go - g_torch‖ / ‖g_torch‖ <= 1e-4 per tensor),
// the pre-clip gradient norm, and the weights after clip_grad_norm_ and
// torch.optim.AdamW (with weight decay except for norms and biases), to
// 2e-6 absolute (lr 1e-3).
func TestTrainStepAgainstTorch(t *testing.T) {
	root := testrefs.Root()
	for _, name := range []string{"llama_gqa", "qwen2", "qwen3", "mistral", "gpt2"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tc, in := loadTorchCase(t, name, dir)
			get := torchGolden(t, name)
			hp := tc.Hyper
			c := testConfig(filepath.Join(root, "testdata", "models", name), in, filepath.Join(dir, "out"))
			c.Beta, c.LR, c.AdamBeta1, c.AdamBeta2, c.AdamEps = hp["beta"], hp["lr"], hp["adam_beta1"], hp["adam_beta2"], hp["adam_epsilon"]
			c.WeightDecay, c.MaxGradNorm = hp["weight_decay"], hp["max_grad_norm"]
			c.BatchSize, c.MaxSteps, c.Scheduler = len(tc.RawPairs), 1, train.SchedConstant

			loss, grads, err := train.StepGradients(c)
			if err != nil {
				t.Fatal(err)
			}
			if want := get("loss")[0]; math.Abs(loss-want) > 1e-5*math.Abs(want) {
				t.Errorf("loss %.9g, torch %.9g", loss, want)
			}
			worst := 0.0
			for n, g := range grads {
				want := get("grad/" + strings.TrimPrefix(n, "transformer."))
				if len(want) != len(g) {
					t.Fatalf("%s: %d values, torch %d", n, len(g), len(want))
				}
				e := relNorm(g, want)
				worst = math.Max(worst, e)
				if e > 1e-4 {
					t.Errorf("gradient of %s: relative error %.3g", n, e)
				}
			}
			t.Logf("%d gradients, worst relative error %.3g", len(grads), worst)

			res, err := train.Run(context.Background(), c, "test", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := res.Final["grad_norm"], get("grad_norm")[0]; math.Abs(got-want) > 1e-4*want {
				t.Errorf("grad_norm %.8g, torch %.8g", got, want)
			}
			norm := get("grad_norm")[0]
			coef := math.Min(1, c.MaxGradNorm/(norm+1e-6))
			ws := weightsBytes(t, c.Out)
			checked := 0
			for n, raw := range ws {
				got := f32s(raw)
				hf := strings.TrimPrefix(n, "transformer.")
				want, g := get("updated/"+hf), get("grad/"+hf)
				for i := range want {
					d := math.Abs(float64(got[i]) - want[i])
					// The first AdamW step moves each weight by lr·ĝ/(|ĝ|+ε): for
					// gradients near ε (e.g. attention key biases, whose true
					// gradient is 0) float32 noise decides it, so those are
					// only held to the bound lr.
					if math.Abs(g[i]*coef) > 1e-6 {
						checked++
						if d > 2e-6 {
							t.Fatalf("%s[%d] after AdamW: %.9g, torch %.9g (grad %.3g)", n, i, got[i], want[i], g[i])
						}
					} else if d > 1.01*c.LR {
						t.Fatalf("%s[%d] after AdamW: %.9g, torch %.9g (grad %.3g)", n, i, got[i], want[i], g[i])
					}
				}
			}
			t.Logf("%d weights compared to 2e-6 after AdamW", checked)
		})
	}
}

// TestTrainStepBF16AgainstTorch compares a --bf16 step with PyTorch
// computing the same mixed precision (tools/torchref/train_step.py,
// <case>_bf16: float32 master weights, every matrix product from bf16
// operands with a float32 accumulator rounded to bf16).
//
// Both sides round the same float32 values to bf16, except where the two
// float32 values differ in their last bit (summation order, exp, rsqrt
// against 1/sqrt) and straddle a bf16 rounding boundary. Such flips are
// rare but real: among ~10^5 roundings per case a few are expected, and
// one moves a whole sequence's log-prob by a bf16 ulp of a logit (seen
// here in the Mistral case). So the test measures, per case, the global
// gradient error against torch's bf16 step as a fraction of the
// bf16-vs-float64 gap, and asks that every case stay under 0.3 (a flip)
// and most cases under 0.05 (no flip: measured 0.000003–0.0006; the
// Mistral case, with a flip, 0.2). The loss is held to 0.3 of its gap.
// Rounding in the wrong place is systematic and fails: rounding the target
// logit's gradient apart from the softmax's puts every case at 0.35–0.57;
// summing GQA key/value gradients over query heads before rounding them
// (transformers' repeat_kv rounds per head) puts the four GQA cases at
// 0.23–0.31.
func TestTrainStepBF16AgainstTorch(t *testing.T) {
	root := testrefs.Root()
	cases := []string{"llama_gqa", "qwen2", "qwen3", "mistral", "gpt2"}
	ratios := map[string]float64{}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tc, in := loadTorchCase(t, name+"_bf16", dir)
			bf, f64 := torchGolden(t, name+"_bf16"), torchGolden(t, name)
			hp := tc.Hyper
			c := testConfig(filepath.Join(root, "testdata", "models", name), in, filepath.Join(dir, "out"))
			c.Beta, c.MaxGradNorm = hp["beta"], hp["max_grad_norm"]
			c.BatchSize, c.MaxSteps, c.Scheduler = len(tc.RawPairs), 1, train.SchedConstant
			c.BF16 = true

			loss, grads, err := train.StepGradients(c)
			if err != nil {
				t.Fatal(err)
			}
			want, exact := bf("loss")[0], f64("loss")[0]
			if math.Abs(loss-want) > 0.3*math.Abs(want-exact) {
				t.Errorf("loss %.9g, torch bf16 %.9g (float64 %.9g)", loss, want, exact)
			}
			if math.Abs(want-exact) < 1e-5*math.Abs(exact) {
				t.Errorf("torch bf16 loss %.9g equals the float64 loss %.9g: the reference is not bf16", want, exact)
			}
			var errSq, gapSq, normSq float64
			for n, g := range grads {
				hf := strings.TrimPrefix(n, "transformer.")
				wantBF, want64 := bf("grad/"+hf), f64("grad/"+hf)
				if len(wantBF) != len(g) {
					t.Fatalf("%s: %d values, torch %d", n, len(g), len(wantBF))
				}
				for i, v := range wantBF {
					bv := float64(float32(v))
					errSq += (float64(g[i]) - bv) * (float64(g[i]) - bv)
					gapSq += (bv - want64[i]) * (bv - want64[i])
					normSq += want64[i] * want64[i]
				}
			}
			e, gap := math.Sqrt(errSq/normSq), math.Sqrt(gapSq/normSq)
			ratios[name] = e / gap
			if e > 0.3*gap {
				t.Errorf("gradients: relative error %.3g against torch bf16; bf16 vs float64 differ by %.3g", e, gap)
			}
			t.Logf("%d gradients: relative error %.3g against torch bf16, %.3g of the bf16-float64 gap", len(grads), e, e/gap)
		})
	}
	near := 0
	for _, r := range ratios {
		if r <= 0.05 {
			near++
		}
	}
	if len(ratios) == len(cases) && 2*near <= len(ratios) {
		t.Errorf("only %d of %d cases match torch's bf16 gradients within 5%% of the bf16-float64 gap: %v", near, len(ratios), ratios)
	}
}
