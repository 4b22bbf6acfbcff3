package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// poisonSafetensors sets the first value of the first F32 tensor whose
// name contains part to NaN, in place.
func poisonSafetensors(t *testing.T, path, part string) {
	t.Helper()
	b := mustRead(t, path)
	n := binary.LittleEndian.Uint64(b[:8])
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	for name, raw := range hdr {
		var e struct {
			DType   string  `json:"dtype"`
			Offsets []int64 `json:"data_offsets"`
		}
		if !strings.Contains(name, part) || json.Unmarshal(raw, &e) != nil || e.DType != "F32" {
			continue
		}
		off := 8 + int64(n) + e.Offsets[0]
		binary.LittleEndian.PutUint32(b[off:], math.Float32bits(float32(math.NaN())))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s: no F32 tensor named *%s*", path, part)
}

// dpo-sample with NaN weights, or NaN in a LoRA adapter's lora_B, exits 1
// naming the prompt (index and id) instead of writing token-0 completions
// with a NaN logp (arrow) or failing inside the JSON encoder (jsonl), and
// writes no output file.
func TestSampleNaNWeights(t *testing.T) {
	dir := t.TempDir()
	base := randomModel(t, 3)
	ref := writeBytes(t, dir, "pairs.arrow", tokenizeExample(t, 4))
	lora := filepath.Join(dir, "lora")
	if stderr, err := runTrain("--model", base, "--lora-r", "2", "--max-steps", "1", "--batch-size", "4", "--loss", "sft", "-q", "--out", lora, ref); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	poisonSafetensors(t, filepath.Join(lora, "adapter_model.safetensors"), "lora_B")
	for _, c := range []struct {
		name string
		args []string
	}{{"NaN weight", []string{"--model", nanModel(t)}}, {"NaN lora_B", []string{"--model", lora, "--base", base}}} {
		for _, format := range []string{"arrow", "jsonl"} {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				var errb bytes.Buffer
				err := Sample(context.Background(), append(c.args, "--format", format, "--max-new-tokens", "3", "-q", "-o", out),
					strings.NewReader(heldoutPrompts(t, 2)), &bytes.Buffer{}, &errb)
				if err == nil || ExitCode(err) != 1 {
					t.Fatalf("err %v (exit %d), want exit 1\n%s", err, ExitCode(err), errb.String())
				}
				for _, w := range []string{"prompt 0 (id ", "NaN", "logp"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %q", err, w)
					}
				}
				if _, statErr := os.Stat(out); statErr == nil {
					t.Error("output written")
				}
			})
		}
	}
}
