package train_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/dpo-go/dpo/pkg/train"
)

// trlCase is one training run done by both TRL's DPOTrainer
// (tools/oracle/trl_train.py) and dpo-train.
type trlCase struct {
	Name         string    `json:"name"`
	LossType     []string  `json:"loss_type"`
	LossWeights  []float64 `json:"loss_weights,omitempty"`
	Beta         float64   `json:"beta"`
	LabelSmooth  float64   `json:"label_smoothing"`
	LR           float64   `json:"learning_rate"`
	Scheduler    string    `json:"lr_scheduler_type"`
	Warmup       int       `json:"warmup_steps"`
	WeightDecay  float64   `json:"weight_decay"`
	MaxGradNorm  float64   `json:"max_grad_norm"`
	BatchSize    int       `json:"batch_size"`
	GradAccum    int       `json:"grad_accum"`
	MaxSteps     int       `json:"max_steps"`
	LDAlpha      *float64  `json:"ld_alpha"`
	FDivergence  string    `json:"f_divergence_type"`
	FAlphaCoef   float64   `json:"f_alpha_divergence_coef"`
	UseWeighting bool      `json:"use_weighting"`
	// RouterAuxCoef is router_aux_loss_coef (MoE; nil: the config's).
	RouterAuxCoef *float64 `json:"router_aux_loss_coef,omitempty"`
	// Eval evaluates on the training pairs after training (TRL in one batch).
	Eval bool `json:"eval"`
	// Differs says why dpo-train deliberately differs from TRL in this
	// case; the test then checks that the losses agree at step 1 and
	// differ once the policy has moved.
	Differs string `json:"-"`
	// WeightsInLoss gives dpo-train the weights as "name=w" terms of the
	// loss instead of Config.LossWeights (--loss-weights).
	WeightsInLoss bool `json:"-"`
	// VocabChunk is dpo-train's --vocab-chunk (0: default, one chunk for
	// this vocabulary); smaller values exercise the online merges.
	VocabChunk int `json:"-"`
}

// trlMetrics are compared per step. rewards/accuracies is compared apart
// (it is a count, see below).
var trlMetrics = []string{"loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
	"logps/chosen", "logps/rejected", "grad_norm", "learning_rate",
	"logits/chosen", "logits/rejected", "mean_token_accuracy", "num_tokens", "entropy", "epoch"}

// trlFloor is the absolute tolerance under which a difference is accepted
// whatever the relative one, per metric. Both sides run float32 forwards
// that differ by summation order: summed completion log-probs (about 20
// nats here) agree to ~1e-6 relative, so a log-ratio carries ~3e-5 nats of
// noise, and a reward (β times it) ~3e-6 at β = 0.1. Rewards and margins
// start at exactly 0 on TRL's side (policy = reference at step 1), so only
// an absolute floor can hold there: 2e-5 is ~6x the noise and still 100x
// below the rewards after a few steps. logits/* are means of logits of
// order 1e-2 that also cross 0: 1e-6 is ~10x their float32 noise.
var trlFloor = map[string]float64{
	"rewards/chosen": 2e-5, "rewards/rejected": 2e-5, "rewards/margins": 2e-5,
	"logits/chosen": 1e-6, "logits/rejected": 1e-6, "loss": 1e-6, "learning_rate": 1e-12,
	"mean_token_accuracy": 1e-9,
}

func ldAlpha(v float64) *float64 { return &v }

// TestTrainAgainstTRL trains a tiny random Llama with TRL 1.x's
// DPOTrainer (precomputed reference log-probs, float32, eager attention,
// sequential sampler over dpo-train's own visiting order) and with
// dpo-train on the same pairs and reference, and compares every logged
// metric per optimizer step (1e-4 relative, absolute floors in trlFloor)
// and the final weights.
func TestTrainAgainstTRL(t *testing.T) {
	if testing.Short() {
		t.Skip("trains every case with TRL and with dpo-train")
	}
	py := testrefs.Python(t, "torch", "transformers", "trl", "datasets")
	dir := t.TempDir()
	const nPairs, seed = 80, 42
	ps := synthPairs(nPairs, 5)
	// Half the chosen completions repeat one token, which the model soon
	// predicts, so that mean_token_accuracy is not stuck at 0.
	for i := 0; i < nPairs; i += 2 {
		for j := range ps[i].chosen {
			ps[i].chosen[j] = 42
		}
	}
	perm := train.Permutation(nPairs, seed, 0)

	base := trlCase{Beta: 0.1, LR: 1e-2, Scheduler: "linear", Warmup: 2, MaxGradNorm: 1,
		BatchSize: 8, GradAccum: 1, MaxSteps: 10, FDivergence: "reverse_kl", FAlphaCoef: 0.5}
	with := func(name string, f func(*trlCase)) trlCase {
		c := base
		c.Name = name
		f(&c)
		return c
	}
	cases := []trlCase{
		with("sigmoid", func(c *trlCase) { c.LossType = []string{"sigmoid"} }),
		with("ipo_accum_clip", func(c *trlCase) {
			c.LossType = []string{"ipo"}
			c.BatchSize, c.GradAccum, c.MaxGradNorm = 4, 2, 0.2
		}),
		// 80 pairs in batches of 6: 14 micro-batches an epoch (the last of
		// 2), so the logged epoch after step k is k/14, not 6k/80.
		with("sigmoid_b6", func(c *trlCase) { c.LossType, c.BatchSize = []string{"sigmoid"}, 6 }),
		with("hinge_wd", func(c *trlCase) { c.LossType, c.WeightDecay = []string{"hinge"}, 0.1 }),
		with("robust_accum", func(c *trlCase) {
			c.LossType, c.LabelSmooth = []string{"robust"}, 0.1
			c.BatchSize, c.GradAccum = 4, 2
		}),
		with("apo_zero_cosine", func(c *trlCase) { c.LossType, c.Scheduler = []string{"apo_zero"}, "cosine" }),
		with("sigmoid_norm_clip", func(c *trlCase) { c.LossType, c.MaxGradNorm = []string{"sigmoid_norm"}, 0.2 }),
		with("sigmoid_sft", func(c *trlCase) {
			c.LossType, c.LossWeights = []string{"sigmoid", "sft"}, []float64{1, 0.5}
			c.VocabChunk = 64
		}),
		with("js_divergence", func(c *trlCase) {
			c.LossType, c.FDivergence, c.MaxSteps = []string{"sigmoid"}, "js_divergence", 4
		}),
		with("forward_kl", func(c *trlCase) {
			c.LossType, c.FDivergence, c.MaxSteps = []string{"hinge"}, "forward_kl", 4
		}),
		with("alpha_divergence", func(c *trlCase) {
			c.LossType, c.FDivergence, c.FAlphaCoef, c.MaxSteps = []string{"ipo"}, "alpha_divergence", 0.3, 4
		}),
		with("ld_alpha", func(c *trlCase) {
			c.LossType, c.LDAlpha, c.MaxSteps = []string{"sigmoid", "sft"}, ldAlpha(0.5), 4
			c.LossWeights, c.WeightsInLoss = []float64{1, 0.2}, true
			c.BatchSize, c.GradAccum, c.Eval = 4, 2, true
		}),
		with("use_weighting", func(c *trlCase) {
			c.LossType, c.UseWeighting, c.MaxSteps, c.Eval = []string{"sigmoid"}, true, 4, true
			c.VocabChunk = 100
		}),
		// Deliberate differences (see pkg/dpo/doc.go).
		with("sigmoid_label_smoothing", func(c *trlCase) {
			c.LossType, c.LabelSmooth, c.MaxSteps = []string{"sigmoid"}, 0.2, 4
			c.Differs = "TRL 1.x ignores label_smoothing for sigmoid; dpo-train applies conservative DPO (cDPO)"
		}),
		with("bco_pair", func(c *trlCase) {
			c.LossType, c.MaxSteps, c.Beta = []string{"bco_pair"}, 4, 1
			c.Differs = "TRL 1.x dropped bco_pair's running reward mean δ; dpo-train keeps it (the BCO paper's)"
		}),
	}

	if onXLA(t) {
		// make test's XLA pass (CI budget): the seven loss types, each
		// with its accumulation, clipping, decay or schedule variant.
		cases = slices.DeleteFunc(cases, func(c trlCase) bool {
			return !slices.Contains([]string{"sigmoid", "ipo_accum_clip", "hinge_wd", "robust_accum", "apo_zero_cosine", "sigmoid_norm_clip", "sigmoid_sft"}, c.Name)
		})
	}

	// The oracle: one Python process for every case.
	trlDir, modelDir := runTRL(t, py, dir, tinyLlamaConfig(), 3, ps, perm, cases)

	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			trl, refs := readTRLLog(t, trlDir, tc.Name, perm)
			var extra [][2]string
			if tc.LDAlpha != nil {
				extra = append(extra, [2]string{"dpo." + train.RefStage + ".options",
					fmt.Sprintf(`{"model":"trl","%s":%s}`, train.RefLDAlphaOption, strconv.FormatFloat(*tc.LDAlpha, 'g', -1, 64))})
			}
			stream := filepath.Join(dir, tc.Name+".arrow")
			writeStream(t, stream, ps, refs, "", extra...)
			out := filepath.Join(dir, "go-"+tc.Name)
			c := trlConfig(tc, stream, out, modelDir, seed)
			if tc.Eval {
				c.Eval = stream
			}
			if _, err := train.Run(context.Background(), c, "test", nil, nil); err != nil {
				t.Fatal(err)
			}
			ours := readMetrics(t, filepath.Join(out, train.MetricsFile))
			theirs := trl.trainLogs()
			if len(ours) != tc.MaxSteps || len(theirs) != tc.MaxSteps {
				t.Fatalf("steps: dpo-train logged %d, TRL %d, want %d", len(ours), len(theirs), tc.MaxSteps)
			}
			if tc.Differs != "" {
				first, last := num(t, ours[0], "loss"), num(t, ours[tc.MaxSteps-1], "loss")
				tFirst, tLast := num(t, theirs[0], "loss"), num(t, theirs[tc.MaxSteps-1], "loss")
				if !approx(first, tFirst, 1e-4, 1e-6) {
					t.Errorf("step 1 (policy = reference) loss: dpo-train %.9g, TRL %.9g; they should agree there", first, tFirst)
				}
				if approx(last, tLast, 1e-4, 1e-6) { // the tolerance the other cases are held to
					t.Errorf("step %d loss: dpo-train %.9g, TRL %.9g agree, but %s", tc.MaxSteps, last, tLast, tc.Differs)
				}
				t.Logf("deliberate difference (%s): step %d loss dpo-train %.6g, TRL %.6g", tc.Differs, tc.MaxSteps, last, tLast)
				return
			}
			clipped, moved := false, false
			for k := range ours {
				for _, name := range trlMetrics {
					if name == "logits/rejected" && !hasKey(theirs[k], name) {
						continue
					}
					got, want := num(t, ours[k], name), num(t, theirs[k], name)
					if !approx(got, want, 1e-4, trlFloor[name]) {
						t.Errorf("step %d %s: dpo-train %.9g, TRL %.9g (rel %.2g)", k+1, name, got, want, math.Abs(got-want)/math.Abs(want))
					}
				}
				// rewards/accuracies counts pairs with a chosen reward strictly
				// greater; until a step with a learning rate > 0 has run, the
				// policy is the reference and every margin is float32 noise
				// (TRL's is exactly 0, its reference being the same batched
				// forward), so it is compared only once the policy has moved.
				if moved {
					got, want := num(t, ours[k], "rewards/accuracies"), num(t, theirs[k], "rewards/accuracies")
					if !approx(got, want, 1e-6, 0) { // TRL's is a float32 mean
						t.Errorf("step %d rewards/accuracies: dpo-train %v, TRL %v", k+1, got, want)
					}
				}
				clipped = clipped || num(t, theirs[k], "grad_norm") > tc.MaxGradNorm
				moved = moved || num(t, theirs[k], "learning_rate") > 0
			}
			if tc.Eval {
				last := ours[len(ours)-1]
				for _, name := range []string{"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen", "logps/rejected"} {
					got, want := num(t, last, "eval_"+name), num(t, trl.Eval, "eval_"+name)
					if !approx(got, want, 1e-4, trlFloor[name]) {
						t.Errorf("evaluation %s: dpo-train %.9g, TRL %.9g", name, got, want)
					}
				}
				if got, want := num(t, last, "eval_rewards/accuracies"), num(t, trl.Eval, "eval_rewards/accuracies"); !approx(got, want, 1e-6, 0) { // TRL's is a float32 mean
					t.Errorf("evaluation rewards/accuracies: dpo-train %v, TRL %v", got, want)
				}
			}
			t.Logf("last step: loss %.4g, rewards/margins %.3g, mean_token_accuracy %.3g, grad_norm %.3g",
				num(t, theirs[tc.MaxSteps-1], "loss"), num(t, theirs[tc.MaxSteps-1], "rewards/margins"),
				num(t, theirs[tc.MaxSteps-1], "mean_token_accuracy"), num(t, theirs[tc.MaxSteps-1], "grad_norm"))
			if tc.MaxGradNorm < 1 && !clipped {
				t.Errorf("max_grad_norm %v never clipped: the case does not test clipping", tc.MaxGradNorm)
			}
			compareWeights(t, filepath.Join(out, "model.safetensors"), filepath.Join(trlDir, tc.Name, "model.safetensors"),
				filepath.Join(modelDir, "model.safetensors"))
			checkTrainerState(t, filepath.Join(out, fmt.Sprintf("checkpoint-%d", tc.MaxSteps), train.TrainerFile),
				filepath.Join(trlDir, tc.Name, "trainer_state.json"), tc.MaxSteps)
		})
	}
}

// trlConfig is dpo-train's configuration of a TRL case.
func trlConfig(tc trlCase, stream, out, model string, seed int64) train.Config {
	c := train.DefaultConfig()
	c.Input, c.Out, c.Model, c.Seed, c.Quiet = stream, out, model, seed, true
	var terms []string
	for i, n := range tc.LossType {
		if tc.LossWeights != nil && tc.WeightsInLoss {
			n += "=" + strconv.FormatFloat(tc.LossWeights[i], 'g', -1, 64)
		}
		terms = append(terms, n)
	}
	c.Loss = strings.Join(terms, ",")
	if !tc.WeightsInLoss {
		c.LossWeights = tc.LossWeights
	}
	c.Beta, c.LabelSmoothing = tc.Beta, tc.LabelSmooth
	c.LR, c.Scheduler, c.WarmupSteps, c.WeightDecay, c.MaxGradNorm = tc.LR, tc.Scheduler, tc.Warmup, tc.WeightDecay, tc.MaxGradNorm
	c.BatchSize, c.GradAccum, c.MaxSteps, c.LoggingSteps = tc.BatchSize, tc.GradAccum, tc.MaxSteps, 1
	c.VocabChunk = tc.VocabChunk
	c.LDAlpha, c.FDivergence, c.FAlphaCoef, c.UseWeighting = tc.LDAlpha, tc.FDivergence, tc.FAlphaCoef, tc.UseWeighting
	c.RouterAuxLossCoef = tc.RouterAuxCoef
	return c
}

func approx(got, want, rel, abs float64) bool {
	d := math.Abs(got - want)
	return d <= abs || d <= rel*math.Abs(want)
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func num(t *testing.T, m map[string]any, k string) float64 {
	t.Helper()
	v, ok := m[k].(float64)
	if !ok {
		t.Fatalf("metric %q missing from %v", k, m)
	}
	return v
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readMetrics(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func trlF32s(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, n := range f.Names() {
		tt, _ := f.Tensor(n)
		if out[n], err = tt.Float32s(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// compareWeights compares the final weights tensor by tensor. Each
// tensor's difference is measured against its change during training
// (‖ours - TRL‖ / ‖TRL - initial‖ <= 1e-3): the weights themselves are
// dominated by their initial values, which hides errors in the updates.
func compareWeights(t *testing.T, oursPath, trlPath, initPath string) {
	t.Helper()
	ours, theirs, init := trlF32s(t, oursPath), trlF32s(t, trlPath), trlF32s(t, initPath)
	if len(ours) != len(theirs) {
		t.Errorf("dpo-train saved %d tensors, TRL %d", len(ours), len(theirs))
	}
	worst, worstName := 0.0, ""
	for name, w := range theirs {
		o, ok := ours[name]
		if !ok {
			t.Errorf("tensor %s missing from dpo-train's checkpoint", name)
			continue
		}
		var d, u float64
		for i := range w {
			e := float64(o[i]) - float64(w[i])
			d += e * e
			c := float64(w[i]) - float64(init[name][i])
			u += c * c
		}
		if u == 0 {
			if d != 0 {
				t.Errorf("%s: TRL left it unchanged, dpo-train did not (‖diff‖ %g)", name, math.Sqrt(d))
			}
			continue
		}
		if r := math.Sqrt(d / u); r > worst {
			worst, worstName = r, name
		}
	}
	if worst > 1e-3 {
		t.Errorf("final weights: ‖dpo-train - TRL‖/‖TRL update‖ = %.3g in %s (> 1e-3)", worst, worstName)
	}
	t.Logf("final weights: worst ‖dpo-train - TRL‖/‖TRL update‖ = %.3g (%s)", worst, worstName)
}

// checkTrainerState checks that dpo-train's trainer_state.json has every
// top-level field of transformers' and the same global_step, max_steps and
// number of log_history entries with a loss.
func checkTrainerState(t *testing.T, oursPath, trlPath string, steps int) {
	t.Helper()
	var ours, theirs map[string]any
	readJSON(t, oursPath, &ours)
	readJSON(t, trlPath, &theirs)
	for k := range theirs {
		if _, ok := ours[k]; !ok {
			t.Errorf("trainer_state.json: field %q of transformers' layout missing", k)
		}
	}
	for _, k := range []string{"global_step", "max_steps"} {
		if ours[k] != theirs[k] {
			t.Errorf("trainer_state.json %s: dpo-train %v, transformers %v", k, ours[k], theirs[k])
		}
	}
	count := func(m map[string]any) int {
		n := 0
		h, _ := m["log_history"].([]any)
		for _, e := range h {
			if hasKey(e.(map[string]any), "loss") {
				n++
			}
		}
		return n
	}
	if a, b := count(ours), count(theirs); a != b || a != steps {
		t.Errorf("trainer_state.json log_history: dpo-train %d entries with a loss, transformers %d, want %d", a, b, steps)
	}
}
