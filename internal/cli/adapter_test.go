package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/dpo-go/dpo/internal/ckpt"
	"github.com/dpo-go/dpo/pkg/adapter"
	"github.com/dpo-go/dpo/pkg/arrowio"
	"github.com/dpo-go/dpo/pkg/model"
	"github.com/dpo-go/dpo/pkg/safetensors"
)

// refColumns reads a reference stream's metadata and ref_chosen_logps.
func refColumns(t *testing.T, path string) (arrowio.Metadata, []float64) {
	t.Helper()
	mem := memory.NewGoAllocator()
	r, err := arrowio.Open(path, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var out []float64
	for r.Next() {
		rec := r.Record()
		col := rec.Column(rec.Schema().FieldIndices(arrowio.ColRefChosenLogps)[0]).(*array.Float64)
		out = append(out, col.Float64Values()...)
	}
	return r.Metadata(), out
}

// TestLoRAPipeline: dpo-train --lora-r (with --lora-modules-to-save norm
// and --lora-dropout) writes a PEFT adapter whose
// base_model_name_or_path is the local base; dpo-reflogp and dpo-score take
// that directory as the model (base found from the adapter, or --base),
// record its hash, and base+adapter scores as dpo-train's merged model;
// dpo-train --adapter refuses a reference made with another adapter.
func TestLoRAPipeline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	base := randomModel(t, 1)
	pairs := filepath.Join(dir, "pairs.arrow")
	if err := os.WriteFile(pairs, tokenizeExample(t, 6), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(tool func(context.Context, []string, io.Reader, io.Writer, io.Writer) error, args ...string) error {
		var errb bytes.Buffer
		err := tool(ctx, args, nil, io.Discard, &errb)
		if err != nil {
			t.Logf("%v: %s", args, errb.String())
		}
		return err
	}
	ref := filepath.Join(dir, "ref.arrow")
	if err := run(Reflogp, "--model", base, "-o", ref, "-q", pairs); err != nil {
		t.Fatal(err)
	}
	lora := filepath.Join(dir, "lora")
	if err := run(Train, "--model", base, "--lora-r", "4", "--lora-alpha", "16", "--lora-target", "all-linear", "--merge-lora",
		"--lora-modules-to-save", "norm", "--lora-dropout", "0.1", "--lr", "1e-2", "--batch-size", "3", "--max-steps", "2", "--save-steps", "1", "--out", lora, "-q", ref); err != nil {
		t.Fatal(err)
	}
	ac, err := adapter.LoadConfig(lora)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ac.ModulesToSave, []string{"norm"}) || ac.Dropout != 0.1 {
		t.Errorf("adapter_config.json modules_to_save %v, lora_dropout %v", ac.ModulesToSave, ac.Dropout)
	}
	if abs, _ := filepath.Abs(base); ac.BaseModel != abs {
		t.Errorf("base_model_name_or_path %q, want %q", ac.BaseModel, abs)
	}
	if dm, ok, err := ckpt.Read(lora); err != nil || !ok || dm.LoRA == nil || dm.LoRA.BaseModel != ac.BaseModel || dm.LoRA.BaseWeightsSHA256 == "" || dm.Beta != 0.1 {
		t.Errorf("dpo.json %+v (%v, %v): want beta 0.1 and the LoRA record", dm, ok, err)
	}

	refA, refB, refM := filepath.Join(dir, "refA.arrow"), filepath.Join(dir, "refB.arrow"), filepath.Join(dir, "refM.arrow")
	if err := run(Reflogp, "--model", lora, "-o", refA, "-q", pairs); err != nil {
		t.Fatal(err)
	}
	if err := run(Reflogp, "--model", lora, "--base", base, "-o", refB, "-q", pairs); err != nil {
		t.Fatal(err)
	}
	if err := run(Reflogp, "--model", filepath.Join(lora, "merged"), "--ignore-tokenizer-mismatch", "-o", refM, "-q", pairs); err != nil {
		t.Fatal(err)
	}
	meta, a := refColumns(t, refA)
	_, b := refColumns(t, refB)
	_, m := refColumns(t, refM)
	_, plain := refColumns(t, ref)
	moved := 0.0
	for i := range a {
		moved = math.Max(moved, math.Abs(a[i]-plain[i]))
		if a[i] != b[i] || math.Abs(a[i]-m[i]) > 1e-5*math.Max(1, math.Abs(m[i])) {
			t.Errorf("row %d: adapter %.8g, with --base %.8g, merged model %.8g", i, a[i], b[i], m[i])
		}
	}
	if moved == 0 {
		t.Errorf("the adapter does not change the reference log-probs")
	}
	var opts reflogpOptions
	if err := meta.StageOptions(arrowio.StageReflogp, &opts); err != nil {
		t.Fatal(err)
	}
	sha, _ := adapter.Hash(lora)
	if opts.AdapterSHA256 != sha || opts.AdapterConfig == nil || opts.AdapterConfig.R != 4 || opts.WeightsSHA256 == "" {
		t.Errorf("reflogp options %+v: want the adapter's hash %s and config", opts, sha)
	}
	var out bytes.Buffer
	if err := Score(ctx, []string{"--policy", lora, "--format", "jsonl", "-q", ref}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(out.String(), "\n", 2)[0]), &row); err != nil {
		t.Fatalf("dpo-score output %q: %v", out.String(), err)
	}

	// --adapter against a reference made with another adapter.
	err = run(Train, "--model", base, "--adapter", filepath.Join(lora, "checkpoint-1"), "--max-steps", "1", "--out", filepath.Join(dir, "again"), "-q", refA)
	if err == nil || !strings.Contains(err.Error(), "is not the adapter the reference log-probs") {
		t.Errorf("--adapter with another adapter's reference: %v", err)
	}
}

// TestAdapterErrors: bad adapters and LoRA flags fail with the file and
// field named (exit 1), flag misuse as a usage error (exit 2).
func TestAdapterErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	base := randomModel(t, 2)
	pairs := filepath.Join(dir, "pairs.arrow")
	if err := os.WriteFile(pairs, tokenizeExample(t, 4), 0o644); err != nil {
		t.Fatal(err)
	}
	writeAdapter := func(name, cfg string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, adapter.ConfigFile), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	good := `{"peft_type":"LORA","task_type":"CAUSAL_LM","r":2,"lora_alpha":4,"target_modules":["q_proj"],"base_model_name_or_path":null}`
	noBase := writeAdapter("nobase", good)
	cases := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no base", []string{"--model", noBase}, false, "base_model_name_or_path is null"},
		{"r zero", []string{"--model", writeAdapter("r0", strings.Replace(good, `"r":2`, `"r":0`, 1)), "--base", base}, false, "field r must be positive"},
		{"alpha zero", []string{"--model", writeAdapter("a0", strings.Replace(good, `"lora_alpha":4`, `"lora_alpha":0`, 1)), "--base", base}, false, "field lora_alpha must be positive"},
		{"unknown target", []string{"--model", writeAdapter("tgt", strings.Replace(good, `"q_proj"`, `"c_attn"`, 1)), "--base", base}, false, `target module "c_attn" matches no linear layer`},
		{"dora", []string{"--model", writeAdapter("dora", strings.Replace(good, `"r":2`, `"r":2,"use_dora":true`, 1)), "--base", base}, false, "field use_dora"},
		{"no weights", []string{"--model", noBase, "--base", base}, false, adapter.WeightsFile},
		{"base on a model", []string{"--model", base, "--base", base}, true, "is not a PEFT adapter directory"},
	}
	// An adapter of the right names but the wrong shape (r in the tensors
	// is not the config's).
	shaped := filepath.Join(dir, "shape")
	mcfg, err := model.LoadConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	a, err := adapter.New(mcfg, adapter.Config{R: 2, Alpha: 4, Targets: []string{"q_proj"}}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if err := adapter.Save(shaped, a, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shaped, adapter.ConfigFile), []byte(strings.Replace(good, `"r":2`, `"r":3`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct {
		name  string
		args  []string
		usage bool
		want  string
	}{"wrong shape", []string{"--model", shaped, "--base", base}, false, "r=3 and the LlamaForCausalLM model imply [3 "})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{}, c.args...), "-o", filepath.Join(dir, "out.arrow"), "-q", pairs)
			err := Reflogp(ctx, args, nil, io.Discard, io.Discard)
			var ue *UsageError
			if err == nil || !strings.Contains(err.Error(), c.want) || errors.As(err, &ue) != c.usage {
				t.Errorf("error %v, want one containing %q (usage error: %v)", err, c.want, c.usage)
			}
		})
	}
	for _, args := range [][]string{
		{"--lora-r", "-1"}, {"--lora-r", "4", "--lora-alpha", "0"}, {"--lora-r", "4", "--lora-dropout", "1"},
		{"--lora-modules-to-save", "lm_head"}, {"--lora-r", "4", "--lora-modules-to-save", "nosuch_module"},
		{"--lora-target", "q_proj"}, {"--lora-r", "4", "--lora-target", "c_attn"},
	} {
		err := Train(ctx, append(args, "--model", base, "--loss", "sft", "--out", filepath.Join(dir, "t"), "-q", pairs), nil, io.Discard, io.Discard)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("dpo-train %v: %v, want a usage error", args, err)
		}
	}
}
