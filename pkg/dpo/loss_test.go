package dpo

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// TestSigmoidIsLn2WhenPolicyEqualsReference: with π = π_ref every DPO
// logit is 0 and the loss is -log σ(0) = ln 2, whatever β and the
// log-probs; the gradient wrt π_w is -β/(2B) per pair.
func TestSigmoidIsLn2WhenPolicyEqualsReference(t *testing.T) {
	b := goldenBatch{
		PolicyChosen:   []float64{-12, -3.5, -88.25, -41, -1000.5},
		PolicyRejected: []float64{-19.75, -3.5, -60, -44.5, -0.125},
		ChosenLengths:  []int{4, 2, 30, 17, 300}, RejectedLengths: []int{7, 2, 25, 16, 1},
	}
	b.RefChosen = append([]float64(nil), b.PolicyChosen...)
	b.RefRejected = append([]float64(nil), b.PolicyRejected...)
	for _, beta := range []float64{0.1, 0.5, 3} {
		o, err := Parse("sigmoid", Config{Beta: beta})
		if err != nil {
			t.Fatal(err)
		}
		r, err := o.LossFloat64(b.f64(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Loss != math.Ln2 {
			t.Errorf("beta %v: LossFloat64 = %.17g, want ln 2 = %.17g", beta, r.Loss, math.Ln2)
		}
		if r.Metrics.RewardsAccuracies != 0 || r.Metrics.RewardsMargins != 0 {
			t.Errorf("beta %v: accuracies %v margins %v, want 0 0", beta, r.Metrics.RewardsAccuracies, r.Metrics.RewardsMargins)
		}
		for _, tc := range []struct {
			dt  dtypes.DType
			tol float64
		}{{dtypes.Float64, 2e-16}, {dtypes.Float32, 1e-7}} {
			g := runGraph(t, o, b, nil, tc.dt)
			if math.Abs(g.loss-math.Ln2) > tc.tol {
				t.Errorf("beta %v %s: graph loss = %.17g, want ln 2", beta, tc.dt, g.loss)
			}
			want := -beta / 2 / float64(len(b.PolicyChosen))
			for i, v := range g.grad["policy_chosen"] {
				if math.Abs(v-want) > tc.tol*10 {
					t.Errorf("beta %v %s: d loss/d policy_chosen[%d] = %v, want %v", beta, tc.dt, i, v, want)
				}
			}
		}
	}
}

// TestReferenceFreeWithoutReferenceNodes: objectives that need no
// reference accept nil reference inputs and give the golden values.
func TestReferenceFreeWithoutReferenceNodes(t *testing.T) {
	g := loadGolden(t)
	n := 0
	for _, c := range g.Cases {
		o := c.objective(t)
		if o.NeedsReference() {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			in := g.Batches[c.Batch].f64()
			in.RefChosen, in.RefRejected = nil, nil
			r, err := o.LossFloat64(in, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, "loss", r.Loss, c.Loss, 1e-12, 1e-13)

			fn := func(pc, pr, lc, lr *graph.Node) *graph.Node {
				out, err := o.Loss(Inputs{PolicyChosen: pc, PolicyRejected: pr, ChosenLengths: lc, RejectedLengths: lr})
				if err != nil {
					panic(err)
				}
				return out.Loss
			}
			b := g.Batches[c.Batch]
			res, err := graph.CallOnce(testBackend(t), fn, b.PolicyChosen, b.PolicyRejected, b.ChosenLengths, b.RejectedLengths)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, "graph loss", toF64(t, res)[0], c.Loss, 1e-9, 1e-12)
		})
	}
	if n == 0 {
		t.Fatal("no reference-free golden cases")
	}
}

func TestLossFloat64Errors(t *testing.T) {
	good := func() InputsF64 {
		return InputsF64{
			PolicyChosen: []float64{-1, -2}, PolicyRejected: []float64{-3, -4},
			RefChosen: []float64{-1, -2}, RefRejected: []float64{-3, -4},
			ChosenLengths: []int{1, 2}, RejectedLengths: []int{3, 4},
		}
	}
	tests := []struct {
		name, spec string
		edit       func(*InputsF64)
		bco        bool
		wantErr    string
	}{
		{"empty", "sigmoid", func(in *InputsF64) { *in = InputsF64{} }, false, "empty batch"},
		{"short rejected", "sigmoid", func(in *InputsF64) { in.PolicyRejected = in.PolicyRejected[:1] }, false, "policy_rejected_logps has 1 rows, want 2"},
		{"missing ref", "sigmoid", func(in *InputsF64) { in.RefChosen = nil }, false, "ref_chosen_logps has 0 rows"},
		{"nan", "sigmoid", func(in *InputsF64) { in.RefRejected[1] = math.NaN() }, false, "row 1: field ref_rejected_logps is NaN"},
		{"inf", "hinge", func(in *InputsF64) { in.PolicyChosen[0] = math.Inf(-1) }, false, "row 0: field policy_chosen_logps is -Inf"},
		{"zero length", "ipo", func(in *InputsF64) { in.RejectedLengths[1] = 0 }, false, "row 1: field rejected_lengths is 0"},
		{"missing lengths", "simpo", func(in *InputsF64) { in.ChosenLengths = nil }, false, "chosen_lengths has 0 rows"},
		{"no state", "bco_pair", func(in *InputsF64) {}, false, "running moments"},
		{"ok bco", "bco_pair", func(in *InputsF64) {}, true, ""},
		{"lengths unused", "sigmoid", func(in *InputsF64) { in.ChosenLengths = nil; in.RejectedLengths[0] = 0 }, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse(tt.spec, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			in := good()
			tt.edit(&in)
			var st *RunningMoments
			if tt.bco {
				s := NewRunningMoments()
				st = &s
			}
			_, err = o.LossFloat64(in, st)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLossGraphErrors(t *testing.T) {
	tests := []struct {
		name, spec string
		build      func(g *graph.Graph) Inputs
		wantErr    string
	}{
		{"no policy", "sigmoid", func(g *graph.Graph) Inputs { return Inputs{} }, "required"},
		{"missing reference", "sigmoid", func(g *graph.Graph) Inputs {
			v := graph.Const(g, []float32{-1, -2})
			return Inputs{PolicyChosen: v, PolicyRejected: v}
		}, "ref_chosen_logps is required"},
		{"shape mismatch", "sigmoid", func(g *graph.Graph) Inputs {
			v := graph.Const(g, []float32{-1, -2})
			return Inputs{PolicyChosen: v, PolicyRejected: graph.Const(g, []float32{-1, -2, -3}), RefChosen: v, RefRejected: v}
		}, "policy_rejected_logps must have shape [2]"},
		{"dtype mismatch", "sigmoid", func(g *graph.Graph) Inputs {
			v := graph.Const(g, []float32{-1, -2})
			return Inputs{PolicyChosen: v, PolicyRejected: v, RefChosen: graph.Const(g, []float64{-1, -2}), RefRejected: v}
		}, "dtype"},
		{"int logps", "sigmoid", func(g *graph.Graph) Inputs {
			v := graph.Const(g, []int32{-1, -2})
			return Inputs{PolicyChosen: v, PolicyRejected: v, RefChosen: v, RefRejected: v}
		}, "float vector"},
		{"missing lengths", "ipo", func(g *graph.Graph) Inputs {
			v := graph.Const(g, []float32{-1, -2})
			return Inputs{PolicyChosen: v, PolicyRejected: v, RefChosen: v, RefRejected: v}
		}, "chosen_lengths is required"},
		{"missing bco state", "bco_pair", func(g *graph.Graph) Inputs {
			v := graph.Const(g, []float32{-1, -2})
			return Inputs{PolicyChosen: v, PolicyRejected: v, RefChosen: v, RefRejected: v}
		}, "BCOMean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse(tt.spec, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			var lossErr error
			fn := func(g *graph.Graph) *graph.Node {
				_, lossErr = o.Loss(tt.build(g))
				return graph.Const(g, float32(0))
			}
			if _, err := graph.CallOnce(testBackend(t), fn); err != nil {
				t.Fatal(err)
			}
			if lossErr == nil || !strings.Contains(lossErr.Error(), tt.wantErr) {
				t.Fatalf("Loss error %v, want it to contain %q", lossErr, tt.wantErr)
			}
		})
	}
}

// TestRunningMoments checks the TRL update rule on a short stream against
// values worked out by hand: after the first update the mean is the first
// observation, afterwards the plain average of all observations.
func TestRunningMoments(t *testing.T) {
	r := NewRunningMoments()
	xs := []float64{0.5, -1.5, 2.0, 0.25}
	sum := 0.0
	for i, x := range xs {
		r.Update(x)
		sum += x
		want := sum / float64(i+1)
		if math.Abs(r.Mean-want) > 1e-15 {
			t.Fatalf("after %d updates mean = %v, want %v", i+1, r.Mean, want)
		}
	}
	// Population variance of xs (the 1e-24 seed weight is negligible).
	m := sum / 4
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	v /= 4
	if math.Abs(r.Var-v) > 1e-12 {
		t.Fatalf("variance %v, want %v", r.Var, v)
	}
	if math.Abs(r.Count-4) > 1e-12 {
		t.Fatalf("count %v, want 4", r.Count)
	}
}
