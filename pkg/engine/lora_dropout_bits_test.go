package engine

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// refKeep is the documented mask (LoRADropout, dropoutKeys, dropoutBits)
// in Go: module j (0-based) of state [s0, s1, s2], entry (r, c).
func refKeep(st [3]uint64, j int, r, c uint32, p float64) float32 {
	fmix := func(h uint32) uint32 {
		h ^= h >> 16
		h *= fmixM1
		h ^= h >> 13
		h *= fmixM2
		return h ^ h>>16
	}
	lo := func(w uint64) uint32 { return uint32(w) }
	cnt := lo(st[2] + uint64(j))
	k0 := fmix(lo(st[0]) ^ fmix(cnt))
	k1 := fmix((uint32(st[0]>>32) ^ lo(st[1])) + fmix(cnt^keySalt))
	bits := fmix((fmix(r*rowMul^k0) + (c+1)*colMul) ^ k1)
	if bits >= uint32(p*(1<<32)) {
		return 1
	}
	return 0
}

// TestLoRADropoutMasksPositional: a LoRA dropout keep mask is the
// documented hash of the state and the entry's position (refKeep, exactly,
// on whatever backend runs the test: the masks do not depend on it), so the
// first 6 rows of a mask drawn over 8 rows (2 rows of padding, as when a
// batch's rows are padded to a multiple of the devices) are the mask of the
// 6 rows alone. Over 512×64 entries the keep rate is 1-p within 0.01, a
// second module (the state advanced) draws another mask, and neither rows
// nor columns repeat.
func TestLoRADropoutMasksPositional(t *testing.T) {
	e := newTestEngine(t, Options{})
	const p = 0.3
	st, err := graph.RNGStateFromSeed(7)
	if err != nil {
		t.Fatal(err)
	}
	masks := func(rows, in int) (first, second []float32) {
		t.Helper()
		out, err := graph.ExecOnceN(e.backend, func(state *graph.Node) []*graph.Node {
			d := &LoRADropout{P: p, State: state, Keep: map[string]*graph.Node{}}
			x := graph.Ones(state.Graph(), shapes.Make(dtypes.Float32, rows, in))
			d.drop(x, "a")
			d.drop(x, "b")
			return []*graph.Node{d.Keep["a"], d.Keep["b"]}
		}, st)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
	}
	words := tensors.MustCopyFlatData[uint64](st)
	state := [3]uint64{words[0], words[1], words[2]}
	six, sixB := masks(6, 40)
	for i := range six {
		r, c := uint32(i/40), uint32(i%40)
		if want := refKeep(state, 0, r, c, p); six[i] != want {
			t.Fatalf("module 0 entry (%d, %d): %v, the formula %v", r, c, six[i], want)
		}
		if want := refKeep(state, 1, r, c, p); sixB[i] != want {
			t.Fatalf("module 1 entry (%d, %d): %v, the formula %v", r, c, sixB[i], want)
		}
	}
	eight, _ := masks(8, 40)
	for i := range six {
		if six[i] != eight[i] {
			t.Fatalf("entry %d (row %d): %v over 6 rows, %v over 8", i, i/40, six[i], eight[i])
		}
	}
	const rows, in = 512, 64
	a, b := masks(rows, in)
	kept, same := 0.0, 0
	for i := range a {
		kept += float64(a[i])
		if a[i] == b[i] {
			same++
		}
	}
	if rate := kept / float64(len(a)); math.Abs(rate-(1-p)) > 0.01 {
		t.Errorf("keep rate %.4f, want %.2f", rate, 1-p)
	}
	// Two independent masks agree on p² + (1-p)² = 58% of the entries.
	if frac := float64(same) / float64(len(a)); math.Abs(frac-0.58) > 0.02 {
		t.Errorf("the second module's mask agrees with the first's on %.3f of the entries, want about 0.58", frac)
	}
	row := func(m []float32, r int) string { return string(fmtBits(m[r*in : (r+1)*in])) }
	col := func(m []float32, c int) string {
		v := make([]float32, rows)
		for r := range rows {
			v[r] = m[r*in+c]
		}
		return string(fmtBits(v))
	}
	seenR, seenC := map[string]int{}, map[string]int{}
	for r := range rows {
		if prev, ok := seenR[row(a, r)]; ok {
			t.Fatalf("rows %d and %d have one mask", prev, r)
		}
		seenR[row(a, r)] = r
	}
	for c := range in {
		if prev, ok := seenC[col(a, c)]; ok {
			t.Fatalf("columns %d and %d have one mask", prev, c)
		}
		seenC[col(a, c)] = c
	}
}

func fmtBits(v []float32) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = '0' + byte(x)
	}
	return b
}
