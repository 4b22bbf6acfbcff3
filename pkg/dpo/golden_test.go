package dpo

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend "go"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/dpo-go/dpo/internal/testrefs"
)

var update = flag.Bool("update", false, "regenerate testdata/losses_golden.json with /usr/bin/python3 tools/torchref/losses.py")

const goldenPath = "testdata/losses_golden.json"

type goldenBatch struct {
	PolicyChosen    []float64 `json:"policy_chosen"`
	PolicyRejected  []float64 `json:"policy_rejected"`
	RefChosen       []float64 `json:"ref_chosen"`
	RefRejected     []float64 `json:"ref_rejected"`
	ChosenLengths   []int     `json:"chosen_lengths"`
	RejectedLengths []int     `json:"rejected_lengths"`
}

type goldenState struct {
	Mean  float64 `json:"mean"`
	Var   float64 `json:"var"`
	Count float64 `json:"count"`
}

type goldenCase struct {
	Name            string               `json:"name"`
	Batch           string               `json:"batch"`
	Spec            string               `json:"spec"`
	Beta            float64              `json:"beta"`
	LabelSmoothing  float64              `json:"label_smoothing"`
	SimPOGamma      float64              `json:"simpo_gamma"`
	DiscoPOPTau     float64              `json:"discopop_tau"`
	ReferenceFree   bool                 `json:"reference_free"`
	BCOState        *goldenState         `json:"bco_state"`
	Loss            float64              `json:"loss"`
	Grad            map[string][]float64 `json:"grad"`
	ChosenRewards   []float64            `json:"chosen_rewards"`
	RejectedRewards []float64            `json:"rejected_rewards"`
	Metrics         map[string]float64   `json:"metrics"`
	BCOAfter        *goldenState         `json:"bco_after"`
}

type goldenFile struct {
	Batches map[string]goldenBatch `json:"batches"`
	Cases   []goldenCase           `json:"cases"`
}

var gradFields = []string{"policy_chosen", "policy_rejected", "ref_chosen", "ref_rejected"}

func loadGolden(t *testing.T) goldenFile {
	t.Helper()
	if *update {
		py := testrefs.Path(t, "/usr/bin/python3")
		cmd := exec.Command(py, filepath.Join(testrefs.Root(), "tools", "torchref", "losses.py"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("running losses.py: %v", err)
		}
		if err := os.WriteFile(goldenPath, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("parsing %s: %v", goldenPath, err)
	}
	if len(g.Cases) == 0 {
		t.Fatalf("%s has no cases", goldenPath)
	}
	return g
}

func (c goldenCase) objective(t *testing.T) Objective {
	t.Helper()
	o, err := Parse(c.Spec, Config{
		Beta: c.Beta, LabelSmoothing: c.LabelSmoothing, SimPOGamma: c.SimPOGamma,
		DiscoPOPTau: c.DiscoPOPTau, ReferenceFree: c.ReferenceFree,
	})
	if err != nil {
		t.Fatalf("%s: Parse(%q): %v", c.Name, c.Spec, err)
	}
	return o
}

func (c goldenCase) state() *RunningMoments {
	if c.BCOState == nil {
		return nil
	}
	return &RunningMoments{Mean: c.BCOState.Mean, Var: c.BCOState.Var, Count: c.BCOState.Count, Std: 1}
}

func (b goldenBatch) f64() InputsF64 {
	return InputsF64{
		PolicyChosen: b.PolicyChosen, PolicyRejected: b.PolicyRejected,
		RefChosen: b.RefChosen, RefRejected: b.RefRejected,
		ChosenLengths: b.ChosenLengths, RejectedLengths: b.RejectedLengths,
	}
}

// close reports whether got is within rtol (relative) or atol of want.
func closeTo(got, want, rtol, atol float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return false
	}
	return math.Abs(got-want) <= atol+rtol*math.Max(math.Abs(got), math.Abs(want))
}

func checkClose(t *testing.T, what string, got, want, rtol, atol float64) {
	t.Helper()
	if !closeTo(got, want, rtol, atol) {
		t.Errorf("%s = %.17g, torch reference %.17g (diff %.3g, rtol %g)", what, got, want, got-want, rtol)
	}
}

func checkSlice(t *testing.T, what string, got, want []float64, rtol, atol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s has %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		checkClose(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i], rtol, atol)
	}
}

// TestGoldenFloat64 compares LossFloat64 (value, rewards, metrics, running
// moments) with PyTorch float64.
func TestGoldenFloat64(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			o := c.objective(t)
			st := c.state()
			r, err := o.LossFloat64(g.Batches[c.Batch].f64(), st)
			if err != nil {
				t.Fatal(err)
			}
			const rtol, atol = 1e-12, 1e-13
			checkClose(t, "loss", r.Loss, c.Loss, rtol, atol)
			checkSlice(t, "chosen_rewards", r.ChosenRewards, c.ChosenRewards, rtol, atol)
			checkSlice(t, "rejected_rewards", r.RejectedRewards, c.RejectedRewards, rtol, atol)
			for name, v := range r.Metrics.Map() {
				checkClose(t, name, v, c.Metrics[name], rtol, atol)
			}
			if c.BCOAfter != nil {
				checkClose(t, "running mean", st.Mean, c.BCOAfter.Mean, rtol, atol)
				checkClose(t, "running var", st.Var, c.BCOAfter.Var, rtol, atol)
				checkClose(t, "running count", st.Count, c.BCOAfter.Count, rtol, atol)
			}
		})
	}
}

var (
	backendOnce sync.Once
	backendVal  compute.Backend
	backendErr  error
)

func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	backendOnce.Do(func() {
		backendVal, backendErr = compute.NewWithConfig("go:ops_sequential")
	})
	if backendErr != nil {
		t.Fatalf("creating the pure-Go backend: %v", backendErr)
	}
	return backendVal
}

// graphResult is what runGraph returns, converted to float64.
type graphResult struct {
	loss             float64
	grad             map[string][]float64
	metrics          []float64
	chosen, rejected []float64
	bcoBatchMean     float64
}

func toF64(t *testing.T, x *tensors.Tensor) []float64 {
	t.Helper()
	switch v := x.Value().(type) {
	case float64:
		return []float64{v}
	case float32:
		return []float64{float64(v)}
	case []float64:
		return v
	case []float32:
		out := make([]float64, len(v))
		for i, f := range v {
			out[i] = float64(f)
		}
		return out
	}
	t.Fatalf("unexpected tensor value %T", x.Value())
	return nil
}

// runGraph builds o.Loss plus GoMLX autodiff gradients with respect to the
// four log-prob inputs and executes it on the pure-Go backend.
func runGraph(t *testing.T, o Objective, b goldenBatch, st *RunningMoments, dt dtypes.DType) graphResult {
	t.Helper()
	backend := testBackend(t)
	fn := func(in []*graph.Node) []*graph.Node {
		inputs := Inputs{
			PolicyChosen: in[0], PolicyRejected: in[1], RefChosen: in[2], RefRejected: in[3],
			ChosenLengths: in[4], RejectedLengths: in[5], BCOMean: in[6], BCOCount: in[7],
		}
		out, err := o.Loss(inputs)
		if err != nil {
			panic(err)
		}
		grads := graph.Gradient(out.Loss, in[0], in[1], in[2], in[3])
		res := []*graph.Node{out.Loss}
		res = append(res, grads...)
		res = append(res, out.Metrics...)
		res = append(res, out.ChosenRewards, out.RejectedRewards)
		if out.BCOBatchMean != nil {
			res = append(res, out.BCOBatchMean)
		} else {
			res = append(res, graph.ScalarZero(in[0].Graph(), dt))
		}
		return res
	}
	e, err := graph.NewExec(backend, fn)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	conv := func(x []float64) any {
		if dt == dtypes.Float32 {
			out := make([]float32, len(x))
			for i, v := range x {
				out[i] = float32(v)
			}
			return out
		}
		return x
	}
	i32 := func(x []int) []int32 {
		out := make([]int32, len(x))
		for i, v := range x {
			out[i] = int32(v)
		}
		return out
	}
	mean, count := 0.0, 1e-24
	if st != nil {
		mean, count = st.Mean, st.Count
	}
	outs, err := e.Call(conv(b.PolicyChosen), conv(b.PolicyRejected), conv(b.RefChosen), conv(b.RefRejected),
		i32(b.ChosenLengths), i32(b.RejectedLengths), mean, count)
	if err != nil {
		t.Fatal(err)
	}
	r := graphResult{grad: map[string][]float64{}}
	r.loss = toF64(t, outs[0])[0]
	for i, f := range gradFields {
		r.grad[f] = toF64(t, outs[1+i])
	}
	for i := range MetricNames {
		r.metrics = append(r.metrics, toF64(t, outs[5+i])[0])
	}
	k := 5 + len(MetricNames)
	r.chosen = toF64(t, outs[k])
	r.rejected = toF64(t, outs[k+1])
	r.bcoBatchMean = toF64(t, outs[k+2])[0]
	return r
}

// TestGoldenGraph compares the GoMLX graph (loss, autodiff gradients,
// rewards and metrics) with PyTorch, in float64 and float32.
func TestGoldenGraph(t *testing.T) {
	g := loadGolden(t)
	for _, tc := range []struct {
		dt         dtypes.DType
		rtol, atol float64
	}{
		{dtypes.Float64, 1e-9, 1e-12},
		{dtypes.Float32, 1e-5, 1e-6},
	} {
		for _, c := range g.Cases {
			t.Run(tc.dt.String()+"/"+c.Name, func(t *testing.T) {
				o := c.objective(t)
				st := c.state()
				r := runGraph(t, o, g.Batches[c.Batch], st, tc.dt)
				checkClose(t, "loss", r.loss, c.Loss, tc.rtol, tc.atol)
				for _, f := range gradFields {
					// Gradients: relative to the largest gradient component, so that
					// tiny components (σ(-50)) are judged on the scale of the vector.
					scale := 0.0
					for _, v := range c.Grad[f] {
						scale = math.Max(scale, math.Abs(v))
					}
					checkSlice(t, "d loss/d "+f, r.grad[f], c.Grad[f], tc.rtol, tc.atol+tc.rtol*scale*1e-3)
				}
				for i, name := range MetricNames {
					checkClose(t, name, r.metrics[i], c.Metrics[name], tc.rtol, tc.atol)
				}
				checkSlice(t, "chosen_rewards", r.chosen, c.ChosenRewards, tc.rtol, tc.atol)
				checkSlice(t, "rejected_rewards", r.rejected, c.RejectedRewards, tc.rtol, tc.atol)
				if c.BCOAfter != nil {
					st.Update(r.bcoBatchMean)
					checkClose(t, "running mean after Update(BCOBatchMean)", st.Mean, c.BCOAfter.Mean, tc.rtol, tc.atol)
				}
			})
		}
	}
}

// TestFiniteDifference checks the torch gradients (and so, through
// TestGoldenGraph, GoMLX's) against central differences of LossFloat64.
// bco_pair is left out: its reward shift is a running mean that TRL (and
// this package) treats as a constant, which differencing cannot do.
func TestFiniteDifference(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.Cases {
		o := c.objective(t)
		if o.Has(BCOPair) {
			continue
		}
		if c.Batch == "ties" {
			// On purpose full of non-differentiable points: sort ties for aot,
			// the hinge kink at βz = 1 (β = 0.5, z = 2), where autodiff must
			// give torch's relu'(0) = 0.
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			b := g.Batches[c.Batch]
			loss := func(in InputsF64) float64 {
				r, err := o.LossFloat64(in, nil)
				if err != nil {
					t.Fatal(err)
				}
				return r.Loss
			}
			for _, f := range gradFields {
				scale := 0.0
				for _, v := range c.Grad[f] {
					scale = math.Max(scale, math.Abs(v))
				}
				for i := range c.Grad[f] {
					in := copyInputs(b.f64())
					x := field(&in, f)
					h := 1e-6 * math.Max(1, math.Abs(x[i]))
					x0 := x[i]
					x[i] = x0 + h
					up := loss(in)
					x[i] = x0 - h
					down := loss(in)
					fd := (up - down) / (2 * h)
					want := c.Grad[f][i]
					if !closeTo(fd, want, 1e-5, 1e-7*scale+1e-10+1e-14*math.Abs(up)/h) {
						t.Errorf("d loss/d %s[%d]: finite difference %.10g, torch %.10g", f, i, fd, want)
					}
				}
			}
		})
	}
}

func copyInputs(in InputsF64) InputsF64 {
	c := func(x []float64) []float64 { return append([]float64(nil), x...) }
	return InputsF64{PolicyChosen: c(in.PolicyChosen), PolicyRejected: c(in.PolicyRejected),
		RefChosen: c(in.RefChosen), RefRejected: c(in.RefRejected),
		ChosenLengths: in.ChosenLengths, RejectedLengths: in.RejectedLengths}
}

func field(in *InputsF64, name string) []float64 {
	switch name {
	case "policy_chosen":
		return in.PolicyChosen
	case "policy_rejected":
		return in.PolicyRejected
	case "ref_chosen":
		return in.RefChosen
	case "ref_rejected":
		return in.RefRejected
	}
	panic(name)
}
