package cli

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/engine"
)

// TestReflogpDevices: dpo-reflogp --devices 2 (XLA) writes the log-probs
// of one device within 1e-5 relative, logs the count and records it in the
// stream metadata; on the pure-Go backend it exits with the reason.
func TestReflogpDevices(t *testing.T) {
	dir := randomModel(t, 1)
	in := tokenizeExample(t, 12)
	var out, errb bytes.Buffer
	err := Reflogp(context.Background(), []string{"--model", dir, "--backend", engine.DefaultGoBackend, "--devices", "2"}, bytes.NewReader(in), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--devices needs an XLA backend") {
		t.Errorf("pure Go --devices 2: error %v, want the XLA backend reason", err)
	}
	kind, err := engine.ResolveBackendKind("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(kind, "xla") {
		t.Skip("the rest needs a -tags xla build and GOMLX_BACKEND=xla:cpu (make test-xla)")
	}
	logps := func(args ...string) ([]float64, int, string) {
		var out, errb bytes.Buffer
		if err := Reflogp(context.Background(), append([]string{"--model", dir, "--batch-tokens", "256"}, args...), bytes.NewReader(in), &out, &errb); err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		r, err := arrowio.NewReader(bytes.NewReader(out.Bytes()), "out", mem)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Release()
		var vals []float64
		for r.Next() {
			rc, _ := arrowio.Float64Column(r.Record(), arrowio.ColRefChosenLogps)
			rr, _ := arrowio.Float64Column(r.Record(), arrowio.ColRefRejectedLogps)
			vals = append(append(vals, rc...), rr...)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		var opts reflogpOptions
		if err := r.Metadata().StageOptions(arrowio.StageReflogp, &opts); err != nil {
			t.Fatal(err)
		}
		return vals, opts.Devices, errb.String()
	}
	one, metaOne, _ := logps()
	two, metaTwo, log := logps("--devices", "2")
	if metaOne != 0 || metaTwo != 2 {
		t.Errorf("stage metadata devices: %d without --devices, %d with --devices 2", metaOne, metaTwo)
	}
	if !strings.Contains(log, "devices: 2 of ") {
		t.Errorf("log does not name the devices:\n%s", log)
	}
	for i := range one {
		if d := math.Abs(one[i] - two[i]); d > 1e-5*math.Abs(one[i]) {
			t.Errorf("value %d: one device %v, two %v", i, one[i], two[i])
		}
	}
}
