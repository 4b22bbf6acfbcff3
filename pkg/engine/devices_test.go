package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dpo-go/dpo/pkg/safetensors"
	"github.com/gomlx/compute/distributed"
)

// needsDevices skips unless the tests run on an XLA backend with at least
// n devices (make test-xla: OpenXLA's CPU plugin reports 4).
func needsDevices(t *testing.T, n int) *Engine {
	t.Helper()
	if !backendRegistered("xla") || !isXLA(t) {
		t.Skip("needs a -tags xla build and GOMLX_BACKEND=xla:cpu (make test-xla)")
	}
	e := newTestEngine(t, Options{})
	if e.NumDevices() < n {
		t.Skipf("backend %s offers %d devices, the test needs %d", e.BackendName(), e.NumDevices(), n)
	}
	return e
}

// TestDevicesEqualOne: log-probs of the reflogp path (sequence sums over
// the default layouts, and per-token over plain rows) with the graphs
// partitioned over 2 and 4 devices equal one device's.
func TestDevicesEqualOne(t *testing.T) {
	needsDevices(t, 4)
	for name, cfg := range layoutConfigs() {
		t.Run(name, func(t *testing.T) {
			ts := randomTensors(t, cfg, 5, safetensors.F32)
			seqs := pairSeqs(rand.New(rand.NewPCG(9, 1)), 9, cfg.VocabSize)
			score := func(devices int, sw Switches) ([]float64, [][]float32) {
				e := newTestEngine(t, Options{BatchTokens: 128, VocabChunk: 16, Layout: sw, Devices: devices})
				if e.Devices() != devices {
					t.Fatalf("engine runs on %d devices, asked for %d", e.Devices(), devices)
				}
				m, err := e.LoadWeights(cfg, ts)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				sums, err := m.SequenceLogProbs(context.Background(), seqs, nil)
				if err != nil {
					t.Fatal(err)
				}
				toks, err := m.TokenLogProbs(context.Background(), seqs, nil)
				if err != nil {
					t.Fatal(err)
				}
				return sums, toks
			}
			for _, sw := range []Switches{{}, {Plain: true}} {
				wantSum, wantTok := score(1, sw)
				for _, n := range []int{2, 4} {
					gotSum, gotTok := score(n, sw)
					for i := range wantSum {
						if d := relDiff(gotSum[i], wantSum[i]); d > 1e-5 {
							t.Errorf("plain=%v %d devices: sequence %d: %.8g, one device %.8g (rel %.2g)", sw.Plain, n, i, gotSum[i], wantSum[i], d)
						}
						for j := range wantTok[i] {
							a, b := float64(gotTok[i][j]), float64(wantTok[i][j])
							if d := relDiff(a, b); d > 1e-5 && abs(a-b) > 1e-6 {
								t.Errorf("plain=%v %d devices: sequence %d token %d: %v, one device %v", sw.Plain, n, i, j, a, b)
							}
						}
					}
				}
			}
		})
	}
}

// TestDevicesRefused: more than one device on the pure-Go backend, and
// more devices than the backend offers, are refused with the reason.
func TestDevicesRefused(t *testing.T) {
	_, err := New(Options{Backend: DefaultGoBackend, Devices: 2})
	if err == nil || !strings.Contains(err.Error(), "--devices needs an XLA backend") {
		t.Errorf("pure Go with 2 devices: error %v, want one saying it needs an XLA backend", err)
	}
	if _, err := New(Options{Backend: DefaultGoBackend, ShardParams: true}); err == nil || !strings.Contains(err.Error(), "--shard-params splits the weights over several devices") {
		t.Errorf("pure Go, one device, sharded weights: error %v, want the reason", err)
	}
	if e, err := New(Options{Backend: DefaultGoBackend, Devices: -1}); err != nil || e.Devices() != 1 {
		t.Errorf("pure Go with all devices: %v, want one device", err)
	} else {
		e.Close()
	}
	x := needsDevices(t, 1)
	have := x.NumDevices()
	_, err = New(Options{Devices: 2 * have})
	want := []string{"8 devices asked for", "offers 4"}
	if have != 4 {
		want = []string{"devices asked for", "offers"}
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("%d devices on a backend with %d: error %v, want it to contain %q", 2*have, have, err, w)
		}
	}
	all := newTestEngine(t, Options{Devices: -1})
	if all.Devices() != have {
		t.Errorf("all devices: %d, backend offers %d", all.Devices(), have)
	}
}

// TestDevicesTiming (with $DPO_DEVICES_TIMING set, on XLA) times the same
// scoring work, compiled beforehand, on 1, 2 and 4 devices, and logs it.
func TestDevicesTiming(t *testing.T) {
	if os.Getenv("DPO_DEVICES_TIMING") == "" {
		t.Skip("a measurement: set $DPO_DEVICES_TIMING")
	}
	needsDevices(t, 4)
	cfg := tinyLlama()
	cfg.HiddenSize, cfg.IntermediateSize, cfg.NumLayers, cfg.VocabSize = 256, 688, 4, 2000
	cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim, cfg.MaxPositions = 8, 4, 32, 512
	ts := randomTensors(t, cfg, 5, safetensors.F32)
	seqs := randomSeqs(rand.New(rand.NewPCG(3, 4)), 64, cfg.VocabSize, 90, 120)
	for _, sw := range []Switches{{}, {Plain: true}} {
		var first float64
		for _, n := range []int{1, 2, 4} {
			e := newTestEngine(t, Options{BatchTokens: 2048, Layout: sw, Devices: n})
			m, err := e.LoadWeights(cfg, ts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.SequenceLogProbs(context.Background(), seqs, nil); err != nil { // compiles
				t.Fatal(err)
			}
			best := math.Inf(1)
			for range 3 {
				start := time.Now()
				if _, err := m.SequenceLogProbs(context.Background(), seqs, nil); err != nil {
					t.Fatal(err)
				}
				best = math.Min(best, time.Since(start).Seconds())
			}
			if n == 1 {
				first = best
			}
			t.Logf("plain=%v, 64 sequences of 90-120 tokens, hidden 256, 4 layers, vocab 2000: %d devices %.3fs (best of 3; %.2fx one device's time)", sw.Plain, n, best, best/first)
			m.Close()
		}
	}
}

// TestDataMeshSpecs: an input is sharded on its leading axis when that
// divides by the devices, else replicated; a layout's padded rows are
// empty (no segment) and leave the scored positions as they were.
func TestDataMeshSpecs(t *testing.T) {
	mesh, err := distributed.NewDeviceMesh([]int{4}, []string{dataAxis})
	if err != nil {
		t.Fatal(err)
	}
	d := &dataMesh{n: 4, mesh: mesh, replicated: distributed.NewReplicatedShardingSpec(mesh)}
	for _, c := range []struct {
		dims    []int
		sharded bool
	}{{[]int{8, 16}, true}, {[]int{4}, true}, {[]int{6, 16}, false}, {nil, false}, {[]int{2, 4}, false}} {
		if got := !d.spec(c.dims).IsReplicated(); got != c.sharded {
			t.Errorf("input %v: sharded %v, want %v", c.dims, got, c.sharded)
		}
	}
	e := &Engine{data: d}
	l := NewLayout([]Group{{Prompt: []int32{1, 2}, Completions: [][]int32{{3}, {4, 5}}, Out: []int{0, 1}}}, 2, 16, 1, LayoutOptions{SharedPrompt: true})
	p := e.padRows(l)
	if p.Rows != 4 || len(p.Tokens) != 4*16 || len(p.Doc) != 4*16 || len(p.Positions) != 4*16 || len(p.Branch) != 4*16 {
		t.Fatalf("padded to %d rows (%d tokens), want 4", p.Rows, len(p.Tokens))
	}
	for i := l.Rows * l.Len; i < len(p.Doc); i++ {
		if p.Doc[i] != -1 || p.Tokens[i] != 0 {
			t.Fatalf("padding position %d: doc %d, token %d", i, p.Doc[i], p.Tokens[i])
		}
	}
	if p.N != l.N || &p.Pred[0] != &l.Pred[0] || l.Rows != 1 {
		t.Errorf("padding changed the scored positions or the original layout")
	}
}

// TestGenerateDevicesEqualOne: greedy generation over 2 and 4 devices
// gives one device's tokens, logits within 1e-4. The prompts fall in
// buckets of one or two rows, which planGenerate pads to a multiple of the
// devices (so the rows split): the padding rows never reach the callback.
func TestGenerateDevicesEqualOne(t *testing.T) {
	e := needsDevices(t, 2)
	cfg := tinyLlama()
	ts := randomTensors(t, cfg, 41, safetensors.F32)
	prompts := [][]int32{{1, 2, 3}, {4, 5, 6, 7, 8, 9, 10}, {11}, {12, 13}}
	run := func(devices int) ([][]int32, [][]float32) {
		e := newTestEngine(t, Options{VocabChunk: 16, BatchTokens: 64, Devices: devices})
		m, err := e.LoadWeights(cfg, ts)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		toks := make([][]int32, len(prompts))
		logits := make([][]float32, len(prompts))
		if _, err := m.Generate(context.Background(), prompts, 8, func(row int, l []float32) (int32, bool) {
			if row < 0 || row >= len(prompts) {
				t.Fatalf("%d devices: the callback got row %d of %d (a padding row)", devices, row, len(prompts))
			}
			best := 0
			for j, v := range l {
				if v > l[best] {
					best = j
				}
			}
			toks[row] = append(toks[row], int32(best))
			logits[row] = append(logits[row], l...)
			return int32(best), false
		}, nil); err != nil {
			t.Fatal(err)
		}
		return toks, logits
	}
	wantT, wantL := run(1)
	counts := []int{2}
	if e.NumDevices() >= 4 {
		counts = append(counts, 4)
	}
	for _, n := range counts {
		gotT, gotL := run(n)
		for i := range wantT {
			if fmt.Sprint(gotT[i]) != fmt.Sprint(wantT[i]) {
				t.Errorf("prompt %d: %d devices %v, one %v", i, n, gotT[i], wantT[i])
			}
			if len(gotL[i]) != len(wantL[i]) {
				t.Errorf("prompt %d: %d devices gave %d logits, one %d", i, n, len(gotL[i]), len(wantL[i]))
			}
			for j := range wantL[i] {
				if j < len(gotL[i]) && math.Abs(float64(gotL[i][j]-wantL[i][j])) > 1e-4*math.Max(1, math.Abs(float64(wantL[i][j]))) {
					t.Fatalf("prompt %d logit %d: %d devices %v, one %v", i, j, n, gotL[i][j], wantL[i][j])
				}
			}
		}
	}
}

// TestPlanGenerateDevices: over N devices every generation batch's row
// count is a multiple of N (the rows split instead of replicating), each
// row is planned once, and one device keeps the power-of-two sizes.
func TestPlanGenerateDevices(t *testing.T) {
	lens := []int{3, 7, 1, 2, 30, 31, 5}
	for _, c := range []struct{ devices, batchTokens int }{{1, 64}, {2, 64}, {3, 64}, {4, 64}, {4, 1 << 20}, {3, 1}} {
		seen := map[int]int{}
		for _, b := range planGenerate(lens, 64, c.batchTokens, c.devices) {
			if b.size%c.devices != 0 || len(b.rows) > b.size {
				t.Errorf("%d devices, batch tokens %d: a batch of %d rows in %d slots", c.devices, c.batchTokens, len(b.rows), b.size)
			}
			if c.devices == 1 && b.size != floorPow2(b.size) {
				t.Errorf("one device: %d rows, not a power of two", b.size)
			}
			for _, r := range b.rows {
				seen[r]++
			}
		}
		for i := range lens {
			if seen[i] != 1 {
				t.Errorf("%d devices: row %d planned %d times", c.devices, i, seen[i])
			}
		}
	}
}

// TestShardParamsEqualOne: with Options.ShardParams the weights are split
// over 2 and 4 devices (each on its first axis that divides, XLA's
// partitioner gathering them) and the log-probs of the reflogp path equal
// one device's within 1e-5 relative; the bytes a device holds shrink to
// about 1/N of the model's (logged).
func TestShardParamsEqualOne(t *testing.T) {
	needsDevices(t, 4)
	cfg := tinyLlama()
	ts := randomTensors(t, cfg, 5, safetensors.F32)
	seqs := pairSeqs(rand.New(rand.NewPCG(9, 1)), 9, cfg.VocabSize)
	score := func(devices int, shard bool) ([]float64, int64, int64) {
		e := newTestEngine(t, Options{BatchTokens: 128, VocabChunk: 16, Devices: devices, ShardParams: shard})
		m, err := e.LoadWeights(cfg, ts)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		sums, err := m.SequenceLogProbs(context.Background(), seqs, nil)
		if err != nil {
			t.Fatal(err)
		}
		per, total := m.ParamBytes()
		return sums, per, total
	}
	want, per1, total := score(1, false)
	if per1 != total {
		t.Errorf("one device holds %d bytes of %d", per1, total)
	}
	for _, n := range []int{2, 4} {
		got, per, tot := score(n, true)
		for i := range want {
			if d := relDiff(got[i], want[i]); d > 1e-5 {
				t.Errorf("%d devices, sharded weights: sequence %d: %.8g, one device %.8g", n, i, got[i], want[i])
			}
		}
		if tot != total || per > total/int64(n)+total/10 {
			t.Errorf("%d devices: %d bytes per device of %d, want about 1/%d", n, per, tot, n)
		}
		t.Logf("%d devices, sharded weights: %d bytes per device of %d (%.3f)", n, per, tot, float64(per)/float64(tot))
	}
}
